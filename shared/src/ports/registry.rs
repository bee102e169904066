//! A registry as the copy and the lister use it: the OCI distribution API, one trait per
//! resource (manifests, blobs, uploads, catalog, referrers); the namespaces a destination kind
//! needs made; where Ferry saw blobs.
//!
//! Every name a method takes is a validated [`Repository`], [`Reference`] or [`Digest`], so
//! no unchecked string reaches a URL. What comes back from outside (catalog entries, tags) is
//! returned as it was sent, for the caller to validate where it can say what was wrong.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::oci::{Digest, RawManifest, Reference, Referrer, Repository, UploadSession};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A request that got an answer the caller cannot fix by retrying (4xx but 408 and 429).
    #[error("{registry}: {method} {path} answered {status}: {message}")]
    Refused {
        registry: String,
        method: &'static str,
        path: String,
        status: u16,
        /// The distribution API's error code, when the answer names one.
        code: Option<ErrorCode>,
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
        retry_after: Option<Duration>,
    },
    #[error("{registry}: {what}")]
    Invalid { registry: String, what: String },
}

/// The distribution spec's error codes that Ferry tells apart (`{"errors":[{"code": ...}]}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    /// A code the spec does not list.
    Other,
}

impl ErrorCode {
    pub fn of(code: &str) -> Self {
        match code {
            "BLOB_UNKNOWN" => Self::BlobUnknown,
            "BLOB_UPLOAD_INVALID" => Self::BlobUploadInvalid,
            "BLOB_UPLOAD_UNKNOWN" => Self::BlobUploadUnknown,
            "DIGEST_INVALID" => Self::DigestInvalid,
            "MANIFEST_BLOB_UNKNOWN" => Self::ManifestBlobUnknown,
            "MANIFEST_INVALID" => Self::ManifestInvalid,
            "MANIFEST_UNKNOWN" => Self::ManifestUnknown,
            "NAME_INVALID" => Self::NameInvalid,
            "NAME_UNKNOWN" => Self::NameUnknown,
            "SIZE_INVALID" => Self::SizeInvalid,
            "UNAUTHORIZED" => Self::Unauthorized,
            "DENIED" => Self::Denied,
            "UNSUPPORTED" => Self::Unsupported,
            _ => Self::Other,
        }
    }

    /// A manifest refused because something it references is not (yet) at the registry.
    pub fn is_missing_reference(self) -> bool {
        matches!(
            self,
            Self::ManifestBlobUnknown | Self::BlobUnknown | Self::DigestInvalid
        )
    }
}

impl RegistryError {
    /// The error code of a refusal, if it named one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Refused { code, .. } => *code,
            _ => None,
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

pub type BlobStream = BoxStream<'static, Result<Bytes, RegistryError>>;

/// `/v2/<name>/manifests/<reference>`.
#[async_trait]
pub trait Manifests: Send + Sync {
    /// The manifest's digest and media type, or None when there is none under `reference`.
    async fn head_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<Option<(Digest, String)>, RegistryError>;
    async fn get_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<RawManifest, RegistryError>;
    async fn put_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
        manifest: &RawManifest,
    ) -> Result<(), RegistryError>;
    /// Deletes the manifest under `reference` (a digest, or a tag where the registry allows
    /// deleting tags); false when there was none.
    async fn delete_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<bool, RegistryError>;
}

/// `/v2/<name>/blobs/<digest>`.
#[async_trait]
pub trait Blobs: Send + Sync {
    async fn blob_exists(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<bool, RegistryError>;
    /// The blob from byte `offset` on (a `Range` request when `offset` > 0).
    async fn get_blob_from(
        &self,
        repository: &Repository,
        digest: &Digest,
        offset: u64,
    ) -> Result<BlobStream, RegistryError>;
}

/// `/v2/<name>/blobs/uploads/`: monolithic, mounted and chunked uploads.
#[async_trait]
pub trait Uploads: Send + Sync {
    /// Uploads a blob of `size` bytes in one streamed request and commits it under `digest`.
    async fn put_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        size: u64,
        body: BlobStream,
    ) -> Result<(), RegistryError>;
    /// Asks the registry to link `digest` from repository `from` into `repository` without
    /// copying it.
    async fn mount_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        from: &Repository,
    ) -> Result<Mount, RegistryError>;
    /// Opens an upload session for chunks.
    async fn start_upload(&self, repository: &Repository) -> Result<UploadSession, RegistryError>;
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
        digest: &Digest,
    ) -> Result<(), RegistryError>;
    /// Gives the session up: the registry drops what it holds of it.
    async fn cancel_upload(&self, session: &UploadSession) -> Result<(), RegistryError>;
}

