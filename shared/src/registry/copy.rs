//! Copying one artifact between two registries: the logic only, over [`RegistryClient`].
//!
//! Manifests travel as the raw bytes read, so every digest at the destination is the source's.
//! Children of an index go first (by digest), blobs before the manifest that references them,
//! the tag last. Blobs the destination holds already are skipped after a HEAD.

use std::sync::atomic::{AtomicI64, Ordering};

use futures::{StreamExt, TryStreamExt};

use crate::messages::CopyOptions;
use crate::model::TransferFigures;
use crate::ports::registry::{RawManifest, RegistryClient, RegistryError};
use crate::registry::media::{self, Descriptor, ManifestRefs};

/// Blobs of one artifact copied at once.
const BLOB_PARALLELISM: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Unsupported(String),
}

impl CopyError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Registry(e) if e.is_transient())
    }
}

/// Where an artifact comes from and where it goes.
pub struct CopyJob<'a> {
    pub src: &'a dyn RegistryClient,
    pub src_repository: &'a str,
    pub src_reference: &'a str,
    pub dst: &'a dyn RegistryClient,
    pub dst_repository: &'a str,
    /// The tag to write, or the digest when the artifact is copied by digest.
    pub dst_reference: &'a str,
    pub options: CopyOptions,
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
}

pub async fn copy_artifact(
    job: &CopyJob<'_>,
    log: &mut Vec<String>,
) -> Result<CopyOutcome, CopyError> {
    let source = job
        .src
        .get_manifest(job.src_repository, job.src_reference)
        .await?;
    log.push(format!(
        "source {}/{}:{} is {} ({})",
        job.src.name(),
        job.src_repository,
        job.src_reference,
        source.digest,
        source.media_type
    ));
    if let Some((existing, _)) = job
        .dst
        .head_manifest(job.dst_repository, job.dst_reference)
        .await?
    {
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
    let counters = Counters::default();
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
            blobs_mounted: 0,
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
    let mut lines: Vec<String> = futures::stream::iter(blobs)
        .map(|blob| copy_blob(job, blob, counters))
        .buffer_unordered(BLOB_PARALLELISM)
        .try_collect()
        .await?;
    lines.sort();
    log.extend(lines);
    Ok(())
}

async fn copy_blob(
    job: &CopyJob<'_>,
    blob: &Descriptor,
    counters: &Counters,
) -> Result<String, CopyError> {
    if media::is_foreign_layer(&blob.media_type) {
        return Ok(format!(
            "blob {} is a foreign layer: not copied",
            blob.digest
        ));
    }
    if job
        .dst
        .blob_exists(job.dst_repository, &blob.digest)
        .await?
    {
        counters.skipped.fetch_add(1, Ordering::Relaxed);
        return Ok(format!("blob {} exists at the destination", blob.digest));
    }
    let stream = job.src.get_blob(job.src_repository, &blob.digest).await?;
    job.dst
        .put_blob(job.dst_repository, &blob.digest, blob.size, stream)
        .await?;
    counters.copied.fetch_add(1, Ordering::Relaxed);
    counters
        .bytes
        .fetch_add(blob.size as i64, Ordering::Relaxed);
    Ok(format!("blob {} copied ({} bytes)", blob.digest, blob.size))
}
