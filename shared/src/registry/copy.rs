//! Copying one artifact between two registries: the logic only, over [`RegistryClient`].
//!
//! Manifests travel as the raw bytes read, so every digest at the destination is the source's.
//! Children of an index go first (by digest), blobs before the manifest that references them,
//! the tag last. Blobs the destination holds already are skipped after a HEAD.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use futures::StreamExt;

use crate::messages::CopyOptions;
use crate::model::TransferFigures;
use std::time::Duration;

use bytes::BytesMut;

use crate::ports::registry::{
    BlobLocations, Mount, RawManifest, RegistryClient, RegistryError, UploadSession,
};
use crate::registry::media::{self, Descriptor, ManifestRefs};
use crate::registry::pool::BlobSlots;

/// Blobs of one artifact copied at once (and, across artifacts, no more than the registries'
/// [`BlobSlots`] allow).
const BLOB_PARALLELISM: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Unsupported(String),
    #[error("stopped: the execution was stopped")]
    Stopped,
    /// The invocation's time is nearly up; the copy goes on from `Checkpoint`.
    #[error("out of time in this invocation; {} uploads to resume", .0.uploads.len())]
    OutOfTime(Checkpoint),
}

impl CopyError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Registry(e) if e.is_transient())
    }
}

/// Where an artifact comes from and where it goes.
#[derive(Clone, Copy)]
pub struct CopyJob<'a> {
    pub src: &'a dyn RegistryClient,
    pub src_repository: &'a str,
    pub src_reference: &'a str,
    pub dst: &'a dyn RegistryClient,
    pub dst_repository: &'a str,
    /// The tag to write, or the digest when the artifact is copied by digest.
    pub dst_reference: &'a str,
    pub options: CopyOptions,
    /// Asked between blobs and between chunks: true ends the copy with [`CopyError::Stopped`].
    pub stop: Option<&'a StopCheck>,
    /// Where the destination registry (`dst_registry_id`) holds blobs already, to mount from.
    pub locations: Option<&'a dyn BlobLocations>,
    pub dst_registry_id: i64,
    /// Source and destination are one registry: blobs mount from the source repository.
    pub same_registry: bool,
    /// When to stop and leave a checkpoint (the invocation's deadline less a margin).
    pub deadline: Option<std::time::Instant>,
    /// Uploads an earlier invocation left, to go on with.
    pub resume: Option<&'a Checkpoint>,
    /// Platforms to keep in a multi-arch index (`os/arch[/variant]`); empty keeps all.
    pub platforms: &'a [String],
    /// The bound on blob copies at the two registries, shared with other copies; None for none.
    pub slots: Option<&'a BlobSlots>,
}

/// The index without the platforms not asked for. Unchanged bytes (and digest) when nothing is
/// dropped; otherwise a new index document, so a new digest, as the policy's documentation says.
pub fn filter_platforms(
    manifest: RawManifest,
    platforms: &[String],
) -> Result<RawManifest, CopyError> {
    if platforms.is_empty() || !media::is_index(&manifest.media_type) {
        return Ok(manifest);
    }
    let mut index: serde_json::Value = serde_json::from_slice(&manifest.bytes)
        .map_err(|e| CopyError::Unsupported(format!("{}: not an index: {e}", manifest.digest)))?;
    let Some(children) = index.get_mut("manifests").and_then(|m| m.as_array_mut()) else {
        return Ok(manifest);
    };
    let before = children.len();
    children.retain(|child| {
        let platform = &child["platform"];
        let os = platform["os"].as_str().unwrap_or_default();
        let arch = platform["architecture"].as_str().unwrap_or_default();
        let variant = platform["variant"].as_str().unwrap_or_default();
        platforms.iter().any(|wanted| {
            let parts: Vec<&str> = wanted.split('/').collect();
            parts.first() == Some(&os)
                && parts.get(1) == Some(&arch)
                && parts.get(2).is_none_or(|v| *v == variant)
        })
    });
    if children.len() == before {
        return Ok(manifest);
    }
    if children.is_empty() {
        return Err(CopyError::Unsupported(format!(
            "{} has none of the platforms {}",
            manifest.digest,
            platforms.join(", ")
        )));
    }
    let bytes = serde_json::to_vec(&index)
        .map_err(|e| CopyError::Unsupported(format!("{}: {e}", manifest.digest)))?;
    use sha2::Digest as _;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
    Ok(RawManifest {
        media_type: manifest.media_type,
        digest,
        bytes: bytes.into(),
    })
}

