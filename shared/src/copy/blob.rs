//! One blob: mounted from where the destination registry holds it already, skipped when the
//! repository has it, otherwise streamed from the source, in one request when small enough.

use std::collections::HashMap;

use super::interruptions::{pause, BLOB_ATTEMPTS};
use super::job::{CopyError, CopyJob, Counters};
use super::throttle::paced;
use super::upload::copy_in_chunks;
use super::verify::Verifier;
use crate::oci::{media, Descriptor, Digest, Repository};
use crate::ports::registry::Mount;

/// Blobs up to this size go in one streamed PUT, unless the policy asks for chunks.
const MONOLITHIC_MAX: u64 = 32 * 1024 * 1024;

/// Blobs from this size on are worth the store's lookup and record of where they are. A
/// smaller one costs about as much to copy as those would; where it was seen is kept in the
/// process only, and mounted from there (one request instead of a copy's three).
pub(super) const MOUNT_WORTH: u64 = 512 * 1024;

/// Whether a blob is big enough for Ferry to look up and record in the store where it is.
pub(super) fn worth_mounting(blob: &Descriptor) -> bool {
    blob.size >= MOUNT_WORTH
}

/// What became of one blob: the line for the task log, and the blob itself when this copy
/// uploaded it, with whether it is worth recording in the store where the destination now
/// holds it (else it is kept in the process only).
pub(super) struct BlobDone {
    pub line: String,
    pub to_record: Option<(Digest, bool)>,
}

impl BlobDone {
    fn said(line: String) -> Self {
        Self {
            line,
            to_record: None,
        }
    }
}

/// Copies one blob of the artifact; `held` has what a HEAD at the destination repository
/// answered a moment ago about some blobs (true: there), not asked again.
pub(super) async fn copy_blob(
    job: &CopyJob<'_>,
    blob: &Descriptor,
    held: &HashMap<Digest, bool>,
    counters: &Counters,
) -> Result<BlobDone, CopyError> {
    job.check_stop().await?;
    if media::is_foreign_layer(&blob.media_type) {
        return Ok(BlobDone::said(format!(
            "blob {} is a foreign layer: not copied",
            blob.digest
        )));
    }
    let headed = held.get(&blob.digest).copied();
    if headed == Some(true) {
        counters.skipped();
        return Ok(BlobDone::said(format!(
            "blob {} exists at the destination",
            blob.digest
        )));
    }
    // One upload of this blob to the destination at a time in this process; then a slot at
    // each registry. Taken in that order, so a copy waiting for a blob holds no slot.
    let (_flight, slots) = match job.slots {
        Some(slots) => (
            slots.one_upload(&blob.digest).await,
            Some(slots.acquire(job.deadline).await?),
        ),
        None => (None, None),
    };
    let done = copy_holding_slots(job, blob, headed, counters).await;
    if let Some(slots) = slots {
        slots.give_back().await;
    }
    done
}

/// [`copy_blob`] once its slots are held.
async fn copy_holding_slots(
    job: &CopyJob<'_>,
    blob: &Descriptor,
    headed: Option<bool>,
    counters: &Counters,
) -> Result<BlobDone, CopyError> {
    // A blob Ferry saw in another repository of the destination is mounted straight away: one
    // request whether or not the repository has it already. Otherwise a HEAD says whether to copy.
    let from = mount_source(job, blob).await;
    if from.is_none()
        && headed.is_none()
        && job
            .dst
            .blob_exists(job.dst_repository, &blob.digest)
            .await?
    {
        counters.skipped();
        return Ok(BlobDone::said(format!(
            "blob {} exists at the destination",
            blob.digest
        )));
    }
    if let Some(from) = from {
        match job
            .dst
            .mount_blob(job.dst_repository, &blob.digest, &from)
            .await
        {
            // Not recorded again: where it came from still holds it.
            Ok(Mount::Mounted) => {
                counters.mounted();
                return Ok(BlobDone::said(format!(
                    "blob {} mounted from {from}",
                    blob.digest
                )));
            }
            // 202: not mounted. The session it opened is cancelled rather than left to expire
            // at the destination; the copy opens its own.
            Ok(Mount::NotMounted(session)) => {
                if let Err(e) = job.dst.cancel_upload(&session).await {
                    tracing::info!(error = %e, "upload session not cancelled; it expires");
                }
            }
            Err(e) => tracing::info!(error = %e, digest = %blob.digest, "mount failed; copying"),
        }
        if job
            .dst
            .blob_exists(job.dst_repository, &blob.digest)
            .await?
        {
            counters.skipped();
            return Ok(BlobDone::said(format!(
                "blob {} exists at the destination",
                blob.digest
            )));
        }
    }
    let how = if blob.size <= MONOLITHIC_MAX
        && !job.options.copy_by_chunk
        && in_time(job, blob.size, counters)
    {
        copy_whole(job, blob, counters).await?
    } else {
        copy_in_chunks(job, blob, counters).await?
    };
    counters.copied(blob.size);
    Ok(BlobDone {
        line: format!("blob {} copied ({} bytes, {how})", blob.digest, blob.size),
        to_record: job
            .locations
            .is_some()
            .then(|| (blob.digest.clone(), worth_mounting(blob))),
    })
}

