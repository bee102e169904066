//! Helm chart repositories (Ferry's `helm-repository` kind): ChartMuseum, or any HTTP server of
//! an `index.yaml` and the packages it names. Read as a registry: each chart is a repository
//! and each version a tag (`+` written `_`, as `helm push` writes it), whose manifest is the OCI
//! Helm chart `helm push` makes of the package (`oci::helm`), built from the package's bytes, so
//! its digest is the same on every run. Written only through ChartMuseum's API
//! (`chartmuseum`); a static repository is read-only.
//!
//! Packages are read whole (they are small; at most [`PACKAGE_BYTES`]) and checked against the
//! index's digest; the last few are kept, so a copy reads its package once.

mod chartmuseum;
mod index;
mod source;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::{Method, StatusCode};

use super::transport::{Call, Transport};
use crate::oci::helm::{self as package, Artifact, Blob};
use crate::oci::{Digest, RawManifest, Reference, Referrer, Repository, UploadSession};
use crate::ports::registry::{
    BlobStream, Blobs, Catalog, ChartUploads, ErrorCode, Manifests, Mount, Referrers,
    RegistryClient, RegistryError, Uploads,
};
use index::{Entry, Index};

/// The largest index read.
const INDEX_BYTES: usize = 64 * 1024 * 1024;
/// The largest package (or provenance) read.
pub const PACKAGE_BYTES: usize = 100 * 1024 * 1024;
/// How long an index read is used before it is read again.
const INDEX_FRESH: Duration = Duration::from_secs(30);
/// Charts built and kept, and packages kept (each at most [`KEPT_PACKAGE_BYTES`]).
const BUILT_KEPT: usize = 1024;
const PACKAGES_KEPT: usize = 16;
const KEPT_PACKAGE_BYTES: usize = 2 * 1024 * 1024;

/// One chart version as an OCI artifact, and where its blobs are.
struct Built {
    /// What it was built from: the package's URL and the index's digest of it (or, where the
    /// index gives none, the index read it was built for).
    key: String,
    entry: Entry,
    manifest: RawManifest,
    artifact: Artifact,
    config_digest: Digest,
    package_url: url::Url,
    provenance_url: url::Url,
}

/// Which of a built chart's blobs a digest names.
enum BlobOf {
    Config,
    Package,
    Provenance,
}

impl Built {
    fn blob(&self, digest: &Digest) -> Option<BlobOf> {
        let text = digest.to_string();
        if self.config_digest == *digest {
            Some(BlobOf::Config)
        } else if self.artifact.package.digest == text {
            Some(BlobOf::Package)
        } else if self
            .artifact
            .provenance
            .as_ref()
            .is_some_and(|p| p.digest == text)
        {
            Some(BlobOf::Provenance)
        } else {
            None
        }
    }

    /// Whether `digest` is its manifest's or one of its blobs'.
    fn has(&self, digest: &Digest) -> bool {
        self.manifest.digest == *digest || self.blob(digest).is_some()
    }
}

/// An index as read, and which read it was.
#[derive(Clone)]
struct IndexRead {
    index: Arc<Index>,
    generation: u64,
}

pub struct ChartRepository {
    t: Transport,
    base: url::Url,
    index: tokio::sync::Mutex<Option<(Instant, IndexRead)>>,
    reads: AtomicU64,
    /// Built charts by what they were built from ([`Built::key`]).
    built: Mutex<lru::LruCache<String, Arc<Built>>>,
    /// Which built chart each digest is of: its key.
    blobs: Mutex<lru::LruCache<Digest, String>>,
    /// Packages and provenance files by their URL and what was expected of them.
    packages: Mutex<lru::LruCache<String, Bytes>>,
    /// ChartMuseum's API, once found (`chartmuseum`).
    api: tokio::sync::OnceCell<url::Url>,
}

