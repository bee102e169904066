//! A registry in memory, as CNCF distribution behaves: blobs checked against their digest,
//! manifests refused while a blob or child they reference is missing, deletes by digest only,
//! mounts from repositories that hold the blob, resumable upload sessions; a Referrers API
//! when asked for.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use super::{lock, Faults, Injected};
use crate::oci::{media, Digest, RawManifest, Reference, Referrer, Repository, UploadSession};
use crate::ports::registry::{
    BlobAt, BlobStream, Blobs, Catalog, ErrorCode, HandlerAnswer, Manifests, Mount, Referrers,
    RegistryClient, RegistryError, Uploads,
};

/// The size of the pieces a blob is read in.
const PIECE: usize = 16 * 1024;

#[derive(Default)]
struct Repo {
    tags: BTreeMap<String, Digest>,
    manifests: HashMap<Digest, RawManifest>,
    blobs: HashSet<Digest>,
}

#[derive(Default)]
struct State {
    repos: BTreeMap<String, Repo>,
    blobs: HashMap<Digest, Bytes>,
    /// Upload sessions by location: the repository and the bytes received.
    uploads: HashMap<String, (Repository, Vec<u8>)>,
    next_upload: u64,
}

struct Inner {
    name: String,
    state: Mutex<State>,
    faults: Faults,
    referrers_api: bool,
    /// Answers mounts 201 without linking the blob, as a registry does whose source copy of
    /// it was not complete yet.
    lies_on_mounts: std::sync::atomic::AtomicBool,
    /// Commits blobs without checking their bytes against their digest.
    trusts_uploads: std::sync::atomic::AtomicBool,
    /// Mount requests answered.
    mounts: std::sync::atomic::AtomicUsize,
    /// What handler calls answer, in turn (the last one again once they run out; 200 when
    /// none is set), and the calls made: URL and body.
    handler_answers: Mutex<Vec<u16>>,
    handler_calls: Mutex<Vec<(String, Bytes)>>,
    /// The logins reads need, when any are set (otherwise none is needed): user, password and
    /// the namespace it may read (None: all).
    logins: Mutex<Vec<(String, String, Option<String>)>>,
    /// Blob reads are redirected under this URL (as an S3-backed registry redirects them).
    redirects_blobs: Mutex<Option<String>>,
}

/// A registry in memory; clones share it. The second field is the login a client of it
/// presents (what `check` judges).
#[derive(Clone)]
pub struct MemoryRegistry(Arc<Inner>, Option<(String, String)>);

impl MemoryRegistry {
    pub fn new(name: &str) -> Self {
        Self::build(name, false)
    }

    /// One that answers the OCI Referrers API.
    pub fn with_referrers_api(name: &str) -> Self {
        Self::build(name, true)
    }

    fn build(name: &str, referrers_api: bool) -> Self {
        Self(
            Arc::new(Inner {
                name: name.to_string(),
                state: Mutex::default(),
                faults: Faults::default(),
                referrers_api,
                lies_on_mounts: Default::default(),
                trusts_uploads: Default::default(),
                mounts: Default::default(),
                handler_answers: Mutex::default(),
                handler_calls: Mutex::default(),
                logins: Mutex::default(),
                redirects_blobs: Mutex::default(),
            }),
            None,
        )
    }

    /// From now on `check`, manifest HEADs and blob checks need one of the logins accepted
    /// so; `within` limits this one to a namespace (`team` reads `team/...`).
    pub fn accept_login(&self, user: &str, password: &str, within: Option<&str>) {
        lock(&self.0.logins).push((
            user.to_string(),
            password.to_string(),
            within.map(str::to_string),
        ));
    }

