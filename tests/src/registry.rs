//! CNCF distribution (`docker-registry`) on a free loopback port with its own storage,
//! optionally behind htpasswd; stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestRegistry {
    child: Child,
    _storage: tempfile::TempDir,
    pub port: u16,
    pub credentials: Option<(String, String)>,
    /// The `auth:` section of its configuration.
    auth: String,
}

impl TestRegistry {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    pub fn start_with_auth(user: &str, password: &str) -> Self {
        Self::start_with(Some((user.to_string(), password.to_string())))
    }

    fn start_with(credentials: Option<(String, String)>) -> Self {
        let storage = tempfile::tempdir().expect("tempdir");
        let port = crate::emulator::free_port();
        let auth = match &credentials {
            Some((user, password)) => {
                let hash = bcrypt::hash(password, 4).expect("bcrypt");
                let file = storage.path().join("htpasswd");
                std::fs::write(&file, format!("{user}:{hash}\n")).expect("htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    file.display()
                )
            }
            None => String::new(),
        };
        let child = serve(&storage, port, &auth, "");
        Self {
            child,
            _storage: storage,
            port,
            credentials,
            auth,
        }
    }

    /// Restarts the registry on the same port and storage, sending its notifications (pushes,
    /// pulls, deletes) to `url` with this `Authorization` header.
    pub fn notify(&mut self, url: &str, authorization: &str) {
        self.kill();
        let notifications = format!(
            "notifications:\n  endpoints:\n    - name: ferry\n      url: {url}\n      headers:\n        Authorization: [\"{authorization}\"]\n      timeout: 2s\n      threshold: 3\n      backoff: 1s\n"
        );
        self.child = serve(&self._storage, self.port, &self.auth, &notifications);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client that talks to this registry with its credentials.
    pub fn http(&self) -> crate::images::RegistryHttp {
        crate::images::RegistryHttp::new(self.url(), self.credentials.clone())
    }

    /// Starts the registry again after [`Self::kill`], on the same port and storage.
    pub fn restart(&mut self) {
        self.kill();
        self.child = serve(&self._storage, self.port, &self.auth, "");
    }

    /// Stops the registry process; its storage stays until the value is dropped.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `docker-registry` on `port` with its data under `storage`, and waits until it listens.
fn serve(storage: &tempfile::TempDir, port: u16, auth: &str, extra: &str) -> Child {
    let config = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test-secret\n  relativeurls: true\n{auth}{extra}",
        storage.path().join("data").display()
    );
    let config_path = storage.path().join("config.yml");
    std::fs::write(&config_path, config).expect("config");
    let mut command = Command::new("docker-registry");
    command
        .arg("serve")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    crate::emulator::set_parent_death_signal(&mut command);
    let child = command
        .spawn()
        .expect("docker-registry runs (Debian package docker-registry; make test installs it)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "docker-registry did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}
