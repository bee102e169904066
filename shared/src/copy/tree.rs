//! One manifest and everything it references: an index's children first (by digest), an
//! image's blobs, then the manifest itself. Manifests travel as the raw bytes read, so every
//! digest at the destination is the source's; the tag is written last.

use std::collections::HashMap;

use futures::StreamExt;

use super::blob::{copy_blob, record, worth_mounting, BlobDone};
use super::job::{CopyError, CopyJob, CopyOutcome, Counters, SkipReason};
use crate::oci::{filter_platforms, media, Descriptor, Digest, RawManifest, Reference};

/// Blobs of one artifact copied at once (and, across artifacts, no more than the registries'
/// blob slots allow).
const BLOB_PARALLELISM: usize = 4;
/// Indexes nested deeper than this are refused.
const INDEX_DEPTH: usize = 4;
/// Times a manifest refused for a missing blob is written again after its blobs are checked.
const MANIFEST_HEALS: u32 = 3;

/// The manifest under `job.src_reference` and its blobs (and children), without referrers.
pub(super) async fn copy_one(
    job: &CopyJob<'_>,
    log: &mut Vec<String>,
) -> Result<CopyOutcome, CopyError> {
    // A digest the destination holds is the same manifest: HEAD it first, and read the source
    // only when it is missing (a read is a pull against rate limits such as Docker Hub's).
    // Otherwise the source manifest and the destination's tag are asked in one round trip.
    let by_digest = matches!(job.src_reference, Reference::Digest(_))
        && job.platforms.is_empty()
        && job.dst_reference == job.src_reference;
    let (read, held) = if by_digest {
        if let Some(held) = job
            .dst
            .head_manifest(job.dst_repository, job.dst_reference)
            .await?
        {
            return Ok(CopyOutcome::Skipped {
                digest: Some(held.0),
                reason: SkipReason::SameDigest,
            });
        }
        (
            job.src
                .get_manifest(job.src_repository, job.src_reference)
                .await,
            Ok(None),
        )
    } else {
        tokio::join!(
            job.src.get_manifest(job.src_repository, job.src_reference),
            job.dst.head_manifest(job.dst_repository, job.dst_reference)
        )
    };
    let read = read?;
    let original = read.digest.clone();
    let source = filter_platforms(read, job.platforms)?;
    if source.digest != original {
        let platforms: Vec<String> = job.platforms.iter().map(ToString::to_string).collect();
        log.push(format!(
            "index {original} filtered to {}: {}",
            platforms.join(", "),
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
                digest: Some(existing),
                reason: SkipReason::SameDigest,
            });
        }
        if !job.options.override_ {
            return Ok(CopyOutcome::Skipped {
                digest: Some(source.digest),
                reason: SkipReason::HeldOtherwise { held: existing },
            });
        }
        log.push(format!("destination holds {existing}: overriding"));
    }
    let counters = Counters::with_speed(job.options.speed);
    copy_tree(job, &source, &counters, log, 0).await?;
    put_manifest(job, job.dst_reference, &source, &counters, log).await?;
    log.push(format!(
        "pushed manifest {} as {}/{}:{}",
        source.digest,
        job.dst.name(),
        job.dst_repository,
        job.dst_reference
    ));
    Ok(CopyOutcome::Copied {
        digest: source.digest.clone(),
        figures: counters.figures(),
        filtered_from: (source.digest != original).then_some(original),
        manifest: Some(source),
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
    if depth > INDEX_DEPTH {
        return Err(CopyError::Unsupported(format!(
            "{}: indexes nested too deeply",
            manifest.digest
        )));
    }
    if media::is_schema1(&manifest.media_type) {
        return Err(CopyError::Unsupported(format!(
            "{} is a Docker schema1 manifest, which Ferry does not copy; convert it to schema2 or OCI",
            manifest.digest
        )));
    }
    let refs = manifest.references().map_err(|e| {
        CopyError::Unsupported(format!(
            "{} is not a manifest Ferry can read: {e}",
            manifest.digest
        ))
    })?;
    if manifest.is_index() || !refs.manifests.is_empty() {
        for child in &refs.manifests {
            let by_digest = Reference::Digest(child.digest.clone());
            let child_manifest = job.src.get_manifest(job.src_repository, &by_digest).await?;
            Box::pin(copy_tree(job, &child_manifest, counters, log, depth + 1)).await?;
            put_manifest(job, &by_digest, &child_manifest, counters, log).await?;
            log.push(format!("pushed child manifest {}", child.digest));
        }
        return Ok(());
    }
    let blobs: Vec<&Descriptor> = refs.config.iter().chain(refs.layers.iter()).collect();
    let held = where_to_mount_from(job, &blobs).await?;
    let results: Vec<Result<BlobDone, CopyError>> = futures::stream::iter(blobs)
        .map(|blob| copy_blob(job, blob, &held, counters))
        .buffer_unordered(BLOB_PARALLELISM)
        .collect()
        .await;
    // Out of time everywhere it failed: one checkpoint with every upload under way.
    let mut lines = Vec::new();
    let mut checkpoint: Option<crate::model::Checkpoint> = None;
    let mut failure: Option<CopyError> = None;
    let mut uploaded = Vec::new();
    for result in results {
        match result {
            Ok(done) => {
                lines.push(done.line);
                uploaded.extend(done.to_record);
            }
            Err(CopyError::OutOfTime(part)) => checkpoint
                .get_or_insert_with(Default::default)
                .uploads
                .extend(part.uploads),
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    // What this copy uploaded is recorded in one write, whatever became of the other blobs.
    record(job, &uploaded).await;
    lines.sort();
    log.extend(lines);
    match (failure, checkpoint) {
        (Some(e), _) => Err(e),
        (None, Some(checkpoint)) => Err(CopyError::OutOfTime(checkpoint)),
        (None, None) => Ok(()),
    }
}

/// Writes a manifest. A registry that refuses it because something it references is missing
/// (another process's upload of a shared blob was not committed when this copy found or
/// mounted it) gets its blobs checked again: what is missing is copied, not mounted from the
/// location that led here, and the manifest is written again, a bounded number of times.
async fn put_manifest(
    job: &CopyJob<'_>,
    reference: &Reference,
    manifest: &RawManifest,
    counters: &Counters,
    log: &mut Vec<String>,
) -> Result<(), CopyError> {
    let mut heals = 0;
    loop {
        match job
            .dst
            .put_manifest(job.dst_repository, reference, manifest)
            .await
        {
            Ok(()) => return Ok(()),
            Err(e)
                if heals < MANIFEST_HEALS
                    && e.code().is_some_and(|code| code.is_missing_reference()) =>
            {
                heals += 1;
                log.push(format!(
                    "manifest {} refused ({e}); checking what it references again",
                    manifest.digest
                ));
                copy_missing(job, manifest, counters, log).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Copies again what `manifest` references and the destination repository lacks: blobs (their
/// recorded locations forgotten first) and child manifests.
async fn copy_missing(
    job: &CopyJob<'_>,
    manifest: &RawManifest,
    counters: &Counters,
    log: &mut Vec<String>,
) -> Result<(), CopyError> {
    let refs = manifest.references().map_err(|e| {
        CopyError::Unsupported(format!(
            "{} is not a manifest Ferry can read: {e}",
            manifest.digest
        ))
    })?;
    for child in &refs.manifests {
        let by_digest = Reference::Digest(child.digest.clone());
        if job
            .dst
            .head_manifest(job.dst_repository, &by_digest)
            .await?
            .is_none()
        {
            let child_manifest = job.src.get_manifest(job.src_repository, &by_digest).await?;
            Box::pin(copy_tree(job, &child_manifest, counters, log, 1)).await?;
            job.dst
                .put_manifest(job.dst_repository, &by_digest, &child_manifest)
                .await?;
        }
    }
    for blob in refs.config.iter().chain(refs.layers.iter()) {
        if media::is_foreign_layer(&blob.media_type)
            || job
                .dst
                .blob_exists(job.dst_repository, &blob.digest)
                .await?
        {
            continue;
        }
        if let Some(locations) = job.locations {
            locations
                .forget_blob(job.dst_registry_id, &blob.digest)
                .await;
        }
        let done = copy_blob(job, blob, &HashMap::new(), counters).await?;
        log.push(done.line);
        record(job, &Vec::from_iter(done.to_record)).await;
    }
    Ok(())
}

/// Where the destination holds the blobs worth a mount, asked of the store once for the whole
/// manifest, and only about blobs this process knows nothing of and the destination repository
/// lacks (a HEAD each, made anyway before a copy): the tags of one repository share most of
/// their layers, and the store is no help for blobs already there. Returns those HEAD
/// answers (held or not), which the blobs' copies then need not ask again.
async fn where_to_mount_from(
    job: &CopyJob<'_>,
    blobs: &[&Descriptor],
) -> Result<HashMap<Digest, bool>, CopyError> {
    let Some(locations) = job.locations.filter(|_| !job.same_registry) else {
        return Ok(HashMap::new());
    };
    let worth: Vec<Digest> = blobs
        .iter()
        .filter(|b| worth_mounting(b) && !media::is_foreign_layer(&b.media_type))
        .map(|b| b.digest.clone())
        .collect();
    let answered = locations.answered_here(job.dst_registry_id, &worth);
    let unknown: Vec<Digest> = worth
        .into_iter()
        .filter(|d| !answered.contains(d))
        .collect();
    let held = futures::future::try_join_all(
        unknown
            .iter()
            .map(|d| job.dst.blob_exists(job.dst_repository, d)),
    )
    .await?;
    let answers: HashMap<Digest, bool> = unknown.into_iter().zip(held).collect();
    let missing: Vec<Digest> = answers
        .iter()
        .filter(|(_, held)| !**held)
        .map(|(d, _)| d.clone())
        .collect();
    if !missing.is_empty() {
        locations.find_blobs(job.dst_registry_id, &missing).await;
    }
    Ok(answers)
}