    /// Whether the presented login may read `repository` (None: the registry at all).
    fn admits(&self, repository: Option<&str>) -> Result<(), RegistryError> {
        let logins = lock(&self.0.logins);
        if logins.is_empty() {
            return Ok(());
        }
        let Some((user, password)) = &self.1 else {
            return Err(self.refused("GET", "/v2/", 401, "UNAUTHORIZED"));
        };
        let Some((_, _, within)) = logins.iter().find(|(u, p, _)| u == user && p == password)
        else {
            return Err(self.refused("GET", "/v2/", 401, "UNAUTHORIZED"));
        };
        match (within, repository) {
            (Some(namespace), Some(repository))
                if !repository.starts_with(&format!("{namespace}/")) =>
            {
                Err(self.refused("GET", repository, 403, "DENIED"))
            }
            _ => Ok(()),
        }
    }

    /// A client of the same registry presenting this login.
    pub fn presenting(&self, login: Option<(String, String)>) -> Self {
        Self(Arc::clone(&self.0), login)
    }

    /// From now on blob reads answer a redirect under `base` instead of the bytes.
    pub fn redirect_blobs(&self, base: &str) {
        *lock(&self.0.redirects_blobs) = Some(base.to_string());
    }

    /// Handler calls answer these statuses in turn, then the last one.
    pub fn answer_handlers(&self, statuses: &[u16]) {
        *lock(&self.0.handler_answers) = statuses.to_vec();
    }

    /// The handler calls made: URL and body.
    pub fn handler_calls(&self) -> Vec<(String, Bytes)> {
        lock(&self.0.handler_calls).clone()
    }