/// Whether a blob sent whole, at the task's speed, is done well before the copy's time is up:
/// one that is not goes into a resumable session instead, which can go on next invocation.
fn in_time(job: &CopyJob<'_>, size: u64, counters: &Counters) -> bool {
    let (Some(throttle), Some(deadline)) = (&counters.throttle, job.deadline) else {
        return true;
    };
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    throttle.time_for(size) * 2 < left
}

/// A repository of the destination registry that holds the blob: the source repository when
/// both are one registry, else where Ferry recorded it (never the destination repository).
async fn mount_source(job: &CopyJob<'_>, blob: &Descriptor) -> Option<Repository> {
    if job.same_registry && job.src_repository != job.dst_repository {
        return Some(job.src_repository.clone());
    }
    let locations = job.locations?;
    let found = if worth_mounting(blob) {
        locations
            .find_blob(job.dst_registry_id, &blob.digest)
            .await?
    } else {
        locations.seen_here(job.dst_registry_id, &blob.digest)?
    };
    (&found != job.dst_repository).then_some(found)
}

/// Records, in one go, that the destination repository now holds these blobs: in the store
/// those worth it, in this process the others.
pub(super) async fn record(job: &CopyJob<'_>, uploaded: &[(Digest, bool)]) {
    let Some(locations) = job.locations else {
        return;
    };
    let (worth, small): (Vec<_>, Vec<_>) = uploaded.iter().cloned().partition(|(_, w)| *w);
    let small: Vec<Digest> = small.into_iter().map(|(d, _)| d).collect();
    locations.keep_here(job.dst_registry_id, &small, job.dst_repository);
    let worth: Vec<Digest> = worth.into_iter().map(|(d, _)| d).collect();
    if !worth.is_empty() {
        locations
            .record_blobs(job.dst_registry_id, &worth, job.dst_repository)
            .await;
    }
}

/// One streamed GET into one streamed PUT, its bytes checked on the way; an interruption
/// starts the blob over.
async fn copy_whole(
    job: &CopyJob<'_>,
    blob: &Descriptor,
    counters: &Counters,
) -> Result<&'static str, CopyError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let verifier = Verifier::new(blob);
        let result = match job
            .src
            .get_blob_from(job.src_repository, &blob.digest, 0)
            .await
        {
            Ok(stream) => {
                let stream =
                    verifier.check(paced(stream, counters.throttle.clone()), job.src.name());
                job.dst
                    .put_blob(job.dst_repository, &blob.digest, blob.size, stream)
                    .await
            }
            Err(e) => Err(e),
        };
        // Bytes that did not match their digest broke the request on purpose: that is the
        // failure, not the broken request.
        if let (Err(_), Some(refused)) = (&result, verifier.refused()) {
            return Err(refused);
        }
        match result {
            Ok(()) => return Ok("whole"),
            Err(e) if e.is_transient() && attempt < BLOB_ATTEMPTS => {
                pause(job, attempt, &e).await?;
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
