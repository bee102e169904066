//! `make bench`: Ferry's copy engine against the tools it must beat, on this machine, in one
//! run, and the figures printed. Registries are CNCF distribution on loopback.
//!
//! 1. Throughput: a 1 GiB blob between two registries, against curl piping the same blob from
//!    one to the other.
//! 2. Memory: the peak RSS of this process during that copy.
//! 3. Many small artifacts: 200 images of 5 layers (3 shared base layers) against
//!    `skopeo copy` of the same set.

use std::process::Command;
use std::time::{Duration, Instant};

use ferry::adapters::registry::distribution::HttpRegistryClient;
use ferry::adapters::registry::Registries;
use ferry::copy::{copy_artifact, BlobSlots, CachedLocations, CopyJob, CopyOutcome, RegistryPool};
use ferry::model::{CopyOptions, Registry, RegistryType};
use ferry::oci::{Reference, Repository};
use ferry::ports::registry::BlobLocations;
use ferry_tests::images::{digest_of, layer};
use ferry_tests::registry::TestRegistry;
use futures::StreamExt;

fn client(url: &str) -> HttpRegistryClient {
    HttpRegistryClient::new(
        &Registry {
            name: "bench".into(),
            kind: Some(RegistryType::DockerRegistry),
            url: url.into(),
            ..Registry::default()
        },
        ferry::model::addresses::AddressPolicy::allowing_private(true),
    )
    .expect("client")
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds this process used so far (user and system), from /proc.
fn self_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1024.0 / 1024.0 / elapsed.as_secs_f64()
}

/// What the transfer function keeps across the artifacts of a warm container.
struct Shared {
    slots: BlobSlots,
    locations: CachedLocations,
}

async fn copy(
    src: &HttpRegistryClient,
    dst: &HttpRegistryClient,
    repository: &str,
    tag: &str,
    shared: Option<&Shared>,
) {
    let name = Repository::parse(repository).expect("repository");
    let reference = Reference::parse(tag).expect("tag");
    let job = CopyJob {
        src,
        src_repository: &name,
        src_reference: &reference,
        dst,
        dst_repository: &name,
        dst_reference: &reference,
        options: CopyOptions::default(),
        stop: None,
        locations: shared.map(|s| &s.locations as &dyn BlobLocations),
        dst_registry_id: 2,
        same_registry: false,
        deadline: None,
        resume: None,
        platforms: &[],
        slots: shared.map(|s| &s.slots),
    };
    let mut log = Vec::new();
    match copy_artifact(&job, &mut log).await {
        Ok(CopyOutcome::Copied { .. }) | Ok(CopyOutcome::Skipped { .. }) => {}
        Err(e) => panic!("{repository}:{tag}: {e}"),
    }
}

/// Pushes a blob of `size` pseudo-random bytes without holding it in memory: chunked upload.
fn push_big_blob(url: &str, repository: &str, size: usize) -> String {
    let file = std::env::temp_dir().join("ferry-bench-blob");
    let mut data = Vec::with_capacity(64 * 1024 * 1024);
    let mut written = 0;
    let mut out = std::fs::File::create(&file).expect("temp file");
    let mut seed = 1;
    while written < size {
        data.clear();
        data.extend(layer(seed, (64 * 1024 * 1024).min(size - written)));
        std::io::Write::write_all(&mut out, &data).expect("write");
        written += data.len();
        seed += 1;
    }
    drop(out);
    let digest = format!("sha256:{}", sha256_file(&file));
    let status = Command::new("curl")
        .args(["-sf", "-X", "POST", "-D", "-", "-o", "/dev/null"])
        .arg(format!("{url}/v2/{repository}/blobs/uploads/"))
        .output()
        .expect("curl");
    let headers = String::from_utf8_lossy(&status.stdout);
    let location = headers
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or_else(|| l.strip_prefix("location: "))
        })
        .expect("location")
        .trim()
        .to_string();
    let location = if location.starts_with("http") {
        location
    } else {
        format!("{url}{location}")
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let put = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
            "-T",
        ])
        .arg(&file)
        .arg(format!("{location}{separator}digest={digest}"))
        .status()
        .expect("curl");
    assert!(put.success(), "upload of the big blob");
    let _ = std::fs::remove_file(&file);
    digest
}

