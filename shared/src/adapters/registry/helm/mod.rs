//! Helm chart repositories (Ferry's `helm-repository` kind): ChartMuseum, or any HTTP server of
//! an `index.yaml` and the packages it names. Read as a registry: each chart is a repository
//! and each version a tag (`+` written `_`, as `helm push` writes it), whose manifest is the OCI
//! Helm chart `helm push` makes of the package (`package`), built from the package's bytes, so
//! its digest is the same on every run. Written only through ChartMuseum's API
//! (`chartmuseum`); a static repository is read-only.
//!
//! Packages are read whole (they are small; at most [`PACKAGE_BYTES`]) and checked against the
//! index's digest; the last few are kept, so a copy reads its package once.

mod chartmuseum;
mod index;
mod package;
mod source;

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::{Method, StatusCode};

use super::transport::{Call, Transport};
use crate::oci::{Digest, RawManifest, Reference, Referrer, Repository, UploadSession};
use crate::ports::registry::{
    BlobStream, Blobs, Catalog, ChartUploads, ErrorCode, Manifests, Mount, Referrers,
    RegistryClient, RegistryError, Uploads,
};
use index::{Entry, Index};
use package::{Artifact, Blob};

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
    entry: Entry,
    manifest: RawManifest,
    artifact: Artifact,
    package_url: url::Url,
    provenance_url: url::Url,
}

