//! The AWS emulators for the tests, one set per test process: DynamoDB Local (Amazon's own
//! engine, so conditions, transactions and their conflicts behave as in DynamoDB) for DynamoDB,
//! and moto server for the rest (SQS, S3, KMS, Scheduler, Secrets Manager). Both from what
//! `scripts/install-deps.sh` installed; `FERRY_TEST_AWS_ENDPOINT` and
//! `FERRY_TEST_DYNAMODB_ENDPOINT` name running ones instead.

use std::net::TcpStream;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

static ENDPOINT: OnceLock<String> = OnceLock::new();
static DYNAMODB_ENDPOINT: OnceLock<String> = OnceLock::new();

/// moto's endpoint, starting one on first use unless `FERRY_TEST_AWS_ENDPOINT` names one.
pub fn endpoint() -> String {
    ENDPOINT
        .get_or_init(|| match std::env::var("FERRY_TEST_AWS_ENDPOINT") {
            Ok(url) if !url.is_empty() => url,
            _ => start_moto(),
        })
        .clone()
}

/// DynamoDB Local's endpoint, starting one on first use unless `FERRY_TEST_DYNAMODB_ENDPOINT`
/// names one.
pub fn dynamodb_endpoint() -> String {
    DYNAMODB_ENDPOINT
        .get_or_init(|| match std::env::var("FERRY_TEST_DYNAMODB_ENDPOINT") {
            Ok(url) if !url.is_empty() => url,
            _ => start_dynamodb_local(),
        })
        .clone()
}

/// Routes DynamoDB clients built from an `SdkConfig` to DynamoDB Local, as the variable
/// `AWS_ENDPOINT_URL_DYNAMODB` does for the function processes.
#[derive(Debug)]
pub struct DynamoDbEndpoint(pub String);

impl LoadServiceConfig for DynamoDbEndpoint {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        (key.service_id() == "DynamoDB" && key.env() == "AWS_ENDPOINT_URL").then(|| self.0.clone())
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts a moto server of its own (dying with this process); its endpoint.
pub fn start_moto() -> String {
    let root = super::workspace_root();
    let python = root.join(".venv/bin/python");
    let port = free_port();
    let mut command = std::process::Command::new(&python);
    command.arg(root.join("scripts/moto_server.py")).args([
        "-H",
        "127.0.0.1",
        "-p",
        &port.to_string(),
    ]);
    serve("moto server", &python, command, port)
}

/// Starts a DynamoDB Local of its own (dying with this process); its endpoint.
pub fn start_dynamodb_local() -> String {
    let script = super::workspace_root().join("scripts/dynamodb-local.sh");
    let port = free_port();
    let mut command = std::process::Command::new(&script);
    command.arg(port.to_string());
    serve("DynamoDB Local", &script, command, port)
}

/// Spawns `command` and waits until it listens on `port`.
fn serve(
    what: &'static str,
    program: &Path,
    mut command: std::process::Command,
    port: u16,
) -> String {
    assert!(
        program.exists(),
        "{} is missing: run `make test` (or scripts/install-deps.sh) to install the emulators",
        program.display()
    );
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    set_parent_death_signal(&mut command);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    // The child is spawned from a thread that lives as long as the process, with
    // PR_SET_PDEATHSIG, so it dies with this test process even when nothing drops it.
    std::thread::spawn(move || {
        let child = command.spawn();
        let started = child.is_ok();
        let _ = ready_tx.send(child.map(|_| ()).map_err(|e| e.to_string()));
        if started {
            loop {
                std::thread::park();
            }
        }
    });
    if let Ok(Err(e)) = ready_rx.recv() {
        panic!("{what} did not start: {e}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("http://127.0.0.1:{port}")
}

pub(crate) fn set_parent_death_signal(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child being set up.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}
