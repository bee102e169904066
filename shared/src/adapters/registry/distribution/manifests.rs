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

/// Longest a manifest may be; a larger answer is refused as it streams, never buffered.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

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
                            header(DOCKER_CONTENT_DIGEST),
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
        let (media_type, announced, bytes) = self
            .t
            .send(&call, |response| async {
                if !response.status().is_success() {
                    return Err(self.t.unexpected("GET", &path, response).await);
                }
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let media_type = header(CONTENT_TYPE.as_str())
                    .unwrap_or_default()
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let announced = header(DOCKER_CONTENT_DIGEST);
                let bytes = self
                    .t
                    .read_capped("GET", &path, response, MAX_MANIFEST_BYTES, "manifest")
                    .await?;
                Ok((media_type, announced, bytes))
            })
            .await?;
        let digest = Digest::sha256(&bytes);
        // What was asked for by digest must be that; by tag, the registry's own digest header
        // (when it gives a sha256 one) must match what it sent.
        let expected = match reference.digest() {
            Some(asked) => Some(asked.clone()),
            None => announced
                .and_then(|d| Digest::parse(&d).ok())
                .filter(|d| d.algorithm() == "sha256"),
        };
        if let Some(expected) = expected.filter(|e| e != &digest) {
            return Err(self.t.invalid(format!(
                "{path}: the served bytes hash to {digest}, not {expected}"
            )));
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
        if let Some(deletes) = &self.deletes {
            return deletes.delete(repository, reference).await;
        }
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
