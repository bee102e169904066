//! `/v2/<name>/manifests/<reference>`: read as raw bytes (digest checked when asked by digest),
//! written as read, deleted.

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use super::{pull, push, HttpRegistryClient};
use crate::adapters::registry::transport::Call;
use crate::oci::media::ACCEPT_MANIFESTS;
use crate::oci::{Digest, ManifestRefs, RawManifest, Reference, Repository};
use crate::ports::registry::{Manifests, RegistryError};

/// Longest a manifest may be; larger answers are refused rather than buffered.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

fn manifest_path(repository: &Repository, reference: &Reference) -> String {
    format!("/v2/{repository}/manifests/{reference}")
}

#[async_trait]
impl Manifests for HttpRegistryClient {
    async fn head_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<Option<(Digest, String)>, RegistryError> {
        let path = manifest_path(repository, reference);
        let scope = pull(repository);
        let call = Call::new(Method::HEAD, self.t.url(&path)?, &path, &scope)
            .header(ACCEPT, ACCEPT_MANIFESTS);
        let held = self
            .t
            .send(&call, |response| async {
                match response.status() {
                    StatusCode::NOT_FOUND => Ok(None),
                    s if s.is_success() => {
                        let header = |name: &str| {
                            response
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string)
                        };
                        Ok(Some((
                            header("docker-content-digest"),
                            header("content-type").unwrap_or_default(),
                        )))
                    }
                    _ => Err(self.t.unexpected("HEAD", &path, response).await),
                }
            })
            .await?;
        match held {
            None => Ok(None),
            Some((Some(digest), media_type)) => match Digest::parse(&digest) {
                Ok(digest) => Ok(Some((digest, media_type))),
                Err(e) => Err(self
                    .t
                    .invalid(format!("HEAD {path}: Docker-Content-Digest {e}"))),
            },
            // Without the digest header the only exact answer is the manifest itself.
            Some((None, _)) => {
                let manifest = self.get_manifest(repository, reference).await?;
                Ok(Some((manifest.digest, manifest.media_type)))
            }
        }
    }

    async fn get_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<RawManifest, RegistryError> {
        let path = manifest_path(repository, reference);
        let scope = pull(repository);
        let call = Call::new(Method::GET, self.t.url(&path)?, &path, &scope)
            .header(ACCEPT, ACCEPT_MANIFESTS);
        let (media_type, bytes) = self
            .t
            .send(&call, |response| async {
                if !response.status().is_success() {
                    return Err(self.t.unexpected("GET", &path, response).await);
                }
                let media_type = response
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| self.t.transient("GET", &path, e))?;
                Ok((media_type, bytes))
            })
            .await?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(self.t.invalid(format!(
                "{path}: manifest of {} bytes is over the 4 MiB limit",
                bytes.len()
            )));
        }
        let digest = Digest::sha256(&bytes);
        if let Some(asked) = reference.digest() {
            if asked != &digest {
                return Err(self
                    .t
                    .invalid(format!("{path}: served bytes hash to {digest}")));
            }
        }
        // Fall back to the manifest's own mediaType when the server sends a generic type.
        let media_type = if media_type.is_empty() || media_type == "application/json" {
            serde_json::from_slice::<ManifestRefs>(&bytes)
                .ok()
                .and_then(|m| m.media_type)
                .unwrap_or(media_type)
        } else {
            media_type
        };
        Ok(RawManifest {
            media_type,
            digest,
            bytes,
        })
    }

    async fn put_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
        manifest: &RawManifest,
    ) -> Result<(), RegistryError> {
        let path = manifest_path(repository, reference);
        let scope = push(repository);
        let call = Call::new(Method::PUT, self.t.url(&path)?, &path, &scope)
            .header(CONTENT_TYPE, manifest.media_type.as_str())
            .body(manifest.bytes.clone());
        self.t
            .send(&call, |response| async {
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(self.t.unexpected("PUT", &path, response).await)
                }
            })
            .await
    }

    async fn delete_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<bool, RegistryError> {
        let path = manifest_path(repository, reference);
        // Deleting asks for the `delete` action (Harbor, Docker Hub); plain registries take push.
        let scope = format!("repository:{repository}:delete,pull,push");
        let call = Call::new(Method::DELETE, self.t.url(&path)?, &path, &scope);
        self.t
            .send(&call, |response| async {
                match response.status() {
                    StatusCode::NOT_FOUND => Ok(false),
                    s if s.is_success() => Ok(true),
                    _ => Err(self.t.unexpected("DELETE", &path, response).await),
                }
            })
            .await
    }
}