/// `/v2/_catalog` and `/v2/<name>/tags/list`.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// One page of the catalog: up to `page_size` repositories after `last`, and the name to
    /// continue after when there are more. Names as the registry sent them.
    async fn list_repositories(
        &self,
        page_size: usize,
        last: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError>;
    /// Every tag of a repository, as the registry sent them; none when it does not exist.
    async fn list_tags(&self, repository: &Repository) -> Result<Vec<String>, RegistryError>;
}

/// `/v2/<name>/referrers/<digest>` (OCI 1.1).
#[async_trait]
pub trait Referrers: Send + Sync {
    /// What refers to `digest` through the OCI Referrers API; None when the registry has no
    /// such API (then the `sha256-<hex>` fallback tag holds the list).
    async fn list_referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<Option<Vec<Referrer>>, RegistryError>;
}

/// The whole distribution API of one registry.
#[async_trait]
pub trait RegistryClient: Manifests + Blobs + Uploads + Catalog + Referrers {
    /// A name for messages: the registry's host.
    fn name(&self) -> &str;
    /// `GET /v2/` with the configured credential: Ok when the API answers and accepts it.
    async fn check(&self) -> Result<(), RegistryError>;
    /// Where a client may read a blob from, asked with the registry's credential and without
    /// following a redirect: the registry's redirect (to its storage: S3, GCS, ...) when it
    /// answers one, else its bytes (none for `head`). Kinds without redirects stream.
    async fn locate_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        head: bool,
    ) -> Result<BlobAt, RegistryError> {
        if !self.blob_exists(repository, digest).await? {
            return Ok(BlobAt::Missing);
        }
        let body = if head {
            None
        } else {
            Some(self.get_blob_from(repository, digest, 0).await?)
        };
        Ok(BlobAt::Here { size: None, body })
    }
    /// Where a destination keeps Helm charts as packages, not as manifests (ChartMuseum): a
    /// copy to it uploads the chart's package instead of pushing blobs and a manifest.
    fn charts(&self) -> Option<&dyn ChartUploads> {
        None
    }
    /// Posts `body` (JSON) to a `prepare_replication` handler at `url`: a path on the
    /// registry, or an absolute URL. On the registry's own origin the request carries the
    /// registry's credential (a Bearer token where it challenges for one, as `docker login`
    /// does); elsewhere none. Sent once: the caller decides by the answer what to do.
    async fn call_handler(&self, url: &str, body: Bytes) -> Result<HandlerAnswer, RegistryError> {
        let _ = body;
        Err(RegistryError::Invalid {
            registry: self.name().to_string(),
            what: format!("cannot call the handler {url}: this kind of registry speaks no HTTP API of its own"),
        })
    }
}

/// Where a blob is, for a client to read it.
pub enum BlobAt {
    Missing,
    /// The registry sent its reader elsewhere (a `3xx` with this `Location`, usually a signed
    /// URL of its storage): the bytes need not pass through Ferry.
    Elsewhere {
        location: String,
    },
    /// The registry answers the bytes itself: their size when it said, and the stream (none
    /// when only asked whether it is there).
    Here {
        size: Option<u64>,
        body: Option<BlobStream>,
    },
}

impl std::fmt::Debug for BlobAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str("Missing"),
            Self::Elsewhere { location } => {
                // A signed URL is a credential: only its origin is shown.
                let origin = url::Url::parse(location)
                    .map(|u| u.origin().ascii_serialization())
                    .unwrap_or_default();
                write!(f, "Elsewhere({origin}/...)")
            }
            Self::Here { size, body } => write!(f, "Here({size:?}, streams: {})", body.is_some()),
        }
    }
}

/// A handler's answer: its status and the start of its body, for the execution's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerAnswer {
    pub status: u16,
    pub body: String,
}

/// A chart repository's write side (ChartMuseum's API): packages by chart name and version.
#[async_trait]
pub trait ChartUploads: Send + Sync {
    /// The sha256 of the package it holds for exactly `name` at `version`; None when none.
    async fn held_package(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<Digest>, RegistryError>;
    /// Whether it holds the provenance of `name` at `version` beside its package.
    async fn held_provenance(&self, name: &str, version: &str) -> Result<bool, RegistryError>;
    /// Uploads a chart's package and provenance; `replace` overwrites the version's.
    async fn upload_chart(
        &self,
        name: &str,
        version: &str,
        package: Bytes,
        provenance: Option<Bytes>,
        replace: bool,
    ) -> Result<(), RegistryError>;
}

/// What a mount request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    Mounted,
    /// The registry did not mount (it answered 202) and opened this upload session instead.
    NotMounted(UploadSession),
}