fn out_of_time(job: &CopyJob<'_>) -> bool {
    job.deadline.is_some_and(|d| std::time::Instant::now() >= d)
}

/// What a copy that ran out of time leaves for the next invocation: the chunked uploads under
/// way, by blob digest. Finished blobs need nothing: the destination has them.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub uploads: std::collections::BTreeMap<String, UploadSession>,
    /// Invocations this copy has continued into so far.
    pub continuations: u32,
}

/// Whether the copy should stop now (its execution was stopped).
pub type StopCheck = dyn Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync;

async fn check_stop(job: &CopyJob<'_>) -> Result<(), CopyError> {
    match job.stop {
        Some(stop) if stop().await => Err(CopyError::Stopped),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOutcome {
    Copied {
        digest: String,
        figures: TransferFigures,
    },
    /// Nothing was written; the reason says why.
    Skipped { digest: String, reason: String },
}

#[derive(Default)]
struct Counters {
    bytes: AtomicI64,
    copied: AtomicI64,
    skipped: AtomicI64,
    mounted: AtomicI64,
    throttle: Option<Arc<Throttle>>,
}

/// A task's bandwidth limit (the policy's `speed`, KiB/s), shared by all its blobs: bytes pass
/// no faster than the rate, measured from the start of the copy.
pub struct Throttle {
    bytes_per_second: f64,
    start: std::time::Instant,
    sent: std::sync::Mutex<u64>,
}

impl Throttle {
    /// None for 0 or less: unlimited.
    pub fn new(speed_kib: i32) -> Option<Arc<Self>> {
        (speed_kib > 0).then(|| {
            Arc::new(Self {
                bytes_per_second: f64::from(speed_kib) * 1024.0,
                start: std::time::Instant::now(),
                sent: std::sync::Mutex::new(0),
            })
        })
    }

    /// Waits until `bytes` more fit under the rate.
    pub async fn pass(&self, bytes: u64) {
        let due = {
            let mut sent = self
                .sent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *sent += bytes;
            Duration::from_secs_f64(*sent as f64 / self.bytes_per_second)
        };
        let wait = due.saturating_sub(self.start.elapsed());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The source stream, paced by the task's throttle when it has one.
fn paced(
    stream: crate::ports::registry::BlobStream,
    throttle: Option<Arc<Throttle>>,
) -> crate::ports::registry::BlobStream {
    match throttle {
        None => stream,
        Some(throttle) => stream
            .then(move |piece| {
                let throttle = Arc::clone(&throttle);
                async move {
                    if let Ok(bytes) = &piece {
                        throttle.pass(bytes.len() as u64).await;
                    }
                    piece
                }
            })
            .boxed(),
    }
}

/// Copies the artifact, then what refers to it: OCI 1.1 referrers (through the Referrers API,
/// or the `sha256-<hex>` fallback tag when the source has no API) and cosign's `.sig`, `.att`
/// and `.sbom` tags. Referrers are copied also when the artifact itself was already there, so
/// a signature added later still follows its image.
pub async fn copy_artifact(
    job: &CopyJob<'_>,
    log: &mut Vec<String>,
) -> Result<CopyOutcome, CopyError> {
    let outcome = copy_one(job, log).await?;
    let (digest, mut figures) = match &outcome {
        CopyOutcome::Copied { digest, figures } => (digest.clone(), *figures),
        CopyOutcome::Skipped { digest, reason } if reason.contains("same digest") => {
            (digest.clone(), TransferFigures::default())
        }
        CopyOutcome::Skipped { .. } => return Ok(outcome),
    };
    let referrers_copied = copy_referrers(job, &digest, &mut figures, log, 0).await?;
    Ok(match outcome {
        CopyOutcome::Skipped { .. } if referrers_copied => CopyOutcome::Copied { digest, figures },
        CopyOutcome::Copied { .. } => CopyOutcome::Copied { digest, figures },
        skipped => skipped,
    })
}

/// Referrers of referrers (a signature on an SBOM) follow too, this many levels down.
const REFERRER_DEPTH: usize = 3;

/// Copies what refers to `subject`; true when anything was written at the destination.
async fn copy_referrers(
    job: &CopyJob<'_>,
    subject: &str,
    figures: &mut TransferFigures,
    log: &mut Vec<String>,
    depth: usize,
) -> Result<bool, CopyError> {
    check_stop(job).await?;
    let Some((fallback_tag, cosign_tags)) = referrer_tags(subject)
        .split_first()
        .map(|(f, c)| (f.clone(), c.to_vec()))
    else {
        return Ok(false);
    };
    // Asked all at once: most artifacts have none, and each answer is a round trip.
    let (api, fallback, cosign) = tokio::join!(
        job.src.list_referrers(job.src_repository, subject),
        job.src.head_manifest(job.src_repository, &fallback_tag),
        futures::future::join_all(
            cosign_tags
                .iter()
                .map(|tag| job.src.head_manifest(job.src_repository, tag)),
        )
    );
    let (referrers, source_index) = match (api?, fallback?) {
        (Some(listed), _) => (listed, None),
        (None, Some(_)) => {
            let index = job
                .src
                .get_manifest(job.src_repository, &fallback_tag)
                .await?;
            let listed: media::ReferrerList =
                serde_json::from_slice(&index.bytes).map_err(|e| {
                    CopyError::Unsupported(format!(
                        "{fallback_tag}: the referrers fallback tag is not an index: {e}"
                    ))
                })?;
            (listed.manifests, Some(index))
        }
        (None, None) => (Vec::new(), None),
    };
    let mut wrote = false;
    for referrer in &referrers {
        check_stop(job).await?;
        let by_digest = CopyJob {
            src_reference: &referrer.digest,
            dst_reference: &referrer.digest,
            platforms: &[],
            ..*job
        };
        wrote |= copy_referrer(&by_digest, &referrer.digest, figures, log).await?;
        if depth + 1 < REFERRER_DEPTH {
            wrote |= Box::pin(copy_referrers(
                job,
                &referrer.digest,
                figures,
                log,
                depth + 1,
            ))
            .await?;
        }
    }
    if !referrers.is_empty() {
        wrote |=
            keep_fallback_tag(job, subject, &fallback_tag, &referrers, source_index, log).await?;
    }
    for (tag, found) in cosign_tags.iter().zip(cosign) {
        if found?.is_none() {
            continue;
        }
        check_stop(job).await?;
        let by_tag = CopyJob {
            src_reference: tag,
            dst_reference: tag,
            platforms: &[],
            ..*job
        };
        wrote |= copy_referrer(&by_tag, tag, figures, log).await?;
    }
    Ok(wrote)
}

/// Copies one referrer manifest and adds its figures; true when it was written.
async fn copy_referrer(
    job: &CopyJob<'_>,
    name: &str,
    figures: &mut TransferFigures,
    log: &mut Vec<String>,
) -> Result<bool, CopyError> {
    match copy_one(job, log).await? {
        CopyOutcome::Copied {
            digest,
            figures: more,
        } => {
            log.push(format!("referrer {name} copied ({digest})"));
            figures.bytes_copied += more.bytes_copied;
            figures.blobs_copied += more.blobs_copied;
            figures.blobs_skipped += more.blobs_skipped;
            figures.blobs_mounted += more.blobs_mounted;
            Ok(true)
        }
        CopyOutcome::Skipped { reason, .. } => {
            log.push(format!("referrer {name} skipped: {reason}"));
            Ok(false)
        }
    }
}

/// At a destination without the Referrers API, the fallback tag's index lists every referrer
/// of the subject: the source's index as is when the destination has none (same digest), else
/// the destination's index with the missing entries added, so referrers pushed there directly
/// are kept. A destination with the API indexes the referrers itself from their `subject`.
async fn keep_fallback_tag(
    job: &CopyJob<'_>,
    subject: &str,
    fallback_tag: &str,
    referrers: &[media::Referrer],
    source_index: Option<RawManifest>,
    log: &mut Vec<String>,
) -> Result<bool, CopyError> {
    if job
        .dst
        .list_referrers(job.dst_repository, subject)
        .await?
        .is_some()
    {
        log.push(format!(
            "the destination lists the referrers of {subject} itself (Referrers API)"
        ));
        return Ok(false);
    }
    let held = match job
        .dst
        .head_manifest(job.dst_repository, fallback_tag)
        .await?
    {
        Some(_) => Some(
            job.dst
                .get_manifest(job.dst_repository, fallback_tag)
                .await?,
        ),
        None => None,
    };
    let held_digest = held.as_ref().map(|h| h.digest.clone());
    let index = match (held, source_index) {
        (None, Some(source_index)) => source_index,
        (held, _) => {
            let mut listed = match &held {
                Some(held) => serde_json::from_slice::<media::ReferrerList>(&held.bytes)
                    .map(|l| l.manifests)
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            let before = listed.len();
            for referrer in referrers {
                if !listed.iter().any(|r| r.digest == referrer.digest) {
                    listed.push(referrer.clone());
                }
            }
            if held.is_some() && listed.len() == before {
                return Ok(false);
            }
            let bytes = media::referrers_index(&listed)
                .map_err(|e| CopyError::Unsupported(format!("{fallback_tag}: {e}")))?;
            use sha2::Digest as _;
            RawManifest {
                media_type: media::OCI_INDEX.to_string(),
                digest: format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes))),
                bytes: bytes.into(),
            }
        }
    };
    if held_digest.as_deref() == Some(index.digest.as_str()) {
        return Ok(false);
    }
    job.dst
        .put_manifest(job.dst_repository, fallback_tag, &index)
        .await?;
    log.push(format!(
        "referrers of {subject} listed under {fallback_tag} at the destination ({})",
        index.digest
    ));
    Ok(true)
}

/// The tags under which referrers of `digest` live when a registry has no Referrers API: the
/// OCI 1.1 fallback index first, then cosign's signature, attestation and SBOM tags.
pub fn referrer_tags(digest: &str) -> Vec<String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Vec::new();
    };
    let base = format!("{algorithm}-{hex}");
    vec![
        base.clone(),
        format!("{base}.sig"),
        format!("{base}.att"),
        format!("{base}.sbom"),
    ]
}

