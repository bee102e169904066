//! The AWS emulator for the tests: moto server from the project's venv, one per test process.

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static ENDPOINT: OnceLock<String> = OnceLock::new();

/// The emulator's endpoint, starting one on first use unless `FERRY_TEST_AWS_ENDPOINT` names one.
pub fn endpoint() -> String {
    ENDPOINT
        .get_or_init(|| match std::env::var("FERRY_TEST_AWS_ENDPOINT") {
            Ok(url) if !url.is_empty() => url,
            _ => start(),
        })
        .clone()
}

/// The venv's python and scripts/moto_server.py (moto with DynamoDB's write isolation).
fn moto_server() -> (PathBuf, PathBuf) {
    let root = super::workspace_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make test` (or scripts/install-deps.sh) to install the emulator",
        python.display()
    );
    (python, root.join("scripts/moto_server.py"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts a moto server of its own (dying with this process); its endpoint.
pub fn start() -> String {
    let (python, script) = moto_server();
    let port = free_port();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    // The child is spawned from a thread that lives as long as the process, with
    // PR_SET_PDEATHSIG, so it dies with this test process even when nothing drops it.
    std::thread::spawn(move || {
        let mut command = std::process::Command::new(python);
        command
            .arg(script)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        set_parent_death_signal(&mut command);
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
        panic!("moto server did not start: {e}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto server did not listen on {port}"
        );
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
