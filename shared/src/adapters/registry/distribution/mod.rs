//! CNCF distribution and every registry that speaks the OCI distribution API: the client, one
//! file per resource (manifests, blobs, uploads, catalog, referrers) over one [`Transport`],
//! and the source adapter that lists such a registry.

mod blobs;
mod catalog;
mod manifests;
mod referrers;
pub mod source;
mod uploads;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::Method;

use super::transport::{Call, Transport};
use crate::model::addresses::AddressPolicy;
use crate::model::Registry;
use crate::oci::{Reference, Repository};
use crate::ports::registry::{HandlerAnswer, RegistryClient, RegistryError};

pub use source::DistributionSource;

pub struct HttpRegistryClient {
    t: Transport,
    /// A kind that deletes through its own API rather than `DELETE /v2/<name>/manifests/`.
    deletes: Option<Arc<dyn DeleteManifest>>,
}

/// Deleting a manifest or a tag through a kind's own API (ECR's `BatchDeleteImage`).
#[async_trait]
pub trait DeleteManifest: Send + Sync {
    /// True when something was deleted.
    async fn delete(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<bool, RegistryError>;
}

impl HttpRegistryClient {
    /// A client for `registry` (its credential, if any, already decrypted), connecting only
    /// where `addresses` allows.
    pub fn new(registry: &Registry, addresses: AddressPolicy) -> Result<Self, RegistryError> {
        Ok(Self::over(Transport::new(registry, addresses)?))
    }

    pub(crate) fn over(t: Transport) -> Self {
        Self { t, deletes: None }
    }

    /// Retries of a request that may heal (default 6, with backoff up to 10 s).
    pub fn with_max_retries(self, retries: usize) -> Self {
        Self {
            t: self.t.with_retries(retries),
            deletes: self.deletes,
        }
    }

    pub(crate) fn deleting_with(mut self, deletes: Arc<dyn DeleteManifest>) -> Self {
        self.deletes = Some(deletes);
        self
    }
}

/// The token scope to read a repository.
fn pull(repository: &Repository) -> String {
    format!("repository:{repository}:pull")
}

/// The token scope to write one.
fn push(repository: &Repository) -> String {
    format!("repository:{repository}:pull,push")
}

#[async_trait]
impl RegistryClient for HttpRegistryClient {
    fn name(&self) -> &str {
        self.t.name()
    }

    async fn check(&self) -> Result<(), RegistryError> {
        let path = "/v2/";
        let call = Call::new(Method::GET, self.t.url(path)?, path, "");
        self.t
            .send(&call, |response| async move {
                if !response.status().is_success() {
                    return Err(self.t.unexpected("GET", path, response).await);
                }
                match speaks_v2(response.headers()) {
                    V2::Says => Ok(()),
                    V2::SaysOther(version) => Err(self.t.invalid(format!(
                        "GET /v2/ answered, but as {version:?}, not registry/2.0 \
                         (Docker-Distribution-API-Version): this is not a v2 registry"
                    ))),
                    V2::Silent => {
                        let body = Transport::body_start(response).await;
                        if v2_body(&body) {
                            Ok(())
                        } else {
                            Err(self.t.invalid(format!(
                                "GET /v2/ answered without Docker-Distribution-API-Version and \
                                 with a body that is no registry's ({:?}...): this is not a v2 \
                                 registry (a web page or a proxy at that URL?)",
                                body.chars().take(60).collect::<String>()
                            )))
                        }
                    }
                }
            })
            .await
    }

    async fn locate_blob(
        &self,
        repository: &Repository,
        digest: &crate::oci::Digest,
        head: bool,
    ) -> Result<crate::ports::registry::BlobAt, RegistryError> {
        self.locate(repository, digest, head).await
    }

    async fn call_handler(&self, url: &str, body: Bytes) -> Result<HandlerAnswer, RegistryError> {
        let target = if url.starts_with('/') {
            self.t.home_url(url)?
        } else {
            self.t.url(url)?
        };
        let call = Call::new(Method::POST, target, url, "")
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let response = self.t.exchange(&call).await?;
        let status = response.status().as_u16();
        Ok(HandlerAnswer {
            status,
            body: Transport::body_start(response).await,
        })
    }
}

/// What `GET /v2/` says of the API it serves.
#[derive(Debug, PartialEq, Eq)]
enum V2 {
    Says,
    SaysOther(String),
    Silent,
}

/// Whether a `GET /v2/` body without the version header is a registry's: empty, a JSON
/// object (distribution's `{}`, an error document) or Quay's `true`.
fn v2_body(body: &str) -> bool {
    let body = body.trim();
    body.is_empty() || body.starts_with('{') || body == "true"
}

/// `Docker-Distribution-API-Version: registry/2.0`, which distribution and most registries
/// send; some (behind proxies) send none, and then the body tells.
fn speaks_v2(headers: &HeaderMap) -> V2 {
    match headers.get("docker-distribution-api-version") {
        None => V2::Silent,
        Some(value) => {
            let version = String::from_utf8_lossy(value.as_bytes()).trim().to_string();
            if version.eq_ignore_ascii_case("registry/2.0") {
                V2::Says
            } else {
                V2::SaysOther(version)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_without_the_header_is_told_by_its_body() {
        for body in ["", "{}", " {\"errors\": []}\n", "true", "true\n"] {
            assert!(v2_body(body), "{body:?}");
        }
        for body in ["<!DOCTYPE html><html>", "OK", "false", "[]"] {
            assert!(!v2_body(body), "{body:?}");
        }
    }

    #[test]
    fn the_api_version_header_says_whether_it_is_a_v2_registry() {
        let mut headers = HeaderMap::new();
        assert_eq!(speaks_v2(&headers), V2::Silent);
        headers.insert(
            "docker-distribution-api-version",
            "registry/2.0".parse().unwrap(),
        );
        assert_eq!(speaks_v2(&headers), V2::Says);
        headers.insert(
            "docker-distribution-api-version",
            "registry/1.0".parse().unwrap(),
        );
        assert_eq!(speaks_v2(&headers), V2::SaysOther("registry/1.0".into()));
    }
}