    /// Requests answered so far, by method of the registry port.
    pub fn calls(&self) -> std::collections::HashMap<&'static str, u32> {
        self.0.faults.all_calls()
    }

    /// The next `times` calls of `operation` (a method of the registry port) fail.
    pub fn fail(&self, operation: &'static str, times: u32, how: Injected) {
        self.0.faults.fail(operation, times, how);
    }

    /// From now on, mounts answer 201 without linking the blob.
    pub fn lie_on_mounts(&self) {
        self.0
            .lies_on_mounts
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// From now on, uploads are committed without their bytes being checked.
    pub fn trust_uploads(&self) {
        self.0
            .trusts_uploads
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Pushes an OCI image of these layers (and a small config) under `tag`; its digest.
    pub fn push_image(&self, repository: &str, tag: &str, layers: &[&[u8]]) -> Digest {
        let config = format!(r#"{{"architecture":"amd64","os":"linux","tag":"{tag}"}}"#);
        let mut descriptors = Vec::new();
        for layer in layers {
            descriptors.push(self.put_blob_bytes(repository, Bytes::copy_from_slice(layer)));
        }
        let config = self.put_blob_bytes(repository, Bytes::from(config));
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
            "layers": descriptors.iter().map(|(digest, size)| serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size,
            })).collect::<Vec<_>>(),
        });
        self.push_manifest(repository, tag, media::OCI_MANIFEST, &manifest)
    }

    /// Pushes an artifact of one layer whose config is `config` of `config_media_type`, with
    /// an OCI 1.1 `artifactType` when given; its digest.
    pub fn push_artifact(
        &self,
        repository: &str,
        tag: &str,
        config_media_type: &str,
        config: &serde_json::Value,
        artifact_type: Option<&str>,
    ) -> Digest {
        let layer = self.put_blob_bytes(repository, Bytes::from(format!("content of {tag}")));
        let config = self.put_blob_bytes(repository, Bytes::from(config.to_string()));
        let mut manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": config_media_type, "digest": config.0, "size": config.1},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer.0, "size": layer.1}],
        });
        if let Some(artifact_type) = artifact_type {
            manifest["artifactType"] = serde_json::json!(artifact_type);
        }
        self.push_manifest(repository, tag, media::OCI_MANIFEST, &manifest)
    }

    /// Stores a manifest document as given and tags it.
    pub fn push_manifest(
        &self,
        repository: &str,
        tag: &str,
        media_type: &str,
        manifest: &serde_json::Value,
    ) -> Digest {
        let raw = RawManifest::new(media_type, serde_json::to_vec(manifest).unwrap_or_default());
        let digest = raw.digest.clone();
        let mut state = lock(&self.0.state);
        let repo = state.repos.entry(repository.to_string()).or_default();
        repo.manifests.insert(digest.clone(), raw);
        repo.tags.insert(tag.to_string(), digest.clone());
        digest
    }

    fn put_blob_bytes(&self, repository: &str, bytes: Bytes) -> (String, usize) {
        let digest = Digest::sha256(&bytes);
        let size = bytes.len();
        let mut state = lock(&self.0.state);
        state.blobs.insert(digest.clone(), bytes);
        state
            .repos
            .entry(repository.to_string())
            .or_default()
            .blobs
            .insert(digest.clone());
        (digest.to_string(), size)
    }

    /// Removes a tag, leaving its manifest stored by digest (as an index's child is).
    pub fn untag(&self, repository: &str, tag: &str) {
        if let Some(repo) = lock(&self.0.state).repos.get_mut(repository) {
            repo.tags.remove(tag);
        }
    }

    /// What `repository:tag` names here, if anything.
    pub fn tagged(&self, repository: &str, tag: &str) -> Option<Digest> {
        lock(&self.0.state)
            .repos
            .get(repository)?
            .tags
            .get(tag)
            .cloned()
    }

    /// Serves other bytes for a blob from now on, as a lying or corrupted registry would.
    pub fn corrupt_blob(&self, digest: &Digest, bytes: &[u8]) {
        lock(&self.0.state)
            .blobs
            .insert(digest.clone(), Bytes::copy_from_slice(bytes));
    }

    /// Upload sessions open (neither finished nor cancelled).
    pub fn open_uploads(&self) -> usize {
        lock(&self.0.state).uploads.len()
    }

    /// How many mounts were asked for.
    pub fn mount_attempts(&self) -> usize {
        self.0.mounts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether `repository` holds the blob.
    pub fn holds_blob(&self, repository: &str, digest: &Digest) -> bool {
        lock(&self.0.state)
            .repos
            .get(repository)
            .is_some_and(|r| r.blobs.contains(digest))
    }

    fn check(&self, operation: &'static str, path: &str) -> Result<(), RegistryError> {
        match self.0.faults.take(operation) {
            None => Ok(()),
            Some(Injected::Transient) => Err(self.transient(operation, path)),
            Some(Injected::Refused(status)) => {
                Err(self.refused(operation, path, status, "refused"))
            }
        }
    }

    fn transient(&self, operation: &'static str, path: &str) -> RegistryError {
        RegistryError::Transient {
            registry: self.0.name.clone(),
            method: operation,
            path: path.to_string(),
            message: "503: injected".into(),
            retry_after: None,
        }
    }

    fn refused(
        &self,
        method: &'static str,
        path: &str,
        status: u16,
        message: &str,
    ) -> RegistryError {
        // The distribution error code the message starts with, as a registry's body names it.
        let first = message.split([' ', ':']).next().unwrap_or_default();
        RegistryError::Refused {
            registry: self.0.name.clone(),
            method,
            path: path.to_string(),
            status,
            code: Some(ErrorCode::of(first)).filter(|c| *c != ErrorCode::Other),
            message: message.to_string(),
        }
    }

    fn lookup(&self, repository: &Repository, reference: &Reference) -> Option<RawManifest> {
        let state = lock(&self.0.state);
        let repo = state.repos.get(repository.as_str())?;
        let digest = match reference {
            Reference::Digest(digest) => digest.clone(),
            Reference::Tag(tag) => repo.tags.get(tag.as_str())?.clone(),
        };
        repo.manifests.get(&digest).cloned()
    }

    /// The digests a manifest needs present first: its blobs, or its children.
    fn missing_references(repo: &Repo, manifest: &RawManifest) -> Result<Vec<Digest>, String> {
        let refs = manifest.references().map_err(|e| e.to_string())?;
        let mut missing: Vec<Digest> = refs
            .manifests
            .iter()
            .map(|c| &c.digest)
            .filter(|d| !repo.manifests.contains_key(*d))
            .cloned()
            .collect();
        missing.extend(
            refs.config
                .iter()
                .chain(refs.layers.iter())
                .filter(|b| !media::is_foreign_layer(&b.media_type))
                .map(|b| &b.digest)
                .filter(|d| !repo.blobs.contains(*d))
                .cloned(),
        );
        Ok(missing)
    }

    fn commit_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        bytes: Vec<u8>,
        path: &str,
    ) -> Result<(), RegistryError> {
        let trusting = self
            .0
            .trusts_uploads
            .load(std::sync::atomic::Ordering::Relaxed);
        if !trusting && &Digest::sha256(&bytes) != digest {
            return Err(self.refused("PUT", path, 400, "DIGEST_INVALID"));
        }
        let mut state = lock(&self.0.state);
        state.blobs.insert(digest.clone(), Bytes::from(bytes));
        state
            .repos
            .entry(repository.to_string())
            .or_default()
            .blobs
            .insert(digest.clone());
        Ok(())
    }

    fn session(&self, repository: &Repository) -> UploadSession {
        let mut state = lock(&self.0.state);
        state.next_upload += 1;
        let location = format!("memory://{}/uploads/{}", self.0.name, state.next_upload);
        state
            .uploads
            .insert(location.clone(), (repository.clone(), Vec::new()));
        UploadSession {
            repository: repository.clone(),
            location,
            min_chunk: 0,
        }
    }

    fn append(&self, session: &UploadSession, bytes: &[u8]) -> Result<u64, RegistryError> {
        let mut state = lock(&self.0.state);
        let (_, held) = state
            .uploads
            .get_mut(&session.location)
            .ok_or_else(|| self.refused("PATCH", &session.location, 404, "BLOB_UPLOAD_UNKNOWN"))?;
        held.extend_from_slice(bytes);
        Ok(held.len() as u64)
    }
}