fn cache<K: std::hash::Hash + Eq, V>(size: usize) -> Mutex<lru::LruCache<K, V>> {
    Mutex::new(lru::LruCache::new(
        NonZeroUsize::new(size).unwrap_or(NonZeroUsize::MIN),
    ))
}

/// The chart a repository path names: a chart repository is flat, and keeps a chart by its name
/// whatever the path a policy gives it (`charts/web` is `web`).
fn chart_of(repository: &Repository) -> &str {
    repository.as_str().rsplit('/').next().unwrap_or_default()
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ChartRepository {
    pub(crate) fn new(t: Transport) -> Result<Self, RegistryError> {
        let base = t.url("")?;
        Ok(Self {
            t,
            base,
            index: tokio::sync::Mutex::new(None),
            reads: AtomicU64::new(0),
            built: cache(BUILT_KEPT),
            blobs: cache(BUILT_KEPT * 3),
            packages: cache(PACKAGES_KEPT),
            api: tokio::sync::OnceCell::new(),
        })
    }

    /// GET `url` whole, at most `cap` bytes; None on a 404 (on any 4xx when `optional`: a
    /// storage bucket answers 403 for what it does not hold).
    async fn fetch(
        &self,
        url: url::Url,
        cap: usize,
        what: &str,
        optional: bool,
    ) -> Result<Option<Bytes>, RegistryError> {
        let path = url.path().to_string();
        let call = Call::new(Method::GET, url, &path, "");
        self.t
            .send(&call, |response| async {
                match response.status() {
                    StatusCode::NOT_FOUND => Ok(None),
                    s if optional && s.is_client_error() => Ok(None),
                    s if s.is_success() => self
                        .t
                        .read_capped("GET", &path, response, cap, what)
                        .await
                        .map(Some),
                    _ => Err(self.t.unexpected("GET", &path, response).await),
                }
            })
            .await
    }

    /// The repository's index, read again when older than [`INDEX_FRESH`].
    async fn index(&self) -> Result<IndexRead, RegistryError> {
        let mut kept = self.index.lock().await;
        if let Some((_, read)) = kept.as_ref().filter(|(at, _)| at.elapsed() < INDEX_FRESH) {
            return Ok(read.clone());
        }
        let url = index::resolve(&self.base, "index.yaml")
            .map_err(|e| self.t.invalid(format!("index.yaml: {e}")))?;
        let bytes = self
            .fetch(url, INDEX_BYTES, "index", false)
            .await?
            .ok_or_else(|| self.refused_index())?;
        let index = Index::parse(&bytes).map_err(|e| self.t.invalid(e.to_string()))?;
        let read = IndexRead {
            index: Arc::new(index),
            generation: self.reads.fetch_add(1, Ordering::Relaxed),
        };
        *kept = Some((Instant::now(), read.clone()));
        Ok(read)
    }

    /// The next reads of the index read it again (ChartMuseum's changed with an upload).
    async fn forget_index(&self) {
        *self.index.lock().await = None;
    }

    fn refused_index(&self) -> RegistryError {
        RegistryError::Refused {
            registry: self.t.name().to_string(),
            method: "GET",
            path: format!("{}index.yaml", self.base.path()),
            status: 404,
            code: None,
            message: "no index.yaml: this is not a Helm chart repository".into(),
        }
    }

    fn package_url(&self, entry: &Entry) -> Result<url::Url, RegistryError> {
        let first = entry.urls.first().map(String::as_str).unwrap_or_default();
        index::resolve(&self.base, first).map_err(|e| {
            self.t.invalid(format!(
                "{} {}: its package URL {first:?} is not valid: {e}",
                entry.name, entry.version
            ))
        })
    }

    /// What a version of `read` is built from: a new package under the same URL (an overwrite)
    /// gets a new key from the index's digest, or, where the index gives none, from each read.
    fn key_of(&self, entry: &Entry, read: &IndexRead) -> Result<String, RegistryError> {
        let url = self.package_url(entry)?;
        Ok(match entry.digest_hex() {
            Some(digest) => format!("{url} sha256:{digest}"),
            None => format!("{url} read {}", read.generation),
        })
    }

    /// A package's (or provenance's) bytes, kept when small.
    async fn package(
        &self,
        url: &url::Url,
        key: &str,
        what: &str,
    ) -> Result<Option<Bytes>, RegistryError> {
        let kept = format!("{what} {key}");
        if let Some(bytes) = locked(&self.packages).get(&kept) {
            return Ok(Some(bytes.clone()));
        }
        let optional = what == "provenance";
        let bytes = self
            .fetch(url.clone(), PACKAGE_BYTES, what, optional)
            .await?;
        if let Some(bytes) = bytes.as_ref().filter(|b| b.len() <= KEPT_PACKAGE_BYTES) {
            locked(&self.packages).put(kept, bytes.clone());
        }
        Ok(bytes)
    }

    /// The OCI artifact of `entry`, built once from its package.
    async fn build(&self, entry: &Entry, read: &IndexRead) -> Result<Arc<Built>, RegistryError> {
        let key = self.key_of(entry, read)?;
        if let Some(built) = locked(&self.built).get(&key) {
            return Ok(Arc::clone(built));
        }
        let package_url = self.package_url(entry)?;
        let what = format!("{} {}", entry.name, entry.version);
        let invalid = |why: String| self.t.invalid(format!("the chart {what}: {why}"));
        let bytes = self
            .package(&package_url, &key, "package")
            .await?
            .ok_or_else(|| invalid(format!("its package {package_url} is not there (404)")))?;
        let package_blob = Blob::of(package::CHART_LAYER, &bytes);
        if let Some(said) = entry.digest_hex() {
            if package_blob.digest != format!("sha256:{said}") {
                return Err(invalid(format!(
                    "the index says its package is sha256:{said}, but {package_url} is {}",
                    package_blob.digest
                )));
            }
        }
        let opened = tokio::task::spawn_blocking(move || package::open(&bytes))
            .await
            .map_err(|e| invalid(format!("reading its package stopped: {e}")))?
            .map_err(|e| invalid(e.to_string()))?;
        if opened.metadata.name != entry.name || opened.metadata.version != entry.version {
            return Err(invalid(format!(
                "its package is {} {}, not what the index says",
                opened.metadata.name, opened.metadata.version
            )));
        }
        let provenance_url =
            url::Url::parse(&format!("{package_url}.prov")).map_err(|e| invalid(e.to_string()))?;
        let provenance = self
            .package(&provenance_url, &key, "provenance")
            .await?
            .map(|prov| Blob::of(package::PROVENANCE_LAYER, &prov));
        let created = package::rfc3339(opened.chart_time);
        let artifact = package::artifact(&opened.metadata, package_blob, provenance, &created);
        let built = Arc::new(Built {
            manifest: RawManifest::new(package::MANIFEST, artifact.manifest.clone()),
            config_digest: Digest::sha256(&artifact.config),
            key: key.clone(),
            entry: entry.clone(),
            artifact,
            package_url,
            provenance_url,
        });
        let mut blobs = locked(&self.blobs);
        let named = [
            Some(&built.artifact.package),
            built.artifact.provenance.as_ref(),
        ];
        for digest in (named.into_iter().flatten()).filter_map(|b| Digest::parse(&b.digest).ok()) {
            blobs.put(digest, key.clone());
        }
        blobs.put(built.config_digest.clone(), key.clone());
        blobs.put(built.manifest.digest.clone(), key.clone());
        drop(blobs);
        locked(&self.built).put(key, Arc::clone(&built));
        Ok(built)
    }

    /// The built chart of `repository` that `reference` names: a tag, or a digest of its
    /// manifest or of one of its blobs.
    async fn find(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<Option<Arc<Built>>, RegistryError> {
        let chart = chart_of(repository);
        let read = self.index().await?;
        match reference {
            Reference::Tag(tag) => match read.index.by_tag(chart, tag.as_str()) {
                Some(entry) => Ok(Some(self.build(entry, &read).await?)),
                None => Ok(None),
            },
            Reference::Digest(digest) => self.by_digest(&read, chart, digest).await,
        }
    }

    /// The version of `chart` in the index that `digest` is of: one built already (and still
    /// in the index), the one whose package the index says it is, else each version built in
    /// turn (one that cannot be built is passed over).
    async fn by_digest(
        &self,
        read: &IndexRead,
        chart: &str,
        digest: &Digest,
    ) -> Result<Option<Arc<Built>>, RegistryError> {
        let versions = read.index.versions(chart);
        let current = |built: &Built| {
            versions
                .iter()
                .any(|e| self.key_of(e, read).is_ok_and(|key| key == built.key))
        };
        let known = locked(&self.blobs).get(digest).cloned();
        if let Some(built) = known.and_then(|key| locked(&self.built).get(&key).cloned()) {
            if built.entry.name == chart && current(&built) {
                return Ok(Some(built));
            }
        }
        let said = versions
            .iter()
            .find(|e| e.digest_hex() == Some(digest.encoded()) && digest.algorithm() == "sha256");
        if let Some(entry) = said {
            return Ok(Some(self.build(entry, read).await?));
        }
        for entry in versions {
            match self.build(entry, read).await {
                Ok(built) if built.has(digest) => return Ok(Some(built)),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, chart, "passed over a version that cannot be built")
                }
            }
        }
        Ok(None)
    }

    fn unknown(&self, what: &str, at: String) -> RegistryError {
        RegistryError::Refused {
            registry: self.t.name().to_string(),
            method: "GET",
            path: at,
            status: 404,
            code: Some(ErrorCode::ManifestUnknown),
            message: format!("the chart repository has no {what}"),
        }
    }

    fn read_only(&self) -> RegistryError {
        self.t.invalid(
            "a Helm chart repository takes charts only, through ChartMuseum's upload API; \
             Ferry pushes no OCI manifests or blobs to it"
                .into(),
        )
    }
}

