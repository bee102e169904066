//! `make bench-e2e`: a whole replication as a user runs it, side by side with skopeo on the
//! same data, in one run. The fleet of issue 12 (40 repositories x 3 tags on three shared base
//! layers, and one image with a 256 MiB layer: 121 artifacts) goes through the local system
//! (API -> lister -> SQS -> transfer -> task counters, the function binaries of this build's
//! profile); then again with nothing changed; then `skopeo sync --all --preserve-digests` per
//! repository into a third registry. Printed: both wall times and their ratios, the AWS
//! requests per artifact by service (a counting proxy in front of the emulators), the transfer
//! processes' peak RSS; every digest is checked at both destinations. Sizes from
//! `FERRY_FLEET_REPOSITORIES`, `FERRY_FLEET_TAGS`, `FERRY_FLEET_BIG_MIB`.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{json, Value};

use ferry_tests::api_client::ApiClient;
use ferry_tests::fleet::{differences, push_fleet, FleetSize};
use ferry_tests::registry::TestRegistry;
use ferry_tests::{emulator, LocalStack, LocalStackOptions, ADMIN_PASSWORD};

/// Requests to the emulator, by service and operation.
type Counts = Arc<Mutex<BTreeMap<(String, String), u64>>>;

#[derive(Clone)]
struct Proxy {
    /// moto, for every service but DynamoDB.
    upstream: String,
    /// DynamoDB Local.
    dynamodb: String,
    http: reqwest::Client,
    counts: Counts,
}

/// The service and operation of an AWS request: the JSON protocols name both in
/// `X-Amz-Target`; S3 and EventBridge Scheduler are REST (their path tells). The API
/// function's requests (the polling of the execution) are counted apart, as `api:<service>`.
fn operation(headers: &HeaderMap, method: &Method, uri: &Uri) -> (String, String) {
    let (service, op) = service_operation(headers, method, uri);
    let agent = headers
        .get("x-amz-user-agent")
        .or_else(|| headers.get("user-agent"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if agent.contains("app/ferry-api") {
        (format!("api:{service}"), op)
    } else {
        (service, op)
    }
}

fn service_operation(headers: &HeaderMap, method: &Method, uri: &Uri) -> (String, String) {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (prefix, op) = target.split_once('.').unwrap_or((target, ""));
        let service = match prefix {
            p if p.starts_with("DynamoDB") => "dynamodb",
            "AmazonSQS" => "sqs",
            "TrentService" => "kms",
            "secretsmanager" => "secretsmanager",
            other => other,
        };
        return (service.to_string(), op.to_string());
    }
    let path = uri.path();
    if path.starts_with("/schedules") || path.starts_with("/schedule-groups") {
        ("scheduler".into(), method.to_string())
    } else {
        ("s3".into(), method.to_string())
    }
}

async fn forward(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    let key = operation(&headers, &method, &uri);
    let upstream = if key.0.ends_with("dynamodb") {
        &proxy.dynamodb
    } else {
        &proxy.upstream
    };
    let url = format!(
        "{}{}",
        upstream,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    if let Ok(mut counts) = proxy.counts.lock() {
        *counts.entry(key).or_default() += 1;
    }
    let mut request = proxy.http.request(method, url).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            let mut out = HeaderMap::new();
            for (name, value) in response.headers() {
                if name != "transfer-encoding" && name != "content-length" {
                    out.insert(name, value.clone());
                }
            }
            let body = response.bytes().await.unwrap_or_default();
            (status, out, body)
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            HeaderMap::new(),
            Bytes::from(e.to_string()),
        ),
    }
}