async fn collect(mut body: BlobStream) -> Result<Vec<u8>, RegistryError> {
    let mut bytes = Vec::new();
    while let Some(piece) = body.next().await {
        bytes.extend_from_slice(&piece?);
    }
    Ok(bytes)
}

#[async_trait]
impl Manifests for MemoryRegistry {
    async fn head_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<Option<(Digest, String)>, RegistryError> {
        self.check("head_manifest", repository.as_str())?;
        self.admits(Some(repository.as_str()))?;
        Ok(self
            .lookup(repository, reference)
            .map(|m| (m.digest, m.media_type)))
    }

    async fn get_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<RawManifest, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        self.check("get_manifest", &path)?;
        self.lookup(repository, reference)
            .ok_or_else(|| self.refused("GET", &path, 404, "MANIFEST_UNKNOWN"))
    }

    async fn put_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
        manifest: &RawManifest,
    ) -> Result<(), RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        self.check("put_manifest", &path)?;
        let mut state = lock(&self.0.state);
        let repo = state.repos.entry(repository.to_string()).or_default();
        let missing = Self::missing_references(repo, manifest)
            .map_err(|e| self.refused("PUT", &path, 400, &format!("MANIFEST_INVALID: {e}")))?;
        if let Some(digest) = missing.first() {
            return Err(self.refused(
                "PUT",
                &path,
                400,
                &format!("MANIFEST_BLOB_UNKNOWN {digest}"),
            ));
        }
        match reference {
            Reference::Digest(digest) if digest != &manifest.digest => {
                return Err(self.refused("PUT", &path, 400, "DIGEST_INVALID"))
            }
            Reference::Digest(_) => {}
            Reference::Tag(tag) => {
                repo.tags.insert(tag.to_string(), manifest.digest.clone());
            }
        }
        repo.manifests
            .insert(manifest.digest.clone(), manifest.clone());
        Ok(())
    }

    async fn delete_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        self.check("delete_manifest", &path)?;
        let Reference::Digest(digest) = reference else {
            return Err(self.refused("DELETE", &path, 405, "UNSUPPORTED"));
        };
        let mut state = lock(&self.0.state);
        let Some(repo) = state.repos.get_mut(repository.as_str()) else {
            return Ok(false);
        };
        repo.tags.retain(|_, d| d != digest);
        Ok(repo.manifests.remove(digest).is_some())
    }
}