pub struct ChartRepository {
    t: Transport,
    base: url::Url,
    index: tokio::sync::Mutex<Option<(Instant, Arc<Index>)>>,
    /// Built charts by their package URL and the index's word on it.
    built: Mutex<lru::LruCache<String, Arc<Built>>>,
    /// Where each blob of a built chart is: its chart's key.
    blobs: Mutex<lru::LruCache<Digest, String>>,
    packages: Mutex<lru::LruCache<String, Bytes>>,
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
            built: cache(BUILT_KEPT),
            blobs: cache(BUILT_KEPT * 3),
            packages: cache(PACKAGES_KEPT),
        })
    }

    /// GET `url` whole, at most `cap` bytes; None on a 404.
    async fn fetch(
        &self,
        url: url::Url,
        cap: usize,
        what: &str,
    ) -> Result<Option<Bytes>, RegistryError> {
        let path = url.path().to_string();
        let call = Call::new(Method::GET, url, &path, "");
        self.t
            .send(&call, |response| async {
                match response.status() {
                    StatusCode::NOT_FOUND => Ok(None),
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
    async fn index(&self) -> Result<Arc<Index>, RegistryError> {
        let mut kept = self.index.lock().await;
        if let Some((at, index)) = kept.as_ref().filter(|(at, _)| at.elapsed() < INDEX_FRESH) {
            let _ = at;
            return Ok(Arc::clone(index));
        }
        let url = index::resolve(&self.base, "index.yaml")
            .map_err(|e| self.t.invalid(format!("index.yaml: {e}")))?;
        let bytes = self
            .fetch(url, INDEX_BYTES, "index")
            .await?
            .ok_or_else(|| self.refused_index())?;
        let index = Arc::new(Index::parse(&bytes).map_err(|e| self.t.invalid(e.to_string()))?);
        *kept = Some((Instant::now(), Arc::clone(&index)));
        Ok(index)
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

    /// A package's bytes, kept when small.
    async fn package(&self, url: &url::Url, what: &str) -> Result<Option<Bytes>, RegistryError> {
        if let Some(bytes) = locked(&self.packages).get(url.as_str()) {
            return Ok(Some(bytes.clone()));
        }
        let bytes = self.fetch(url.clone(), PACKAGE_BYTES, what).await?;
        if let Some(bytes) = bytes.as_ref().filter(|b| b.len() <= KEPT_PACKAGE_BYTES) {
            locked(&self.packages).put(url.to_string(), bytes.clone());
        }
        Ok(bytes)
    }

    /// The OCI artifact of `entry`, built once from its package.
    async fn build(&self, entry: &Entry) -> Result<Arc<Built>, RegistryError> {
        let package_url = self.package_url(entry)?;
        let key = format!(
            "{package_url} {} {}",
            entry.digest_hex().unwrap_or_default(),
            entry.created.as_deref().unwrap_or_default()
        );
        if let Some(built) = locked(&self.built).get(&key) {
            return Ok(Arc::clone(built));
        }
        let what = format!("{} {}", entry.name, entry.version);
        let invalid = |why: String| self.t.invalid(format!("the chart {what}: {why}"));
        let bytes = self
            .package(&package_url, "package")
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
        let opened = package::open(&bytes).map_err(|e| invalid(e.to_string()))?;
        if opened.metadata.name != entry.name || opened.metadata.version != entry.version {
            return Err(invalid(format!(
                "its package is {} {}, not what the index says",
                opened.metadata.name, opened.metadata.version
            )));
        }
        let provenance_url =
            url::Url::parse(&format!("{package_url}.prov")).map_err(|e| invalid(e.to_string()))?;
        let provenance = self
            .package(&provenance_url, "provenance")
            .await?
            .map(|prov| Blob::of(package::PROVENANCE_LAYER, &prov));
        let created = package::rfc3339(opened.chart_time);
        let artifact = package::artifact(&opened.metadata, package_blob, provenance, &created);
        let manifest = RawManifest::new(package::MANIFEST, artifact.manifest.clone());
        let config_digest = Digest::sha256(&artifact.config);
        let built = Arc::new(Built {
            entry: entry.clone(),
            manifest,
            artifact,
            package_url,
            provenance_url,
        });
        let mut blobs = locked(&self.blobs);
        let named = [
            Some(&built.artifact.package),
            built.artifact.provenance.as_ref(),
        ];
        for digest in named
            .into_iter()
            .flatten()
            .filter_map(|b| Digest::parse(&b.digest).ok())
        {
            blobs.put(digest, key.clone());
        }
        blobs.put(config_digest, key.clone());
        blobs.put(built.manifest.digest.clone(), key.clone());
        drop(blobs);
        locked(&self.built).put(key, Arc::clone(&built));
        Ok(built)
    }

    /// The built chart of `chart` that `reference` names: a tag, or a digest of its manifest
    /// or of one of its blobs.
    async fn find(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<Option<Arc<Built>>, RegistryError> {
        let chart = chart_of(repository);
        let index = self.index().await?;
        match reference {
            Reference::Tag(tag) => match index.by_tag(chart, tag.as_str()) {
                Some(entry) => Ok(Some(self.build(entry).await?)),
                None => Ok(None),
            },
            Reference::Digest(digest) => self.by_digest(&index, chart, digest).await,
        }
    }

    async fn by_digest(
        &self,
        index: &Index,
        chart: &str,
        digest: &Digest,
    ) -> Result<Option<Arc<Built>>, RegistryError> {
        let known = locked(&self.blobs).get(digest).cloned();
        if let Some(built) = known.and_then(|key| locked(&self.built).get(&key).cloned()) {
            if built.entry.name == chart {
                return Ok(Some(built));
            }
        }
        // Not built in this process: the versions of the chart, until one has it.
        for entry in index.versions(chart) {
            let built = self.build(entry).await?;
            if built.has(digest) {
                return Ok(Some(built));
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

impl Built {
    fn has(&self, digest: &Digest) -> bool {
        let text = digest.to_string();
        self.manifest.digest == *digest
            || Digest::sha256(&self.artifact.config) == *digest
            || self.artifact.package.digest == text
            || self
                .artifact
                .provenance
                .as_ref()
                .is_some_and(|p| p.digest == text)
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
            .find(repository, reference)
            .await?
            .filter(|b| !matches!(reference, Reference::Digest(d) if *d != b.manifest.digest))
            .map(|b| (b.manifest.digest.clone(), b.manifest.media_type.clone())))
    }

    async fn get_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<RawManifest, RegistryError> {
        match self.head_manifest(repository, reference).await? {
            Some(_) => {
                let built = self.find(repository, reference).await?;
                built
                    .map(|b| b.manifest.clone())
                    .ok_or_else(|| self.unknown("such chart", format!("{repository}:{reference}")))
            }
            None => Err(self.unknown("such chart version", format!("{repository}:{reference}"))),
        }
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
        let index = self.index().await?;
        let version = index
            .by_tag(chart, tag.as_str())
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
        let index = self.index().await?;
        Ok(self
            .by_digest(&index, repository.as_str(), digest)
            .await?
            .is_some())
    }

    async fn get_blob_from(
        &self,
        repository: &Repository,
        digest: &Digest,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        let index = self.index().await?;
        let built = self
            .by_digest(&index, chart_of(repository), digest)
            .await?
            .ok_or_else(|| self.unknown("such blob", format!("{repository}@{digest}")))?;
        let text = digest.to_string();
        let bytes = if Digest::sha256(&built.artifact.config) == *digest {
            Bytes::from(built.artifact.config.clone())
        } else {
            let (url, what) = if built.artifact.package.digest == text {
                (&built.package_url, "package")
            } else {
                (&built.provenance_url, "provenance")
            };
            self.package(url, what)
                .await?
                .ok_or_else(|| self.unknown(what, url.to_string()))?
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
        let index = self.index().await?;
        let names = index.names().map(str::to_string).collect();
        Ok(crate::ports::source::names_page(names, last, page_size))
    }

    async fn list_tags(&self, repository: &Repository) -> Result<Vec<String>, RegistryError> {
        let index = self.index().await?;
        Ok(index
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
        *self.index.lock().await = None;
        self.index().await.map(|_| ())
    }

    fn charts(&self) -> Option<&dyn ChartUploads> {
        Some(self)
    }
}