fn sha256_file(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// `ferry-bench copy SRC DST REPOSITORY TAG`: one copy in a process of its own, so that its
/// peak RSS is the copy's alone; prints it.
async fn copy_in_this_process(args: &[String]) {
    let [src, dst, repository, tag] = args else {
        panic!("copy SRC DST REPOSITORY TAG");
    };
    copy(&client(src), &client(dst), repository, tag, None).await;
    println!("{:.1}", peak_rss_mib());
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("copy") {
        return copy_in_this_process(&args[1..]).await;
    }
    let size = std::env::var("FERRY_BENCH_BLOB_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024usize)
        * 1024
        * 1024;
    let artifacts: usize = std::env::var("FERRY_BENCH_ARTIFACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let concurrency: usize = std::env::var("FERRY_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let source = TestRegistry::start();
    let ferry_dst = TestRegistry::start();
    let curl_dst = TestRegistry::start();
    let skopeo_dst = TestRegistry::start();

    // 1 and 2: one big blob.
    let digest = push_big_blob(&source.url(), "big", size);
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let http = source.http();
    let config_digest = http.push_blob("big", config).await;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size}],
    }))
    .expect("json");
    http.push_manifest(
        "big",
        "v1",
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    )
    .await;

    let started = Instant::now();
    let pipe = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "loc=$(curl -sf -X POST -D - -o /dev/null {dst}/v2/big/blobs/uploads/ | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p'); \
             case $loc in http*) ;; *) loc={dst}$loc;; esac; \
             curl -sf {src}/v2/big/blobs/{digest} | curl -sf -X PUT -H 'Content-Type: application/octet-stream' -T - \"$loc&digest={digest}\"",
            src = source.url(),
            dst = curl_dst.url(),
        ))
        .status()
        .expect("bash");
    let curl_time = started.elapsed();
    assert!(pipe.success(), "curl pipe");

    let started = Instant::now();
    let child = Command::new(std::env::current_exe().expect("exe"))
        .args(["copy", &source.url(), &ferry_dst.url(), "big", "v1"])
        .output()
        .expect("copy process");
    let ferry_time = started.elapsed();
    assert!(
        child.status.success(),
        "{}",
        String::from_utf8_lossy(&child.stderr)
    );
    let rss_peak: f64 = String::from_utf8_lossy(&child.stdout)
        .trim()
        .parse()
        .unwrap_or_default();
    assert_eq!(
        ferry_dst.http().manifest_digest("big", "v1").await,
        Some(digest_of(&manifest))
    );

    println!("throughput, {} MiB blob:", size / 1024 / 1024);
    println!(
        "  curl pipe  {:>8.1} MiB/s  ({:.2?})",
        mib_per_s(size as u64, curl_time),
        curl_time
    );
    println!(
        "  ferry      {:>8.1} MiB/s  ({:.2?})  ratio {:.2} (goal >= 0.8)",
        mib_per_s(size as u64, ferry_time),
        ferry_time,
        curl_time.as_secs_f64() / ferry_time.as_secs_f64()
    );
    println!("memory: peak RSS of the copying process {rss_peak:.1} MiB (goal <= 64 MiB)");

    // 3: many small artifacts with shared base layers.
    let base: Vec<Vec<u8>> = (0..3).map(|i| layer(1000 + i, 256 * 1024)).collect();
    for i in 0..artifacts {
        let mut layers = base.clone();
        layers.push(layer(2000 + i as u64, 16 * 1024));
        layers.push(layer(5000 + i as u64, 4 * 1024));
        http.push_image(&format!("app{i:03}"), "v1", &layers).await;
    }
    let started = Instant::now();
    for i in 0..artifacts {
        let status = Command::new("skopeo")
            .args([
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
            ])
            .arg(format!("docker://127.0.0.1:{}/app{i:03}:v1", source.port))
            .arg(format!(
                "docker://127.0.0.1:{}/app{i:03}:v1",
                skopeo_dst.port
            ))
            .status()
            .expect("skopeo");
        assert!(status.success(), "skopeo copy {i}");
    }
    let skopeo_time = started.elapsed();
    let (src, dst) = (client(&source.url()), client(&ferry_dst.url()));
    // As in the transfer function: per-registry blob slots and remembered blob locations.
    let pool = RegistryPool::new(
        std::sync::Arc::new(Registries::new(
            6,
            ferry::model::addresses::AddressPolicy::allowing_private(true),
            None,
        )),
        8,
    );
    let shared = Shared {
        slots: pool.blob_slots(
            &Registry {
                id: 1,
                ..Registry::default()
            },
            &Registry {
                id: 2,
                ..Registry::default()
            },
        ),
        locations: CachedLocations::new(None),
    };
    let cpu_before = self_cpu();
    let started = Instant::now();
    futures::stream::iter(0..artifacts)
        .map(|i| {
            let (src, dst, shared) = (&src, &dst, &shared);
            async move { copy(src, dst, &format!("app{i:03}"), "v1", Some(shared)).await }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    let ferry_many = started.elapsed();
    let ferry_cpu = self_cpu() - cpu_before;
    println!("{artifacts} artifacts of 5 layers (3 shared):");
    println!("  skopeo copy (one by one)  {skopeo_time:.2?}");
    println!(
        "  ferry ({concurrency} at once)         {ferry_many:.2?}  ratio {:.2} (goal <= 0.5), {ferry_cpu:.2} s of CPU",
        ferry_many.as_secs_f64() / skopeo_time.as_secs_f64()
    );
}
