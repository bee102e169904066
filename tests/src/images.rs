//! Making and reading images in a registry with plain HTTP, independent of Ferry's client.

use sha2::{Digest, Sha256};

pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex_encode(&Sha256::digest(bytes)))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How requests authenticate: Basic, or an `Authorization` given whole (a registry token).
enum Auth {
    None,
    Basic(String, String),
    Header(String),
}

pub struct RegistryHttp {
    base: String,
    credentials: Auth,
    http: reqwest::Client,
}

impl RegistryHttp {
    pub fn new(base: String, credentials: Option<(String, String)>) -> Self {
        Self {
            base,
            credentials: match credentials {
                Some((user, password)) => Auth::Basic(user, password),
                None => Auth::None,
            },
            http: reqwest::Client::new(),
        }
    }

    /// Requests carry `authorization` as it is (`Bearer <token>` a fake's token service gave).
    pub fn with_authorization(base: String, authorization: String) -> Self {
        Self {
            base,
            credentials: Auth::Header(authorization),
            http: reqwest::Client::new(),
        }
    }

    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
            Auth::Header(value) => request.header("authorization", value),
            Auth::None => request,
        }
    }

    pub async fn push_blob(&self, repository: &str, bytes: &[u8]) -> String {
        let pushed = self.try_push_blob(repository, bytes).await;
        pushed.unwrap_or_else(|status| panic!("blob upload to {repository}: {status}"))
    }

    /// [`Self::push_blob`], or the status of the registry's refusal.
    pub async fn try_push_blob(&self, repository: &str, bytes: &[u8]) -> Result<String, u16> {
        let digest = digest_of(bytes);
        let start = self
            .auth(
                self.http
                    .post(format!("{}/v2/{repository}/blobs/uploads/", self.base)),
            )
            .send()
            .await
            .expect("upload starts");
        if start.status() != 202 {
            return Err(start.status().as_u16());
        }
        let location = start.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.base)
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let done = self
            .auth(
                self.http
                    .put(format!("{location}{separator}digest={digest}")),
            )
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("upload ends");
        match done.status().as_u16() {
            201 => Ok(digest),
            refused => Err(refused),
        }
    }

    pub async fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let pushed = self
            .try_push_manifest(repository, reference, media_type, bytes)
            .await;
        pushed.unwrap_or_else(|status| panic!("manifest push {repository}:{reference}: {status}"))
    }

    /// [`Self::push_manifest`], or the status of the registry's refusal.
    pub async fn try_push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, u16> {
        let response = self
            .auth(self.http.put(format!(
                "{}/v2/{repository}/manifests/{reference}",
                self.base
            )))
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .expect("manifest push");
        match response.status().as_u16() {
            201 => Ok(digest_of(bytes)),
            refused => Err(refused),
        }
    }

    /// Pushes an OCI image with `layers` and a small config; returns the manifest digest.
    pub async fn push_image(&self, repository: &str, tag: &str, layers: &[Vec<u8>]) -> String {
        let pushed = self.try_push_image(repository, tag, layers).await;
        pushed.unwrap_or_else(|status| panic!("image push {repository}:{tag}: {status}"))
    }

    /// [`Self::push_image`], or the status of the registry's first refusal.
    pub async fn try_push_image(
        &self,
        repository: &str,
        tag: &str,
        layers: &[Vec<u8>],
    ) -> Result<String, u16> {
        let config = serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
            .to_string()
            .into_bytes();
        let config_digest = self.try_push_blob(repository, &config).await?;
        let mut descriptors = Vec::new();
        for layer in layers {
            let digest = self.try_push_blob(repository, layer).await?;
            descriptors.push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest,
                "size": layer.len(),
            }));
        }
        let manifest = serde_json::to_vec_pretty(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": descriptors,
        }))
        .expect("json");
        self.try_push_manifest(
            repository,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
        .await
    }

    /// Pushes a one-layer image whose config says it was `created` then (RFC 3339); its digest.
    pub async fn push_dated_image(&self, repository: &str, tag: &str, created: &str) -> String {
        let config = serde_json::json!({"architecture": "amd64", "os": "linux", "created": created,
            "rootfs": {"type": "layers", "diff_ids": []}});
        let content = format!("the layer of {repository}:{tag}").into_bytes();
        let layer_digest = self.push_blob(repository, &content).await;
        let config = config.to_string().into_bytes();
        let config_digest = self.push_blob(repository, &config).await;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": content.len()}],
        }))
        .expect("json");
        self.push_manifest(
            repository,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
        .await
    }

    /// Pushes an artifact of one layer whose config is `config` of `config_media_type`, with an
    /// OCI 1.1 `artifactType` when given; returns the manifest digest.
    pub async fn push_artifact(
        &self,
        repository: &str,
        tag: &str,
        config_media_type: &str,
        config: &serde_json::Value,
        artifact_type: Option<&str>,
    ) -> String {
        let config = config.to_string().into_bytes();
        let config_digest = self.push_blob(repository, &config).await;
        let content = format!("the content of {repository}:{tag}").into_bytes();
        let layer_digest = self.push_blob(repository, &content).await;
        let mut manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": config_media_type, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer_digest, "size": content.len()}],
        });
        if let Some(artifact_type) = artifact_type {
            manifest["artifactType"] = serde_json::json!(artifact_type);
        }
        let bytes = serde_json::to_vec(&manifest).expect("json");
        self.push_manifest(
            repository,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &bytes,
        )
        .await
    }

    /// Pushes an OCI index of one small image per architecture (children by digest, tagged
    /// `child-<arch>`); returns the index digest.
    pub async fn push_index(
        &self,
        repository: &str,
        tag: &str,
        arches: &[&str],
        seed: u64,
    ) -> String {
        let mut children = Vec::new();
        for (i, arch) in arches.iter().enumerate() {
            let digest = self
                .push_image(
                    repository,
                    &format!("child-{arch}"),
                    &[layer(seed + i as u64, 2000)],
                )
                .await;
            let size = self.manifest_size(repository, &digest).await;
            children.push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
                "platform": {"architecture": arch, "os": "linux"}
            }));
        }
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": children,
        }))
        .expect("json");
        self.push_manifest(
            repository,
            tag,
            "application/vnd.oci.image.index.v1+json",
            &index,
        )
        .await
    }

    /// Pushes a Helm chart as an OCI artifact (Helm's config and content media types).
    pub async fn push_chart(&self, repository: &str, tag: &str, seed: u64) -> String {
        let config = br#"{"name":"demo","version":"0.1.0","apiVersion":"v2"}"#;
        let chart = layer(seed, 30_000);
        let config_digest = self.push_blob(repository, config).await;
        let chart_digest = self.push_blob(repository, &chart).await;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": chart_digest, "size": chart.len()}],
        }))
        .expect("json");
        self.push_manifest(
            repository,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
        .await
    }

    /// Pushes a cosign-style signature of `subject` under `sha256-<hex>.sig`; its digest.
    pub async fn push_cosign_signature(&self, repository: &str, subject: &str) -> String {
        let payload =
            format!("{{\"critical\":{{\"image\":{{\"docker-manifest-digest\":\"{subject}\"}}}}}}");
        let config = self.push_blob(repository, b"{}").await;
        let layer_digest = self.push_blob(repository, payload.as_bytes()).await;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": layer_digest, "size": payload.len()}],
        }))
        .expect("json");
        let tag = format!("sha256-{}.sig", subject.trim_start_matches("sha256:"));
        self.push_manifest(
            repository,
            &tag,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
        .await
    }

    /// The digest of the manifest under `reference`, computed from the bytes served.
    pub async fn manifest_digest(&self, repository: &str, reference: &str) -> Option<String> {
        Some(digest_of(&self.manifest(repository, reference).await?))
    }

    /// The bytes of the manifest under `reference`, as served; None when there is none.
    pub async fn manifest(&self, repository: &str, reference: &str) -> Option<Vec<u8>> {
        let response = self
            .auth(self.http.get(format!("{}/v2/{repository}/manifests/{reference}", self.base)))
            .header(
                "accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
                 application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json",
            )
            .send()
            .await
            .expect("manifest get");
        if response.status() == 404 {
            return None;
        }
        assert!(
            response.status().is_success(),
            "manifest get {}",
            response.status()
        );
        Some(response.bytes().await.expect("body").to_vec())
    }

    /// The size in bytes of the manifest under `reference`.
    pub async fn manifest_size(&self, repository: &str, reference: &str) -> usize {
        let response = self
            .auth(self.http.get(format!(
                "{}/v2/{repository}/manifests/{reference}",
                self.base
            )))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .expect("manifest get");
        response.bytes().await.expect("body").len()
    }

    pub async fn blob(&self, repository: &str, digest: &str) -> Option<Vec<u8>> {
        let response = self
            .auth(
                self.http
                    .get(format!("{}/v2/{repository}/blobs/{digest}", self.base)),
            )
            .send()
            .await
            .expect("blob get");
        if response.status() == 404 {
            return None;
        }
        Some(response.bytes().await.expect("body").to_vec())
    }
}

/// Deterministic pseudo-random bytes, so layers differ between tests without a RNG crate.
pub fn layer(seed: u64, size: usize) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state & 0xff) as u8
        })
        .collect()
}
