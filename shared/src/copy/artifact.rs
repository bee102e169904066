//! One artifact: its manifest tree, then what refers to it.

use super::chart::copy_chart;
use super::job::{CopyError, CopyJob, CopyOutcome, SkipReason};
use super::referrers::copy_referrers;
use super::tree::copy_one;
use crate::model::TransferFigures;

/// Copies the artifact, then what refers to it: OCI 1.1 referrers (through the Referrers API,
/// or the `sha256-<hex>` fallback tag when the source has no API) and cosign's `.sig`, `.att`
/// and `.sbom` tags. Referrers are copied also when the artifact itself was already there, so
/// a signature added later still follows its image. A destination that keeps Helm packages
/// (ChartMuseum) gets the chart's package, and nothing refers to it there.
pub async fn copy_artifact(
    job: &CopyJob<'_>,
    log: &mut Vec<String>,
) -> Result<CopyOutcome, CopyError> {
    if let Some(charts) = job.dst.charts() {
        return copy_chart(job, charts, log).await;
    }
    let outcome = copy_one(job, log).await?;
    let (digest, mut figures) = match &outcome {
        CopyOutcome::Copied {
            digest, figures, ..
        } => (digest.clone(), *figures),
        CopyOutcome::Skipped {
            digest: Some(digest),
            reason: SkipReason::SameDigest,
        } => (digest.clone(), TransferFigures::default()),
        CopyOutcome::Skipped { .. } => return Ok(outcome),
    };
    let referrers_copied = copy_referrers(job, &digest, &mut figures, log, 0).await?;
    Ok(match outcome {
        CopyOutcome::Skipped { .. } if referrers_copied => CopyOutcome::Copied {
            digest,
            figures,
            manifest: None,
            filtered_from: None,
        },
        CopyOutcome::Copied {
            manifest,
            filtered_from,
            ..
        } => CopyOutcome::Copied {
            digest,
            figures,
            manifest,
            filtered_from,
        },
        skipped => skipped,
    })
}
