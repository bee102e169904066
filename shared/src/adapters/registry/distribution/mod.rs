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
use reqwest::Method;

use super::transport::{Call, Transport};
use crate::model::addresses::AddressPolicy;
use crate::model::Registry;
use crate::oci::{Reference, Repository};
use crate::ports::registry::{RegistryClient, RegistryError};

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
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(self.t.unexpected("GET", path, response).await)
                }
            })
            .await
    }
}