impl ChartRepository {
    /// The manifest `reference` names: a tag's, or the one of that digest (not a blob's).
    async fn manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<Option<RawManifest>, RegistryError> {
        let built = self.find(repository, reference).await?;
        Ok(built
            .filter(|b| !matches!(reference, Reference::Digest(d) if *d != b.manifest.digest))
            .map(|b| b.manifest.clone()))
    }
}

#[async_trait]
impl Manifests for ChartRepository {
    async fn head_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<Option<(Digest, String)>, RegistryError> {
        Ok(self
            .manifest(repository, reference)
            .await?
            .map(|m| (m.digest, m.media_type)))
    }

    async fn get_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<RawManifest, RegistryError> {
        self.manifest(repository, reference)
            .await?
            .ok_or_else(|| self.unknown("such chart version", format!("{repository}:{reference}")))
    }

    async fn put_manifest(
        &self,
        _repository: &Repository,
        _reference: &Reference,
        _manifest: &RawManifest,
    ) -> Result<(), RegistryError> {
        Err(self.read_only())
    }

    /// A replicated deletion: the chart version through ChartMuseum's API.
    async fn delete_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<bool, RegistryError> {
        let Reference::Tag(tag) = reference else {
            return Err(self.t.invalid(
                "a chart repository deletes chart versions by tag, not by digest".into(),
            ));
        };
        let chart = chart_of(repository);
        let read = self.index().await?;
        let version = (read.index.by_tag(chart, tag.as_str()))
            .map(|e| e.version.clone())
            .unwrap_or_else(|| tag.as_str().to_string());
        self.delete_chart(chart, &version).await
    }
}

