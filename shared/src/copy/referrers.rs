//! What refers to an artifact follows it: OCI 1.1 referrers (through the source's Referrers
//! API, or its `sha256-<hex>` fallback tag when it has none), recursively, and cosign's `.sig`,
//! `.att` and `.sbom` tags. At a destination without the Referrers API the fallback tag is
//! kept, merged with what is there, never overwritten.

use super::job::{CopyError, CopyJob, CopyOutcome};
use super::tree::copy_one;
use crate::model::TransferFigures;
use crate::oci::referrers::referrer_tags;
use crate::oci::{Digest, RawManifest, Reference, Referrer, ReferrerList, Tag};

/// Referrers of referrers (a signature on an SBOM) follow too, this many levels down.
const REFERRER_DEPTH: usize = 3;

/// Copies what refers to `subject`; true when anything was written at the destination.
pub(super) async fn copy_referrers(
    job: &CopyJob<'_>,
    subject: &Digest,
    figures: &mut TransferFigures,
    log: &mut Vec<String>,
    depth: usize,
) -> Result<bool, CopyError> {
    job.check_stop().await?;
    let tags = referrer_tags(subject);
    let Some((fallback_tag, cosign_tags)) = tags.split_first() else {
        return Ok(false);
    };
    let fallback = Reference::Tag(fallback_tag.clone());
    let cosign: Vec<Reference> = cosign_tags.iter().cloned().map(Reference::Tag).collect();
    // Asked all at once: most artifacts have none, and each answer is a round trip.
    let (api, held_fallback, held_cosign) = tokio::join!(
        job.src.list_referrers(job.src_repository, subject),
        job.src.head_manifest(job.src_repository, &fallback),
        futures::future::join_all(
            cosign
                .iter()
                .map(|tag| job.src.head_manifest(job.src_repository, tag)),
        )
    );
    let (referrers, source_index) = match (api?, held_fallback?) {
        (Some(listed), _) => (listed, None),
        (None, Some(_)) => {
            let index = job.src.get_manifest(job.src_repository, &fallback).await?;
            let listed: ReferrerList = serde_json::from_slice(&index.bytes).map_err(|e| {
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
        job.check_stop().await?;
        let by_digest = Reference::Digest(referrer.digest.clone());
        let referrer_job = CopyJob {
            src_reference: &by_digest,
            dst_reference: &by_digest,
            platforms: &[],
            ..*job
        };
        wrote |= copy_referrer(&referrer_job, &by_digest, figures, log).await?;
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
            keep_fallback_tag(job, subject, fallback_tag, &referrers, source_index, log).await?;
    }
    for (tag, found) in cosign.iter().zip(held_cosign) {
        let Some((digest, _)) = found? else {
            continue;
        };
        job.check_stop().await?;
        // Already there under the tag: the source's HEAD said enough, no read (no pull).
        if job
            .dst
            .head_manifest(job.dst_repository, tag)
            .await?
            .is_some_and(|(held, _)| held == digest)
        {
            log.push(format!(
                "referrer {tag} skipped: the destination holds {digest}"
            ));
            continue;
        }
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
    name: &Reference,
    figures: &mut TransferFigures,
    log: &mut Vec<String>,
) -> Result<bool, CopyError> {
    match copy_one(job, log).await? {
        CopyOutcome::Copied {
            digest,
            figures: more,
            ..
        } => {
            log.push(format!("referrer {name} copied ({digest})"));
            *figures += more;
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
    subject: &Digest,
    fallback_tag: &Tag,
    referrers: &[Referrer],
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
    let fallback = Reference::Tag(fallback_tag.clone());
    let held = match job.dst.head_manifest(job.dst_repository, &fallback).await? {
        Some(_) => Some(job.dst.get_manifest(job.dst_repository, &fallback).await?),
        None => None,
    };
    let held_digest = held.as_ref().map(|h| h.digest.clone());
    let index = match (held, source_index) {
        (None, Some(source_index)) => source_index,
        (held, _) => {
            let mut listed = match &held {
                Some(held) => serde_json::from_slice::<ReferrerList>(&held.bytes)
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
            RawManifest::referrers_index(&listed)
                .map_err(|e| CopyError::Unsupported(format!("{fallback_tag}: {e}")))?
        }
    };
    if held_digest.as_ref() == Some(&index.digest) {
        return Ok(false);
    }
    job.dst
        .put_manifest(job.dst_repository, &fallback, &index)
        .await?;
    log.push(format!(
        "referrers of {subject} listed under {fallback_tag} at the destination ({})",
        index.digest
    ));
    Ok(true)
}