async fn copy_one(job: &CopyJob<'_>, log: &mut Vec<String>) -> Result<CopyOutcome, CopyError> {
    // The source manifest and what the destination holds under the tag, in one round trip.
    let (read, held) = tokio::join!(
        job.src.get_manifest(job.src_repository, job.src_reference),
        job.dst.head_manifest(job.dst_repository, job.dst_reference)
    );
    let read = read?;
    let original = read.digest.clone();
    let source = filter_platforms(read, job.platforms)?;
    if source.digest != original {
        log.push(format!(
            "index {original} filtered to {}: {}",
            job.platforms.join(", "),
            source.digest
        ));
    }
    log.push(format!(
        "source {}/{}:{} is {} ({})",
        job.src.name(),
        job.src_repository,
        job.src_reference,
        source.digest,
        source.media_type
    ));
    if let Some((existing, _)) = held? {
        if existing == source.digest {
            return Ok(CopyOutcome::Skipped {
                digest: existing,
                reason: "the destination has the same digest".into(),
            });
        }
        if !job.options.override_ {
            return Ok(CopyOutcome::Skipped {
                digest: source.digest,
                reason: format!("the destination holds {existing} and override is off"),
            });
        }
        log.push(format!("destination holds {existing}: overriding"));
    }
    let counters = Counters {
        throttle: Throttle::new(job.options.speed),
        ..Counters::default()
    };
    copy_tree(job, &source, &counters, log, 0).await?;
    job.dst
        .put_manifest(job.dst_repository, job.dst_reference, &source)
        .await?;
    log.push(format!(
        "pushed manifest {} as {}/{}:{}",
        source.digest,
        job.dst.name(),
        job.dst_repository,
        job.dst_reference
    ));
    Ok(CopyOutcome::Copied {
        digest: source.digest,
        figures: TransferFigures {
            bytes_copied: counters.bytes.load(Ordering::Relaxed),
            blobs_copied: counters.copied.load(Ordering::Relaxed),
            blobs_skipped: counters.skipped.load(Ordering::Relaxed),
            blobs_mounted: counters.mounted.load(Ordering::Relaxed),
        },
    })
}