/// The namespaces of a destination kind that needs them made or checked before a push
/// (Harbor's projects, ECR's repositories, a Docker Hub organisation, a GAR repository).
#[async_trait]
pub trait Namespaces: Send + Sync {
    /// The namespace `repository` lives in: its first path component unless the kind says
    /// otherwise (ECR: the repository itself; GAR: project and repository).
    fn namespace_of(&self, repository: &str) -> Option<String> {
        repository.split('/').next().map(str::to_string)
    }
    /// Why the kind cannot hold `repository` at all, whatever exists (GAR: no image name).
    fn refuse_name(&self, _repository: &str) -> Option<String> {
        None
    }
    /// Makes sure `namespace` exists; true when it was created now, with `visibility` where
    /// the kind has such a setting (an existing namespace keeps its own). A namespace the user
    /// must create is an error saying so.
    async fn ensure(&self, namespace: &str, visibility: Visibility) -> Result<bool, RegistryError>;
}

/// Whether a namespace Ferry creates is readable by anyone (the policy's
/// `target_project_public`): Harbor's public project, TCR's public namespace, DTR's and
/// Volcengine's public repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    #[default]
    Private,
    Public,
}

impl Visibility {
    pub fn of_public(public: bool) -> Self {
        if public {
            Self::Public
        } else {
            Self::Private
        }
    }

    pub fn is_public(self) -> bool {
        self == Self::Public
    }
}

/// The index Ferry wrote for a source index filtered to some platforms (its digest is not the
/// source's), so that a re-sync finds it unchanged by one HEAD. Best effort both ways: a miss
/// only costs a transfer that finds the same bytes.
#[async_trait]
pub trait FilteredIndexes: Send + Sync {
    /// `platforms` is the key [`platforms_key`] makes.
    async fn filtered_index(&self, source: &Digest, platforms: &str) -> Option<Digest>;
    async fn record_filtered_index(&self, source: &Digest, platforms: &str, filtered: &Digest);
}

/// One key for a set of platforms, however the policy lists them.
pub fn platforms_key(platforms: &[String]) -> String {
    let mut keys: Vec<String> = platforms
        .iter()
        .map(|p| {
            crate::oci::Platform::parse(p)
                .map(|p| p.to_string())
                .unwrap_or_else(|_| p.clone())
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys.join(",")
}

/// Where a registry already holds a blob, as Ferry recorded it: a repository to mount from.
#[async_trait]
pub trait BlobLocations: Send + Sync {
    async fn find_blob(&self, registry_id: i64, digest: &Digest) -> Option<Repository>;
    /// The same for all the blobs of a manifest at once; a store that can read many keys in one
    /// request overrides it.
    async fn find_blobs(
        &self,
        registry_id: i64,
        digests: &[Digest],
    ) -> std::collections::HashMap<Digest, Repository> {
        let mut found = std::collections::HashMap::new();
        for digest in digests {
            if let Some(repository) = self.find_blob(registry_id, digest).await {
                found.insert(digest.clone(), repository);
            }
        }
        found
    }
    /// Records a repository holding the blob (once its upload or mount is committed); failures
    /// only cost a later copy.
    async fn record_blob(&self, registry_id: i64, digest: &Digest, repository: &Repository);
    /// The same for several blobs the repository now holds; a store that can write many items
    /// in one request overrides it.
    async fn record_blobs(&self, registry_id: i64, digests: &[Digest], repository: &Repository) {
        for digest in digests {
            self.record_blob(registry_id, digest, repository).await;
        }
    }
    /// Forgets where the blob was: a mount from there led to a refusal.
    async fn forget_blob(&self, registry_id: i64, digest: &Digest);
    /// Where this process saw the blob, without asking the store; a store knows nothing here.
    fn seen_here(&self, _registry_id: i64, _digest: &Digest) -> Option<Repository> {
        None
    }
    /// Keeps in this process only (not in the store) that the repository holds these blobs:
    /// small ones, not worth a store's write, still worth a mount by a copy here.
    fn keep_here(&self, _registry_id: i64, _digests: &[Digest], _repository: &Repository) {}
    /// Of these blobs, those this process has an answer about without asking the store (a
    /// location, or word that the store knew none a moment ago); a store has none.
    fn answered_here(&self, _registry_id: i64, _digests: &[Digest]) -> Vec<Digest> {
        Vec::new()
    }
}
