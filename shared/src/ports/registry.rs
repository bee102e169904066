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
        /// How long the registry asked us to wait (`Retry-After`).
        retry_after: Option<std::time::Duration>,
    },
    #[error("{registry}: {what}")]
    Invalid { registry: String, what: String },
}

impl RegistryError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
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
    /// What refers to `digest` through the OCI Referrers API; None when the registry has no
    /// such API (then the `sha256-<hex>` fallback tag holds the list).
    async fn list_referrers(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<Vec<crate::registry::media::Referrer>>, RegistryError>;
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
    /// Deletes the manifest under `reference` (a digest, or a tag where the registry allows
    /// deleting tags); false when there was none.
    async fn delete_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<bool, RegistryError>;
    async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool, RegistryError>;
    /// The blob from byte `offset` on (a `Range` request when `offset` > 0).
    async fn get_blob_from(
        &self,
        repository: &str,
        digest: &str,
        offset: u64,
    ) -> Result<BlobStream, RegistryError>;
    /// Uploads a blob of `size` bytes in one streamed request and commits it under `digest`.
    async fn put_blob(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        body: BlobStream,
    ) -> Result<(), RegistryError>;
    /// Asks the registry to link `digest` from repository `from` into `repository` without
    /// copying it.
    async fn mount_blob(
        &self,
        repository: &str,
        digest: &str,
        from: &str,
    ) -> Result<Mount, RegistryError>;
    /// Opens an upload session for chunks.
    async fn start_upload(&self, repository: &str) -> Result<UploadSession, RegistryError>;
    /// Sends `chunk` at `offset`; the session moves to the location the registry answers.
    async fn upload_chunk(
        &self,
        session: &mut UploadSession,
        offset: u64,
        chunk: Bytes,
    ) -> Result<(), RegistryError>;
    /// Appends `body` to the session in one streamed request (no `Content-Range`), as `docker
    /// push` does; the session moves to the location the registry answers. Returns how many
    /// bytes the session holds afterwards.
    async fn upload_stream(
        &self,
        session: &mut UploadSession,
        body: BlobStream,
    ) -> Result<u64, RegistryError>;
    /// How many bytes the registry holds for the session: where an interrupted upload resumes.
    async fn upload_offset(&self, session: &UploadSession) -> Result<u64, RegistryError>;
    /// Commits the uploaded bytes under `digest`.
    async fn finish_upload(
        &self,
        session: &UploadSession,
        digest: &str,
    ) -> Result<(), RegistryError>;
}

/// The namespaces of a destination kind that needs them made (Harbor's projects).
#[async_trait]
pub trait Namespaces: Send + Sync {
    /// Makes sure `namespace` exists; true when it was created now.
    async fn ensure(&self, namespace: &str) -> Result<bool, RegistryError>;
}

/// What a mount request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    Mounted,
    /// The registry did not mount (it answered 202) and opened this upload session instead.
    NotMounted(UploadSession),
}

/// Where a registry already holds a blob, as Ferry recorded it: a repository to mount from.
#[async_trait]
pub trait BlobLocations: Send + Sync {
    async fn find_blob(&self, registry_id: i64, digest: &str) -> Option<String>;
    /// Records a repository holding the blob; failures only cost a later mount.
    async fn record_blob(&self, registry_id: i64, digest: &str, repository: &str);
}

/// An open chunked upload; it travels in a checkpoint to the next invocation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadSession {
    pub repository: String,
    /// The absolute URL the next request goes to.
    pub location: String,
    /// `OCI-Chunk-Min-Length`: no chunk but the last may be smaller.
    pub min_chunk: u64,
}