#[async_trait]
impl Blobs for ChartRepository {
    async fn blob_exists(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let read = self.index().await?;
        let built = self.by_digest(&read, chart_of(repository), digest).await?;
        Ok(built.is_some_and(|b| b.blob(digest).is_some()))
    }

    async fn get_blob_from(
        &self,
        repository: &Repository,
        digest: &Digest,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        let read = self.index().await?;
        let unknown = || self.unknown("such blob", format!("{repository}@{digest}"));
        let built =
            (self.by_digest(&read, chart_of(repository), digest).await?).ok_or_else(unknown)?;
        let bytes = match built.blob(digest).ok_or_else(unknown)? {
            BlobOf::Config => Bytes::from(built.artifact.config.clone()),
            BlobOf::Package => (self
                .package(&built.package_url, &built.key, "package")
                .await?)
                .ok_or_else(unknown)?,
            BlobOf::Provenance => (self
                .package(&built.provenance_url, &built.key, "provenance")
                .await?)
                .ok_or_else(unknown)?,
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let rest = bytes.slice(start..);
        Ok(Box::pin(futures::stream::once(async move { Ok(rest) })))
    }
}

#[async_trait]
impl Uploads for ChartRepository {
    async fn put_blob(
        &self,
        _: &Repository,
        _: &Digest,
        _: u64,
        _: BlobStream,
    ) -> Result<(), RegistryError> {
        Err(self.read_only())
    }