#[async_trait]
impl Blobs for MemoryRegistry {
    async fn blob_exists(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        self.check("blob_exists", repository.as_str())?;
        self.admits(Some(repository.as_str()))?;
        Ok(self.holds_blob(repository.as_str(), digest))
    }

    async fn get_blob_from(
        &self,
        repository: &Repository,
        digest: &Digest,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        self.check("get_blob_from", &path)?;
        let state = lock(&self.0.state);
        let bytes = state
            .repos
            .get(repository.as_str())
            .filter(|r| r.blobs.contains(digest))
            .and_then(|_| state.blobs.get(digest))
            .cloned()
            .ok_or_else(|| self.refused("GET", &path, 404, "BLOB_UNKNOWN"))?;
        let rest = bytes.slice(
            usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len())..,
        );
        // In pieces, as bytes arrive from a network.
        let pieces: Vec<Result<Bytes, RegistryError>> = (0..rest.len())
            .step_by(PIECE)
            .map(|at| Ok(rest.slice(at..(at + PIECE).min(rest.len()))))
            .collect();
        Ok(futures::stream::iter(pieces).boxed())
    }
}

#[async_trait]
impl Uploads for MemoryRegistry {
    async fn put_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        size: u64,
        body: BlobStream,
    ) -> Result<(), RegistryError> {
        let path = format!("/v2/{repository}/blobs/uploads/");
        self.check("put_blob", &path)?;
        let bytes = collect(body).await?;
        if bytes.len() as u64 != size {
            return Err(self.refused("PUT", &path, 400, "SIZE_INVALID"));
        }
        self.commit_blob(repository, digest, bytes, &path)
    }

    async fn mount_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        from: &Repository,
    ) -> Result<Mount, RegistryError> {
        self.check("mount_blob", repository.as_str())?;
        self.0
            .mounts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self
            .0
            .lies_on_mounts
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Ok(Mount::Mounted);
        }
        if !self.holds_blob(from.as_str(), digest) {
            return Ok(Mount::NotMounted(self.session(repository)));
        }
        lock(&self.0.state)
            .repos
            .entry(repository.to_string())
            .or_default()
            .blobs
            .insert(digest.clone());
        Ok(Mount::Mounted)
    }

    async fn start_upload(&self, repository: &Repository) -> Result<UploadSession, RegistryError> {
        self.check("start_upload", repository.as_str())?;
        Ok(self.session(repository))
    }

    async fn upload_chunk(
        &self,
        session: &mut UploadSession,
        offset: u64,
        chunk: Bytes,
    ) -> Result<(), RegistryError> {
        self.check("upload_chunk", &session.location)?;
        if self.upload_offset(session).await? != offset {
            return Err(self.refused("PATCH", &session.location, 416, "RANGE_INVALID"));
        }
        self.append(session, &chunk).map(|_| ())
    }

    async fn upload_stream(
        &self,
        session: &mut UploadSession,
        body: BlobStream,
    ) -> Result<u64, RegistryError> {
        self.check("upload_stream", &session.location)?;
        let bytes = collect(body).await?;
        self.append(session, &bytes)
    }

    async fn upload_offset(&self, session: &UploadSession) -> Result<u64, RegistryError> {
        self.check("upload_offset", &session.location)?;
        lock(&self.0.state)
            .uploads
            .get(&session.location)
            .map(|(_, held)| held.len() as u64)
            .ok_or_else(|| self.refused("GET", &session.location, 404, "BLOB_UPLOAD_UNKNOWN"))
    }

    async fn finish_upload(
        &self,
        session: &UploadSession,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        self.check("finish_upload", &session.location)?;
        let (repository, bytes) = lock(&self.0.state)
            .uploads
            .remove(&session.location)
            .ok_or_else(|| self.refused("PUT", &session.location, 404, "BLOB_UPLOAD_UNKNOWN"))?;
        self.commit_blob(&repository, digest, bytes, &session.location)
    }

    async fn cancel_upload(&self, session: &UploadSession) -> Result<(), RegistryError> {
        self.check("cancel_upload", &session.location)?;
        lock(&self.0.state).uploads.remove(&session.location);
        Ok(())
    }
}

