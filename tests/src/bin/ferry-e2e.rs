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
use time::format_description::well_known::Rfc3339;

use ferry_tests::api_client::ApiClient;
use ferry_tests::fleet::{differences, push_fleet, FleetSize};
use ferry_tests::registry::TestRegistry;
use ferry_tests::{emulator, LocalStack, LocalStackOptions, ADMIN_PASSWORD};

/// Requests to the emulator, by service and operation.
type Counts = Arc<Mutex<BTreeMap<(String, String), u64>>>;
/// Seconds the emulator took to answer them, by service and operation.
type Latencies = Arc<Mutex<BTreeMap<(String, String), f64>>>;

#[derive(Clone)]
struct Proxy {
    /// moto, for every service but DynamoDB.
    upstream: String,
    /// DynamoDB Local.
    dynamodb: String,
    http: reqwest::Client,
    counts: Counts,
    latencies: Latencies,
}

/// The caller, service and operation of an AWS request, as `<function>:<service>` and the
/// operation: the functions name themselves in the SDK's user agent (`app/ferry-transfer`);
/// the rest is the local plane's. The JSON protocols name service and operation in
/// `X-Amz-Target`; S3 and EventBridge Scheduler are REST (their path tells). Not counted per
/// artifact: the API's requests (the polling of the execution) and the plane's reads of the
/// schedules (a stand-in for EventBridge Scheduler, which fires schedules itself in AWS); the
/// plane's SQS receives and deletes stand for Lambda's pollers, which are billed, and count.
fn operation(headers: &HeaderMap, method: &Method, uri: &Uri) -> (String, String) {
    let (service, op) = service_operation(headers, method, uri);
    let agent = headers
        .get("x-amz-user-agent")
        .or_else(|| headers.get("user-agent"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let caller = agent
        .split_whitespace()
        .find_map(|part| part.strip_prefix("app/ferry-"))
        .unwrap_or("plane");
    (format!("{caller}:{service}"), op)
}

/// The tables a DynamoDB request names, by the last word of their names (`meta`, `tasks`):
/// which BatchGetItem reads what.
fn tables_of(body: &[u8]) -> String {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return String::new();
    };
    let short = |name: &str| name.rsplit('-').next().unwrap_or(name).to_string();
    let mut tables: Vec<String> = match (&request["TableName"], &request["RequestItems"]) {
        (Value::String(name), _) => vec![short(name)],
        (_, Value::Object(items)) => items.keys().map(|name| short(name)).collect(),
        _ => Vec::new(),
    };
    tables.sort();
    tables.join("+")
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
    let mut key = operation(&headers, &method, &uri);
    if key.0.ends_with("dynamodb") && key.1.starts_with("Batch") {
        key.1 = format!("{}({})", key.1, tables_of(&body));
    }
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
        *counts.entry(key.clone()).or_default() += 1;
    }
    let started = Instant::now();
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
            if let Ok(mut latencies) = proxy.latencies.lock() {
                *latencies.entry(key).or_default() += started.elapsed().as_secs_f64();
            }
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
async fn counting_proxy(
    upstream: String,
    dynamodb: String,
    counts: Counts,
    latencies: Latencies,
) -> String {
    let app = axum::Router::new().fallback(forward).with_state(Proxy {
        upstream,
        dynamodb,
        http: reqwest::Client::new(),
        counts,
        latencies,
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

/// Waits (at most 5 s) until no AWS request came for half a second.
async fn settle(counts: &Counts) {
    let mut last = snapshot(counts);
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = snapshot(counts);
        if now == last {
            return;
        }
        last = now;
    }
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

/// Starts an execution of `policy` and polls it every 50 ms until it ends (a coarser poll would add up to its interval to the times).
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
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where an execution's time went, from its tasks' start and end times: how long before the
/// first task started (the listing), how many ran at once on average, how long they took, and
/// how long after the last one the execution was seen ended.
async fn print_timeline(api: &ApiClient, execution: &Value) {
    let id = execution["id"].as_i64().unwrap_or_default();
    let mut tasks: Vec<Value> = Vec::new();
    for page in 1.. {
        let answer = api
            .get(&format!(
                "/replication/executions/{id}/tasks?page={page}&page_size=100"
            ))
            .await
            .json();
        let Some(batch) = answer.as_array().filter(|b| !b.is_empty()) else {
            break;
        };
        tasks.extend(batch.iter().cloned());
    }
    let at = |v: &Value| {
        v.as_str()
            .and_then(|s| time::OffsetDateTime::parse(s, &Rfc3339).ok())
    };
    let (Some(started), Some(ended)) = (at(&execution["start_time"]), at(&execution["end_time"]))
    else {
        return;
    };
    let spans: Vec<(f64, f64, String)> = tasks
        .iter()
        .filter_map(|t| {
            let s = at(&t["start_time"])?;
            let e = at(&t["end_time"])?;
            Some((
                (s - started).as_seconds_f64(),
                (e - started).as_seconds_f64(),
                t["src_resource"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect();
    if spans.is_empty() {
        return;
    }
    let first = spans.iter().map(|s| s.0).fold(f64::MAX, f64::min);
    let last = spans.iter().map(|s| s.1).fold(0.0, f64::max);
    let mut durations: Vec<f64> = spans.iter().map(|s| s.1 - s.0).collect();
    durations.sort_by(f64::total_cmp);
    let busy: f64 = durations.iter().sum();
    let pick = |q: f64| durations[((durations.len() - 1) as f64 * q) as usize];
    let longest = spans
        .iter()
        .max_by(|a, b| (a.1 - a.0).total_cmp(&(b.1 - b.0)))
        .map(|s| format!("{} ({:.1}-{:.1} s)", s.2, s.0, s.1))
        .unwrap_or_default();
    println!(
        "  timeline: first task started at {first:.2} s, last ended at {last:.2} s, execution ended at {:.2} s; \
         {} tasks, {:.1} running on average; task time p50 {:.2} s, p90 {:.2} s, max {:.2} s: {longest}",
        (ended - started).as_seconds_f64(),
        spans.len(),
        busy / (last - first).max(0.001),
        pick(0.5),
        pick(0.9),
        pick(1.0),
    );
}

/// The emulators' mean answer time per operation during the full sync.
fn print_latencies(
    before: &BTreeMap<(String, String), u64>,
    after: &BTreeMap<(String, String), u64>,
    latencies_before: &BTreeMap<(String, String), f64>,
    latencies_after: &BTreeMap<(String, String), f64>,
) {
    let mut lines: Vec<String> = Vec::new();
    for (key, total) in latencies_after {
        let n = after.get(key).copied().unwrap_or(0) - before.get(key).copied().unwrap_or(0);
        if n > 0 {
            let spent = total - latencies_before.get(key).copied().unwrap_or(0.0);
            lines.push(format!(
                "{}:{} {n} x {:.1} ms",
                key.0,
                key.1,
                spent * 1000.0 / n as f64
            ));
        }
    }
    println!("  AWS answer times: {}", lines.join(", "));
}

/// CPU seconds used so far by each running process, by pid, with its command name: on a
/// shared 2-core machine the emulators and registries compete with Ferry's functions.
fn cpu_seconds_by_process() -> BTreeMap<u32, (String, f64)> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    // Clock ticks per second.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ...": the command may hold spaces, the fields after it do not.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        // Kernel workers rename themselves after their current queue: one name for all.
        let command = match &stat[open + 1..close] {
            c if c.starts_with("kworker") => "kernel workers".to_string(),
            c => c.to_string(),
        };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let used = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime: fields 14 and 15 of the line, 12th and 13th after the command.
        out.insert(pid, (command, (used(11) + used(12)) / ticks));
    }
    out
}

/// CPU seconds of this process's reaped children (the skopeo runs).
fn children_cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// What each command used between two snapshots, largest first; returns the total.
fn print_cpu(
    before: &BTreeMap<u32, (String, f64)>,
    after: &BTreeMap<u32, (String, f64)>,
    wall: Duration,
    exited: Option<(&str, f64)>,
) -> f64 {
    let mut by_command: BTreeMap<String, f64> = BTreeMap::new();
    for (pid, (command, seconds)) in after {
        let earlier = before.get(pid).map_or(0.0, |(_, s)| *s);
        *by_command.entry(command.clone()).or_default() += seconds - earlier;
    }
    if let Some((command, seconds)) = exited {
        *by_command.entry(command.to_string()).or_default() += seconds;
    }
    let mut used: Vec<(String, f64)> = by_command.into_iter().filter(|(_, s)| *s >= 0.05).collect();
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = used.iter().map(|u| u.1).sum();
    let lines: Vec<String> = used.iter().map(|(c, s)| format!("{c} {s:.1}")).collect();
    println!(
        "  CPU seconds: {total:.1} in {:.1} s ({:.0}% of {} cores): {}",
        wall.as_secs_f64(),
        total / wall.as_secs_f64() / cores() as f64 * 100.0,
        cores(),
        lines.join(", ")
    );
    total
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU seconds of Ferry's own function processes between two snapshots.
fn ferry_cpu(before: &BTreeMap<u32, (String, f64)>, after: &BTreeMap<u32, (String, f64)>) -> f64 {
    after
        .iter()
        .filter(|(_, (command, _))| command.starts_with("ferry-") && command != "ferry-e2e")
        .map(|(pid, (_, s))| s - before.get(pid).map_or(0.0, |(_, b)| *b))
        .sum()
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
    let latencies = Latencies::default();
    let emulator = counting_proxy(
        emulator::start_moto(),
        emulator::start_dynamodb_local(),
        counts.clone(),
        latencies.clone(),
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

    let transfer_instances = env_or("FERRY_E2E_TRANSFER_INSTANCES", 2);
    println!("local plane: {transfer_instances} transfer instances");
    let stack = LocalStack::start(
        "e2e",
        LocalStackOptions {
            transfer_instances,
            ..LocalStackOptions::default()
        },
    )
    .await;
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

    // DynamoDB Local is a JVM: its first thousand requests run before the JIT has compiled
    // it, several times slower than later ones, while DynamoDB itself is always warm. So the
    // same replication runs first into a throwaway destination (its time printed, not
    // compared), unless FERRY_E2E_WARMUP=0.
    let _throwaway = if env_or("FERRY_E2E_WARMUP", 1) > 0 {
        let throwaway = TestRegistry::start();
        let dst = api
            .post("/registries", &registry("warm-up", throwaway.url()))
            .await
            .created_id();
        let warmup = api
            .post(
                "/replication/policies",
                &json!({"name": "warm-up", "src_registry": {"id": src},
                        "dest_registry": {"id": dst},
                        "filters": [{"type": "name", "value": "fleet/**"}], "enabled": true}),
            )
            .await
            .created_id();
        let (warm, warm_time) = execute(&api, warmup).await;
        println!(
            "warm-up into a throwaway destination (emulators cold): {:.1} s ({})",
            warm_time.as_secs_f64(),
            warm["status"]
        );
        Some(throwaway)
    } else {
        None
    };

    let latencies_before = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    let before = snapshot(&counts);
    let cpu_before = cpu_seconds_by_process();
    let (full, full_time) = execute(&api, policy).await;
    let cpu_after = cpu_seconds_by_process();
    // What the full sync still does once it is seen ended (the finishing delivery's sweep of
    // old executions, the last message deletions) is its own, not the no-op's.
    settle(&counts).await;
    let after_full = snapshot(&counts);
    let full_latencies = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    let (noop, noop_time) = execute(&api, policy).await;
    settle(&counts).await;
    let after_noop = snapshot(&counts);
    println!("full sync {:.1} s", full_time.as_secs_f64());
    print_timeline(&api, &full).await;
    print_latencies(&before, &after_full, &latencies_before, &full_latencies);
    print_cpu(&cpu_before, &cpu_after, full_time, None);
    let ferry_cpu_seconds = ferry_cpu(&cpu_before, &cpu_after);
    println!("no-op re-sync {:.1} s", noop_time.as_secs_f64());
    print_timeline(&api, &noop).await;
    let rss = peak_rss_mib("ferry-transfer");
    stack.stop().await;

    let cpu_before_skopeo = cpu_seconds_by_process();
    let children_before = children_cpu_seconds();
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
    println!("skopeo sync {:.1} s", skopeo_time.as_secs_f64());
    let skopeo_cpu_seconds = children_cpu_seconds() - children_before;
    print_cpu(
        &cpu_before_skopeo,
        &cpu_seconds_by_process(),
        skopeo_time,
        Some(("skopeo", skopeo_cpu_seconds)),
    );

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
    // The workers' requests: the API's (polling the execution) and the plane's schedule
    // reads are shown, not counted.
    let per = |r: &BTreeMap<String, (u64, BTreeMap<String, u64>)>| {
        r.iter()
            .filter(|(service, _)| !service.starts_with("api:") && *service != "plane:scheduler")
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
    println!(
        "CPU of the copying processes in the full sync: Ferry's functions {ferry_cpu_seconds:.1} s, \
         skopeo {skopeo_cpu_seconds:.1} s ({:.2})",
        ferry_cpu_seconds / skopeo_cpu_seconds.max(0.001)
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
