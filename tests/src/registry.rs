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
    /// Its `storage:` section; None: the filesystem under its temporary directory.
    storage: Option<String>,
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
        let child = serve(&storage, port, &auth, "", None);
        Self {
            child,
            _storage: storage,
            port,
            credentials,
            auth,
            storage: None,
        }
    }

    /// One that keeps its blobs in an S3 bucket (on the emulator at `endpoint`, which must
    /// hold `bucket`) and answers blob reads with a redirect to a presigned URL of it, as
    /// distribution on S3 does in production.
    pub fn start_on_s3(endpoint: &str, bucket: &str) -> Self {
        let storage = tempfile::tempdir().expect("tempdir");
        let port = crate::emulator::free_port();
        let section = format!(
            "storage:\n  s3:\n    accesskey: test\n    secretkey: test\n    region: us-east-1\n    regionendpoint: {endpoint}\n    bucket: {bucket}\n    secure: false\n    v4auth: true\n  redirect:\n    disable: false\n  delete:\n    enabled: true\n"
        );
        let child = serve(&storage, port, "", "", Some(&section));
        Self {
            child,
            _storage: storage,
            port,
            credentials: None,
            auth: String::new(),
            storage: Some(section),
        }
    }

    /// Restarts the registry on the same port and storage, sending its notifications (pushes,
    /// pulls, deletes) to `url` with this `Authorization` header.
    pub fn notify(&mut self, url: &str, authorization: &str) {
        self.kill();
        let notifications = format!(
            "notifications:\n  endpoints:\n    - name: ferry\n      url: {url}\n      headers:\n        Authorization: [\"{authorization}\"]\n      timeout: 2s\n      threshold: 3\n      backoff: 1s\n"
        );
        self.child = serve(
            &self._storage,
            self.port,
            &self.auth,
            &notifications,
            self.storage.as_deref(),
        );
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
        self.child = serve(
            &self._storage,
            self.port,
            &self.auth,
            "",
            self.storage.as_deref(),
        );
    }

    /// Stops the registry process; its storage stays until the value is dropped.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `docker-registry` on `port` with its data under `storage`, and waits until it listens.
fn serve(
    storage: &tempfile::TempDir,
    port: u16,
    auth: &str,
    extra: &str,
    storage_section: Option<&str>,
) -> Child {
    let filesystem = format!(
        "storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n",
        storage.path().join("data").display()
    );
    let config = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n{}http:\n  addr: 127.0.0.1:{port}\n  secret: test-secret\n  relativeurls: true\n{auth}{extra}",
        storage_section.unwrap_or(&filesystem)
    );
    let config_path = storage.path().join("config.yml");
    std::fs::write(&config_path, config).expect("config");
    let mut command = Command::new("docker-registry");
    command
        .arg("serve")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if storage_section.is_some() {
        // The AWS SDK in distribution cannot load a CA bundle with its own transport, and the
        // emulator is plain http anyway.
        command.env_remove("AWS_CA_BUNDLE");
    }
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