/// Starts the counting proxy in front of `upstream` and `dynamodb`; its endpoint.
async fn counting_proxy(upstream: String, dynamodb: String, counts: Counts) -> String {
    let app = axum::Router::new().fallback(forward).with_state(Proxy {
        upstream,
        dynamodb,
        http: reqwest::Client::new(),
        counts,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://127.0.0.1:{port}")
}

fn snapshot(counts: &Counts) -> BTreeMap<(String, String), u64> {
    counts.lock().map(|c| c.clone()).unwrap_or_default()
}

/// Requests by service between two snapshots.
fn by_service(
    before: &BTreeMap<(String, String), u64>,
    after: &BTreeMap<(String, String), u64>,
) -> BTreeMap<String, (u64, BTreeMap<String, u64>)> {
    let mut out: BTreeMap<String, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    for ((service, op), count) in after {
        let delta = count
            - before
                .get(&(service.clone(), op.clone()))
                .copied()
                .unwrap_or(0);
        if delta > 0 {
            let entry = out.entry(service.clone()).or_default();
            entry.0 += delta;
            entry.1.insert(op.clone(), delta);
        }
    }
    out
}

/// Starts an execution of `policy` and polls it every 200 ms until it ends.
async fn execute(api: &ApiClient, policy: i64) -> (Value, Duration) {
    let started = Instant::now();
    let id = api
        .post("/replication/executions", &json!({"policy_id": policy}))
        .await
        .created_id();
    loop {
        let execution = api
            .get(&format!("/replication/executions/{id}"))
            .await
            .json();
        if execution["status"] != "InProgress" {
            return (execution, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The peak RSS (VmHWM, MiB) of each running process named `name`.
fn peak_rss_mib(name: &str) -> Vec<f64> {
    let mut peaks = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return peaks;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        if let Some(kib) = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
        {
            peaks.push(kib / 1024.0);
        }
    }
    peaks
}

fn print_requests(
    label: &str,
    requests: &BTreeMap<String, (u64, BTreeMap<String, u64>)>,
    per: usize,
) {
    let total: u64 = requests.values().map(|(n, _)| n).sum();
    println!(
        "{label}: {total} AWS requests, {:.2} per artifact",
        total as f64 / per.max(1) as f64
    );
    for (service, (count, ops)) in requests {
        let ops: Vec<String> = ops.iter().map(|(op, n)| format!("{op} {n}")).collect();
        println!(
            "  {service:<15} {count:>6} ({:.2}/artifact): {}",
            *count as f64 / per.max(1) as f64,
            ops.join(", ")
        );
    }
}

#[tokio::main]
async fn main() {
    let size = FleetSize {
        repositories: env_or("FERRY_FLEET_REPOSITORIES", 40),
        tags: env_or("FERRY_FLEET_TAGS", 3),
        big_mib: env_or("FERRY_FLEET_BIG_MIB", 256),
        runs: 1,
    };
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "ferry-e2e: {} repositories x {} tags + a {} MiB image, {profile} binaries, {} cores",
        size.repositories,
        size.tags,
        size.big_mib,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let counts = Counts::default();
    let emulator = counting_proxy(
        emulator::start_moto(),
        emulator::start_dynamodb_local(),
        counts.clone(),
    )
    .await;
    // The stack's clients and function processes talk to the emulators through the proxy.
    std::env::set_var("FERRY_TEST_AWS_ENDPOINT", &emulator);
    std::env::set_var("FERRY_TEST_DYNAMODB_ENDPOINT", &emulator);

    let source = TestRegistry::start();
    let ferry_destination = TestRegistry::start();
    let skopeo_destination = TestRegistry::start();
    let fleet = push_fleet(&source.http(), size).await;
    println!("fleet: {} artifacts pushed", fleet.len());

    let stack = LocalStack::start("e2e", LocalStackOptions::default()).await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let registry =
        |name: &str, url: String| json!({"name": name, "type": "docker-registry", "url": url});
    let src = api
        .post("/registries", &registry("src", source.url()))
        .await
        .created_id();
    let dst = api
        .post("/registries", &registry("dst", ferry_destination.url()))
        .await
        .created_id();
    let policy = api
        .post(
            "/replication/policies",
            &json!({"name": "fleet", "src_registry": {"id": src}, "dest_registry": {"id": dst},
                    "filters": [{"type": "name", "value": "fleet/**"}], "enabled": true}),
        )
        .await
        .created_id();

    let before = snapshot(&counts);
    let (full, full_time) = execute(&api, policy).await;
    let after_full = snapshot(&counts);
    let (noop, noop_time) = execute(&api, policy).await;
    let after_noop = snapshot(&counts);
    let rss = peak_rss_mib("ferry-transfer");
    stack.stop().await;

    let started = Instant::now();
    let mut repositories: Vec<&str> = fleet.iter().map(|i| i.repository.as_str()).collect();
    repositories.dedup();
    for repository in &repositories {
        let namespace = repository.rsplit_once('/').map_or("", |(parent, _)| parent);
        let status = Command::new("skopeo")
            .args([
                "sync",
                "--all",
                "--preserve-digests",
                "--src",
                "docker",
                "--dest",
                "docker",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
            ])
            .arg(format!("127.0.0.1:{}/{repository}", source.port))
            .arg(format!("127.0.0.1:{}/{namespace}", skopeo_destination.port))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("skopeo");
        assert!(status.success(), "skopeo sync {repository}");
    }
    let skopeo_time = started.elapsed();

    let ferry_wrong = differences(&ferry_destination.http(), &fleet).await;
    let skopeo_wrong = differences(&skopeo_destination.http(), &fleet).await;
    let artifacts = fleet.len();
    println!();
    println!("| | Ferry | skopeo sync | ratio | goal |");
    println!("|---|---|---|---|---|");
    let full_ratio = full_time.as_secs_f64() / skopeo_time.as_secs_f64();
    let noop_ratio = noop_time.as_secs_f64() / skopeo_time.as_secs_f64();
    println!(
        "| full sync, {artifacts} artifacts | {:.1} s ({}) | {:.1} s | {full_ratio:.2} | <= 0.5 {} |",
        full_time.as_secs_f64(),
        full["status"],
        skopeo_time.as_secs_f64(),
        met(full_ratio <= 0.5)
    );
    println!(
        "| no-op re-sync | {:.1} s ({}) | | {noop_ratio:.2} of skopeo's full sync | <= 0.1 {} |",
        noop_time.as_secs_f64(),
        noop["status"],
        met(noop_ratio <= 0.1)
    );
    println!();
    let full_requests = by_service(&before, &after_full);
    let noop_requests = by_service(&after_full, &after_noop);
    print_requests("full sync", &full_requests, artifacts);
    print_requests("no-op re-sync", &noop_requests, artifacts);
    // The workers' requests: the API's (polling the execution) are shown, not counted.
    let per = |r: &BTreeMap<String, (u64, BTreeMap<String, u64>)>| {
        r.iter()
            .filter(|(service, _)| !service.starts_with("api:"))
            .map(|(_, (n, _))| *n)
            .sum::<u64>() as f64
            / artifacts.max(1) as f64
    };
    println!(
        "requests per copied artifact {:.2} (goal <= 4 {}), per unchanged artifact {:.2} (goal <= 0.2 {})",
        per(&full_requests),
        met(per(&full_requests) <= 4.0),
        per(&noop_requests),
        met(per(&noop_requests) <= 0.2)
    );
    println!("peak RSS of the transfer processes: {rss:.1?} MiB");
    println!(
        "digests: Ferry {} wrong, skopeo {} wrong",
        ferry_wrong.len(),
        skopeo_wrong.len()
    );
    assert!(ferry_wrong.is_empty(), "{ferry_wrong:#?}");
    assert!(skopeo_wrong.is_empty(), "{skopeo_wrong:#?}");
    assert_eq!(full["status"], "Succeed", "{full}");
    assert_eq!(noop["status"], "Succeed", "{noop}");
}

fn met(yes: bool) -> &'static str {
    if yes {
        "met"
    } else {
        "NOT met"
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