    async fn mount_blob(
        &self,
        _: &Repository,
        _: &Digest,
        _: &Repository,
    ) -> Result<Mount, RegistryError> {
        Err(self.read_only())
    }

    async fn start_upload(&self, _: &Repository) -> Result<UploadSession, RegistryError> {
        Err(self.read_only())
    }

    async fn upload_chunk(
        &self,
        _: &mut UploadSession,
        _: u64,
        _: Bytes,
    ) -> Result<(), RegistryError> {
        Err(self.read_only())
    }

    async fn upload_stream(
        &self,
        _: &mut UploadSession,
        _: BlobStream,
    ) -> Result<u64, RegistryError> {
        Err(self.read_only())
    }

    async fn upload_offset(&self, _: &UploadSession) -> Result<u64, RegistryError> {
        Err(self.read_only())
    }

    async fn finish_upload(&self, _: &UploadSession, _: &Digest) -> Result<(), RegistryError> {
        Err(self.read_only())
    }

    async fn cancel_upload(&self, _: &UploadSession) -> Result<(), RegistryError> {
        Ok(())
    }
}

#[async_trait]
impl Catalog for ChartRepository {
    async fn list_repositories(
        &self,
        page_size: usize,
        last: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let read = self.index().await?;
        // A chart named as no OCI repository can be (upper case, say) cannot be pushed anywhere.
        let names = (read.index.names())
            .filter(|name| {
                let valid = Repository::parse(name).is_ok();
                if !valid {
                    tracing::warn!(
                        chart = name,
                        "passed over a chart whose name is no repository name"
                    );
                }
                valid
            })
            .map(str::to_string)
            .collect();
        Ok(crate::ports::source::names_page(names, last, page_size))
    }

    async fn list_tags(&self, repository: &Repository) -> Result<Vec<String>, RegistryError> {
        let read = self.index().await?;
        Ok(read
            .index
            .versions(chart_of(repository))
            .iter()
            .map(Entry::tag)
            .collect())
    }
}

#[async_trait]
impl Referrers for ChartRepository {
    /// A chart repository has no referrers (its provenance is a layer of the chart).
    async fn list_referrers(
        &self,
        _repository: &Repository,
        _digest: &Digest,
    ) -> Result<Option<Vec<Referrer>>, RegistryError> {
        Ok(Some(Vec::new()))
    }
}

#[async_trait]
impl RegistryClient for ChartRepository {
    fn name(&self) -> &str {
        self.t.name()
    }

    /// The index answers and reads as one.
    async fn check(&self) -> Result<(), RegistryError> {
        self.forget_index().await;
        self.index().await.map(|_| ())
    }

    fn charts(&self) -> Option<&dyn ChartUploads> {
        Some(self)
    }
}