/// Copies everything `manifest` references, children first; not the manifest itself.
async fn copy_tree(
    job: &CopyJob<'_>,
    manifest: &RawManifest,
    counters: &Counters,
    log: &mut Vec<String>,
    depth: usize,
) -> Result<(), CopyError> {
    if depth > 4 {
        return Err(CopyError::Unsupported(format!(
            "{}: indexes nested too deeply",
            manifest.digest
        )));
    }
    if manifest.media_type == media::DOCKER_SCHEMA1
        || manifest.media_type == media::DOCKER_SCHEMA1_SIGNED
    {
        return Err(CopyError::Unsupported(format!(
            "{} is a Docker schema1 manifest, which Ferry does not copy; convert it to schema2 or OCI",
            manifest.digest
        )));
    }
    let refs: ManifestRefs = serde_json::from_slice(&manifest.bytes).map_err(|e| {
        CopyError::Unsupported(format!(
            "{} is not a manifest Ferry can read: {e}",
            manifest.digest
        ))
    })?;
    if media::is_index(&manifest.media_type) || !refs.manifests.is_empty() {
        for child in &refs.manifests {
            let child_manifest = job
                .src
                .get_manifest(job.src_repository, &child.digest)
                .await?;
            Box::pin(copy_tree(job, &child_manifest, counters, log, depth + 1)).await?;
            job.dst
                .put_manifest(job.dst_repository, &child.digest, &child_manifest)
                .await?;
            log.push(format!("pushed child manifest {}", child.digest));
        }
        return Ok(());
    }
    let blobs: Vec<&Descriptor> = refs.config.iter().chain(refs.layers.iter()).collect();
    let results: Vec<Result<String, CopyError>> = futures::stream::iter(blobs)
        .map(|blob| copy_blob(job, blob, counters))
        .buffer_unordered(BLOB_PARALLELISM)
        .collect()
        .await;
    // Out of time everywhere it failed: one checkpoint with every upload under way.
    let mut lines = Vec::new();
    let mut checkpoint: Option<Checkpoint> = None;
    let mut failure: Option<CopyError> = None;
    for result in results {
        match result {
            Ok(line) => lines.push(line),
            Err(CopyError::OutOfTime(part)) => checkpoint
                .get_or_insert_with(Checkpoint::default)
                .uploads
                .extend(part.uploads),
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    lines.sort();
    log.extend(lines);
    match (failure, checkpoint) {
        (Some(e), _) => Err(e),
        (None, Some(checkpoint)) => Err(CopyError::OutOfTime(checkpoint)),
        (None, None) => Ok(()),
    }
}

async fn copy_blob(
    job: &CopyJob<'_>,
    blob: &Descriptor,
    counters: &Counters,
) -> Result<String, CopyError> {
    check_stop(job).await?;
    if media::is_foreign_layer(&blob.media_type) {
        return Ok(format!(
            "blob {} is a foreign layer: not copied",
            blob.digest
        ));
    }
    let _slots = match job.slots {
        Some(slots) => slots.acquire().await,
        None => Vec::new(),
    };
    // A blob Ferry saw in another repository of the destination is mounted straight away: one
    // request whether or not the repository has it already. Otherwise a HEAD says whether to copy.
    let from = mount_source(job, blob).await;
    if from.is_none()
        && job
            .dst
            .blob_exists(job.dst_repository, &blob.digest)
            .await?
    {
        counters.skipped.fetch_add(1, Ordering::Relaxed);
        return Ok(format!("blob {} exists at the destination", blob.digest));
    }
    if let Some(from) = from {
        match job
            .dst
            .mount_blob(job.dst_repository, &blob.digest, &from)
            .await
        {
            Ok(Mount::Mounted) => {
                counters.mounted.fetch_add(1, Ordering::Relaxed);
                record(job, blob).await;
                return Ok(format!("blob {} mounted from {from}", blob.digest));
            }
            // 202: not mounted; the session it opened is left to expire, the copy opens its own.
            Ok(Mount::NotMounted(_)) => {}
            Err(e) => tracing::info!(error = %e, digest = %blob.digest, "mount failed; copying"),
        }
        if job
            .dst
            .blob_exists(job.dst_repository, &blob.digest)
            .await?
        {
            counters.skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(format!("blob {} exists at the destination", blob.digest));
        }
    }
    let how = if blob.size <= MONOLITHIC_MAX && !job.options.copy_by_chunk {
        copy_whole(job, blob, counters).await?
    } else {
        copy_in_chunks(job, blob, counters).await?
    };
    counters.copied.fetch_add(1, Ordering::Relaxed);
    counters
        .bytes
        .fetch_add(blob.size as i64, Ordering::Relaxed);
    record(job, blob).await;
    Ok(format!(
        "blob {} copied ({} bytes, {how})",
        blob.digest, blob.size
    ))
}

/// A repository of the destination registry that holds the blob: the source repository when
/// both are one registry, else where Ferry recorded it (never the destination repository).
async fn mount_source(job: &CopyJob<'_>, blob: &Descriptor) -> Option<String> {
    if job.same_registry && job.src_repository != job.dst_repository {
        return Some(job.src_repository.to_string());
    }
    let found = job
        .locations?
        .find_blob(job.dst_registry_id, &blob.digest)
        .await?;
    (found != job.dst_repository).then_some(found)
}

async fn record(job: &CopyJob<'_>, blob: &Descriptor) {
    if let Some(locations) = job.locations {
        locations
            .record_blob(job.dst_registry_id, &blob.digest, job.dst_repository)
            .await;
    }
}

/// Blobs up to this size go in one streamed PUT, unless the policy asks for chunks.
const MONOLITHIC_MAX: u64 = 32 * 1024 * 1024;
/// Chunk size of chunked uploads (raised to the registry's `OCI-Chunk-Min-Length`).
const CHUNK_BYTES: usize = 8 * 1024 * 1024;
/// Interruptions a blob copy survives before its task fails (or its message is retried).
const BLOB_ATTEMPTS: u32 = 8;

/// Waits before another attempt: the registry's `Retry-After`, or exponential with jitter.
async fn pause(attempt: u32, error: &RegistryError) {
    let backoff = Duration::from_millis(200u64.saturating_mul(1 << attempt.min(6)));
    let jitter = Duration::from_millis((uuid::Uuid::new_v4().as_u128() % 200) as u64);
    let wait = error
        .retry_after()
        .unwrap_or(backoff + jitter)
        .min(Duration::from_secs(30));
    tracing::warn!(error = %error, ?wait, attempt, "blob copy interrupted; resuming");
    tokio::time::sleep(wait).await;
}

/// One streamed GET into one streamed PUT; an interruption starts the blob over.
async fn copy_whole(
    job: &CopyJob<'_>,
    blob: &Descriptor,
    counters: &Counters,
) -> Result<&'static str, CopyError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = match job
            .src
            .get_blob_from(job.src_repository, &blob.digest, 0)
            .await
        {
            Ok(stream) => {
                let stream = paced(stream, counters.throttle.clone());
                job.dst
                    .put_blob(job.dst_repository, &blob.digest, blob.size, stream)
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => return Ok("whole"),
            Err(e) if e.is_transient() && attempt < BLOB_ATTEMPTS => {
                pause(attempt, &e).await;
                // The upload may have landed before the answer was lost.
                if job
                    .dst
                    .blob_exists(job.dst_repository, &blob.digest)
                    .await?
                {
                    return Ok("whole");
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// An upload session that resumes: after an interruption on either side the source is read
/// again from the offset the destination reports holding (`Range`), into the same session.
/// Sent as fixed-size chunks when the policy asks for them (`copy_by_chunk`), otherwise as one
/// streamed request, which is as fast as a pipe and still resumable.
async fn copy_in_chunks(
    job: &CopyJob<'_>,
    blob: &Descriptor,
    counters: &Counters,
) -> Result<&'static str, CopyError> {
    let resumed = job
        .resume
        .and_then(|c| c.uploads.get(&blob.digest))
        .cloned();
    let (mut session, mut offset) = match resumed {
        Some(session) => match job.dst.upload_offset(&session).await {
            Ok(held) if held > 0 => {
                tracing::info!(digest = %blob.digest, held, location = %session.location, "resuming an upload");
                (session, held)
            }
            _ => (job.dst.start_upload(job.dst_repository).await?, 0),
        },
        None => (job.dst.start_upload(job.dst_repository).await?, 0),
    };
    let chunk_size = CHUNK_BYTES.max(usize::try_from(session.min_chunk).unwrap_or(usize::MAX));
    let mut interruptions = 0;
    while offset < blob.size {
        let sent = if job.options.copy_by_chunk {
            send_from(job, blob, &mut session, &mut offset, chunk_size, counters).await
        } else {
            stream_from(job, blob, &mut session, &mut offset, counters).await
        };
        let interruption = match sent {
            Ok(()) => break,
            Err(CopyError::Registry(e)) if e.is_transient() => e,
            // Out of time: the next invocation goes on with this session.
            Err(CopyError::OutOfTime(_)) => {
                let mut checkpoint = Checkpoint::default();
                checkpoint.uploads.insert(blob.digest.clone(), session);
                return Err(CopyError::OutOfTime(checkpoint));
            }
            Err(e) => return Err(e),
        };
        interruptions += 1;
        if interruptions >= BLOB_ATTEMPTS {
            return Err(interruption.into());
        }
        pause(interruptions, &interruption).await;
        offset = match job.dst.upload_offset(&session).await {
            Ok(held) if held > 0 => held,
            // Nothing held, or the session is gone: a new session from the beginning.
            Ok(_) | Err(RegistryError::Refused { .. }) => {
                session = job.dst.start_upload(job.dst_repository).await?;
                0
            }
            Err(e) => return Err(e.into()),
        };
    }
    job.dst.finish_upload(&session, &blob.digest).await?;
    Ok(if interruptions > 0 {
        "chunked, resumed"
    } else {
        "chunked"
    })
}

/// Streams the source from `offset` and sends it in chunks, moving `offset` past every chunk
/// the destination accepted.
async fn send_from(
    job: &CopyJob<'_>,
    blob: &Descriptor,
    session: &mut UploadSession,
    offset: &mut u64,
    chunk_size: usize,
    counters: &Counters,
) -> Result<(), CopyError> {
    let stream = job
        .src
        .get_blob_from(job.src_repository, &blob.digest, *offset)
        .await?;
    let mut reader = ChunkReader {
        stream: paced(stream, counters.throttle.clone()),
        carry: BytesMut::new(),
        chunk_size,
    };
    // Pipelined: the next chunk is read from the source while this one goes to the
    // destination, so neither side waits for the other (two chunks in memory at most).
    let mut chunk = reader.next_chunk().await?;
    // Every invocation sends at least one chunk before it may run out of time: progress is
    // certain, however short the time left.
    let mut sent_here = false;
    while !chunk.is_empty() {
        check_stop(job).await?;
        if sent_here && out_of_time(job) {
            return Err(CopyError::OutOfTime(Checkpoint::default()));
        }
        let length = chunk.len() as u64;
        let (sent, next) = tokio::join!(
            job.dst.upload_chunk(session, *offset, chunk),
            reader.next_chunk()
        );
        sent?;
        *offset += length;
        sent_here = true;
        chunk = next?;
    }
    if *offset != blob.size {
        return Err(RegistryError::Invalid {
            registry: job.src.name().to_string(),
            what: format!(
                "blob {} ended at {} of {} bytes",
                blob.digest, offset, blob.size
            ),
        }
        .into());
    }
    Ok(())
}

/// How often a streamed upload looks at the deadline, and every how many looks at the stop flag.
const STREAM_WATCH: Duration = Duration::from_millis(100);
const STOP_EVERY_WATCHES: u32 = 20;

/// Streams the source from `offset` into the session in one request, moving `offset` to what the
/// destination holds. The stream is cut short (at a piece boundary, so the session stays sound)
/// when the execution is stopped or the invocation runs out of time, once at least one chunk's
/// worth went through in this invocation, so progress is certain.
async fn stream_from(
    job: &CopyJob<'_>,
    blob: &Descriptor,
    session: &mut UploadSession,
    offset: &mut u64,
    counters: &Counters,
) -> Result<(), CopyError> {
    check_stop(job).await?;
    let stream = job
        .src
        .get_blob_from(job.src_repository, &blob.digest, *offset)
        .await?;
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (cut, cut_here) = tokio::sync::oneshot::channel::<()>();
    let counted = Arc::clone(&sent);
    let body = paced(stream, counters.throttle.clone())
        .inspect(move |piece| {
            if let Ok(piece) = piece {
                counted.fetch_add(piece.len() as u64, Ordering::Relaxed);
            }
        })
        .take_until(cut_here)
        .boxed();
    let mut why: Option<CopyError> = None;
    let held = {
        let upload = job.dst.upload_stream(session, body);
        tokio::pin!(upload);
        let mut cut = Some(cut);
        let mut watches = 0u32;
        loop {
            tokio::select! {
                held = &mut upload => break held?,
                () = tokio::time::sleep(STREAM_WATCH), if cut.is_some() => {
                    watches += 1;
                    if sent.load(Ordering::Relaxed) < CHUNK_BYTES as u64 {
                        continue;
                    }
                    if out_of_time(job) {
                        why = Some(CopyError::OutOfTime(Checkpoint::default()));
                    } else if watches % STOP_EVERY_WATCHES == 0 {
                        if let Err(stopped) = check_stop(job).await {
                            why = Some(stopped);
                        }
                    }
                    if why.is_some() {
                        if let Some(cut) = cut.take() {
                            let _ = cut.send(());
                        }
                    }
                }
            }
        }
    };
    *offset = held;
    if *offset >= blob.size {
        return Ok(());
    }
    match why {
        Some(reason) => Err(reason),
        None => Err(RegistryError::Transient {
            registry: job.dst.name().to_string(),
            method: "PATCH",
            path: session.location.clone(),
            message: format!(
                "blob {} upload ended at {} of {} bytes",
                blob.digest, offset, blob.size
            ),
            retry_after: None,
        }
        .into()),
    }
}

/// Cuts a blob stream into chunks of `chunk_size` bytes (the last one shorter, then empty).
struct ChunkReader {
    stream: crate::ports::registry::BlobStream,
    carry: BytesMut,
    chunk_size: usize,
}

impl ChunkReader {
    async fn next_chunk(&mut self) -> Result<bytes::Bytes, RegistryError> {
        while self.carry.len() < self.chunk_size {
            match self.stream.next().await {
                Some(piece) => self.carry.extend_from_slice(&piece?),
                None => break,
            }
        }
        let take = self.carry.len().min(self.chunk_size);
        Ok(self.carry.split_to(take).freeze())
    }
}