#[async_trait]
impl Catalog for MemoryRegistry {
    async fn list_repositories(
        &self,
        page_size: usize,
        last: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        self.check("list_repositories", "/v2/_catalog")?;
        let state = lock(&self.0.state);
        let after: Vec<String> = state
            .repos
            .keys()
            .filter(|name| last.is_none_or(|last| name.as_str() > last))
            .cloned()
            .collect();
        let page: Vec<String> = after.iter().take(page_size).cloned().collect();
        let next = (after.len() > page.len())
            .then(|| page.last().cloned())
            .flatten();
        Ok((page, next))
    }

    async fn list_tags(&self, repository: &Repository) -> Result<Vec<String>, RegistryError> {
        self.check("list_tags", repository.as_str())?;
        Ok(lock(&self.0.state)
            .repos
            .get(repository.as_str())
            .map(|r| r.tags.keys().cloned().collect())
            .unwrap_or_default())
    }
}

#[async_trait]
impl Referrers for MemoryRegistry {
    async fn list_referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<Option<Vec<Referrer>>, RegistryError> {
        self.check("list_referrers", repository.as_str())?;
        if !self.0.referrers_api {
            return Ok(None);
        }
        let state = lock(&self.0.state);
        let Some(repo) = state.repos.get(repository.as_str()) else {
            return Ok(Some(Vec::new()));
        };
        Ok(Some(
            repo.manifests
                .values()
                .filter(|m| {
                    m.references()
                        .ok()
                        .and_then(|r| r.subject)
                        .is_some_and(|s| &s.digest == digest)
                })
                .map(|m| Referrer {
                    media_type: m.media_type.clone(),
                    digest: m.digest.clone(),
                    size: m.bytes.len() as u64,
                    artifact_type: None,
                    annotations: None,
                })
                .collect(),
        ))
    }
}

#[async_trait]
impl RegistryClient for MemoryRegistry {
    fn name(&self) -> &str {
        &self.0.name
    }

    async fn check(&self) -> Result<(), RegistryError> {
        MemoryRegistry::check(self, "check", "/v2/")?;
        self.admits(None)
    }

    async fn locate_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        head: bool,
    ) -> Result<BlobAt, RegistryError> {
        if !self.blob_exists(repository, digest).await? {
            return Ok(BlobAt::Missing);
        }
        let redirect = lock(&self.0.redirects_blobs).clone();
        if let Some(base) = redirect {
            return Ok(BlobAt::Elsewhere {
                location: format!("{base}/{digest}?signature=fake"),
            });
        }
        let size = lock(&self.0.state)
            .blobs
            .get(digest)
            .map(|b| b.len() as u64);
        let body = if head {
            None
        } else {
            Some(self.get_blob_from(repository, digest, 0).await?)
        };
        Ok(BlobAt::Here { size, body })
    }

    async fn call_handler(&self, url: &str, body: Bytes) -> Result<HandlerAnswer, RegistryError> {
        MemoryRegistry::check(self, "call_handler", url)?;
        lock(&self.0.handler_calls).push((url.to_string(), body));
        let mut answers = lock(&self.0.handler_answers);
        let status = match answers.len() {
            0 => 200,
            1 => answers[0],
            _ => answers.remove(0),
        };
        Ok(HandlerAnswer {
            status,
            body: format!("answer {status}"),
        })
    }
}
