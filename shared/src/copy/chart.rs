//! A Helm chart to a destination that keeps packages, not manifests (ChartMuseum): the source's
//! OCI chart is read (config for its name and version, the package and provenance layers),
//! compared with what the destination holds by the package's digest (and whether it holds the
//! provenance the source has), and uploaded whole. Packages are small (ChartMuseum takes 20 MiB
//! by default); they are read into memory, checked against their digests and against the
//! config (the destination files a chart under its package's own name and version), and never
//! sent when either does not match.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use sha2::Digest as _;

use super::job::{CopyError, CopyJob, CopyOutcome, SkipReason};
use crate::model::TransferFigures;
use crate::oci::helm;
use crate::oci::media::{HELM_CHART, HELM_CHART_LEGACY, HELM_CONFIG, HELM_PROVENANCE};
use crate::oci::Descriptor;
use crate::ports::registry::ChartUploads;

/// The largest package (or config) read.
const PACKAGE_BYTES: u64 = 100 * 1024 * 1024;
const CHART_LAYERS: [&str; 2] = [HELM_CHART, HELM_CHART_LEGACY];

/// The blob `descriptor` names, whole, checked against its digest and size.
async fn read(job: &CopyJob<'_>, descriptor: &Descriptor) -> Result<Bytes, CopyError> {
    let unsupported = |why: String| {
        CopyError::Unsupported(format!(
            "{}/{}@{}: {why}",
            job.src.name(),
            job.src_repository,
            descriptor.digest
        ))
    };
    if descriptor.size > PACKAGE_BYTES {
        return Err(unsupported(format!(
            "{} bytes, over the {PACKAGE_BYTES} bytes Ferry uploads to a chart repository",
            descriptor.size
        )));
    }
    let mut stream = job
        .src
        .get_blob_from(job.src_repository, &descriptor.digest, 0)
        .await?;
    let mut bytes = BytesMut::new();
    while let Some(piece) = stream.next().await {
        bytes.extend_from_slice(&piece?);
        if bytes.len() as u64 > descriptor.size {
            return Err(unsupported("longer than its descriptor says".into()));
        }
    }
    let hex = hex::encode(sha2::Sha256::digest(&bytes));
    if descriptor.digest.algorithm() != "sha256" || descriptor.digest.encoded() != hex {
        return Err(unsupported(format!("its bytes are sha256:{hex}")));
    }
    Ok(bytes.freeze())
}

/// Copies the chart `job` names to `charts`, the destination's package store.
pub(super) async fn copy_chart(
    job: &CopyJob<'_>,
    charts: &dyn ChartUploads,
    log: &mut Vec<String>,
) -> Result<CopyOutcome, CopyError> {
    let source = job
        .src
        .get_manifest(job.src_repository, job.src_reference)
        .await?;
    let at = format!(
        "{}/{}:{}",
        job.src.name(),
        job.src_repository,
        job.src_reference
    );
    let parsed: serde_json::Value = serde_json::from_slice(&source.bytes).unwrap_or_default();
    let config: Descriptor = serde_json::from_value(parsed["config"].clone()).map_err(|_| {
        CopyError::Unsupported(format!("{at} is not an image manifest with a config"))
    })?;
    if config.media_type != HELM_CONFIG {
        return Err(CopyError::Unsupported(format!(
            "{at} is not a Helm chart (its config is {}): {} keeps only charts; filter the \
             policy with resource: chart",
            config.media_type,
            job.dst.name()
        )));
    }
    let layers: Vec<Descriptor> =
        serde_json::from_value(parsed["layers"].clone()).unwrap_or_default();
    let layer = |types: &[&str]| {
        layers
            .iter()
            .find(|l| types.contains(&l.media_type.as_str()))
    };
    let package = layer(&CHART_LAYERS).ok_or_else(|| {
        CopyError::Unsupported(format!("{at} is a Helm chart without its package"))
    })?;
    let metadata: serde_json::Value =
        serde_json::from_slice(&read(job, &config).await?).unwrap_or_default();
    let (name, version) = (
        metadata["name"].as_str().unwrap_or_default(),
        metadata["version"].as_str().unwrap_or_default(),
    );
    if name.is_empty() || version.is_empty() {
        return Err(CopyError::Unsupported(format!(
            "{at}: its Helm config names no chart name and version"
        )));
    }
    let destination_name = job
        .dst_repository
        .as_str()
        .rsplit('/')
        .next()
        .unwrap_or_default();
    if destination_name != name {
        return Err(CopyError::Unsupported(format!(
            "{at} is the chart {name:?}, which {} keeps under its own name, not {:?}: name the \
             destination after the chart",
            job.dst.name(),
            job.dst_repository.as_str()
        )));
    }
    log.push(format!(
        "source {at} is {} ({name} {version}, package {})",
        source.digest, package.digest
    ));
    let provenance_layer = layer(&[HELM_PROVENANCE]);
    let held = charts.held_package(name, version).await?;
    match &held {
        Some(held) if *held == package.digest => {
            if provenance_layer.is_none() || charts.held_provenance(name, version).await? {
                return Ok(CopyOutcome::Skipped {
                    digest: Some(source.digest),
                    reason: SkipReason::SameDigest,
                });
            }
            log.push("destination holds the package but not its provenance".into());
        }
        Some(held) if !job.options.override_ => {
            return Ok(CopyOutcome::Skipped {
                digest: Some(source.digest),
                reason: SkipReason::HeldOtherwise { held: held.clone() },
            })
        }
        Some(held) => log.push(format!("destination holds package {held}: overriding")),
        None => {}
    }
    job.check_stop().await?;
    let bytes = read(job, package).await?;
    let opened = {
        let bytes = bytes.clone();
        tokio::task::spawn_blocking(move || helm::open(&bytes)).await
    };
    let opened = opened
        .map_err(|e| CopyError::Unsupported(format!("{at}: reading its package stopped: {e}")))?
        .map_err(|e| CopyError::Unsupported(format!("{at}: its package: {e}")))?;
    if opened.metadata.name != name || opened.metadata.version != version {
        return Err(CopyError::Unsupported(format!(
            "{at}: its package is {} {}, its config says {name} {version}",
            opened.metadata.name, opened.metadata.version
        )));
    }
    let provenance = match provenance_layer {
        Some(prov) => Some(read(job, prov).await?),
        None => None,
    };
    let figures = TransferFigures {
        bytes_copied: (bytes.len() + provenance.as_ref().map_or(0, Bytes::len)) as i64,
        blobs_copied: 1 + i64::from(provenance.is_some()),
        ..TransferFigures::default()
    };
    charts
        .upload_chart(name, version, bytes, provenance, held.is_some())
        .await?;
    log.push(format!(
        "uploaded {name}-{version}.tgz to {}",
        job.dst.name()
    ));
    Ok(CopyOutcome::Copied {
        digest: source.digest,
        figures,
        manifest: None,
        filtered_from: None,
    })
}
