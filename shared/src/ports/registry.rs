//! The OCI distribution API of one registry, as the copy logic needs it.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A request that got an answer the caller cannot fix by retrying (4xx but 408 and 429).
    #[error("{registry}: {method} {path} answered {status}: {message}")]
    Refused {
        registry: String,
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    /// A request that may succeed if tried again: connection errors, timeouts, 5xx, 408, 429.
    #[error("{registry}: {method} {path} failed, may heal: {message}")]
    Transient {
        registry: String,
        method: &'static str,
        path: String,
        message: String,
    },
    #[error("{registry}: {what}")]
    Invalid { registry: String, what: String },
}

impl RegistryError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }
}

/// A manifest exactly as the registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawManifest {
    pub media_type: String,
    pub digest: String,
    pub bytes: Bytes,
}

pub type BlobStream = BoxStream<'static, Result<Bytes, RegistryError>>;

#[async_trait]
pub trait RegistryClient: Send + Sync {
    /// A name for messages: the registry's host.
    fn name(&self) -> &str;
    /// `GET /v2/` with the configured credential: Ok when the API answers and accepts it.
    async fn check(&self) -> Result<(), RegistryError>;
    /// One page of the catalog: up to `page_size` repositories after `last`, and the name to
    /// continue after when there are more.
    async fn list_repositories(
        &self,
        page_size: usize,
        last: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError>;
    /// Every tag of a repository.
    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError>;
    /// The manifest's digest and media type, or None when there is none under `reference`.
    async fn head_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(String, String)>, RegistryError>;
    async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<RawManifest, RegistryError>;
    async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        manifest: &RawManifest,
    ) -> Result<(), RegistryError>;
    async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool, RegistryError>;
    async fn get_blob(&self, repository: &str, digest: &str) -> Result<BlobStream, RegistryError>;
    /// Uploads a blob of `size` bytes, streaming, and commits it under `digest`.
    async fn put_blob(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        body: BlobStream,
    ) -> Result<(), RegistryError>;
}
