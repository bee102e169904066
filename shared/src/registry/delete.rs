//! A replicated deletion: the tag (or digest) goes at the destination, and nothing else does.

use crate::model::TransferFigures;
use crate::ports::registry::{RegistryClient, RegistryError};
use crate::registry::copy::{CopyError, CopyOutcome};

/// Deletes `reference` in `repository` at the destination. Registries that cannot delete a tag
/// (CNCF distribution deletes manifests by digest, with every tag on them) get the digest
/// deleted only when no other tag there shares it: a deletion never reaches beyond what was
/// deleted at the source.
pub async fn delete_artifact(
    dst: &dyn RegistryClient,
    repository: &str,
    reference: &str,
    log: &mut Vec<String>,
) -> Result<CopyOutcome, CopyError> {
    let Some((digest, _)) = dst.head_manifest(repository, reference).await? else {
        return Ok(CopyOutcome::Skipped {
            digest: String::new(),
            reason: format!("{repository}:{reference} is not at the destination"),
        });
    };
    let by_digest = reference.starts_with("sha256:");
    if !by_digest {
        match dst.delete_manifest(repository, reference).await {
            Ok(_) => return Ok(deleted(log, dst, repository, reference, digest)),
            Err(RegistryError::Refused {
                status: 400 | 405, ..
            }) => {
                log.push(format!(
                    "{} cannot delete a tag; deleting {digest} if no other tag has it",
                    dst.name()
                ));
            }
            Err(e) => return Err(e.into()),
        }
        let mut sharing = Vec::new();
        for tag in dst.list_tags(repository).await? {
            if tag != reference
                && dst
                    .head_manifest(repository, &tag)
                    .await?
                    .is_some_and(|(other, _)| other == digest)
            {
                sharing.push(tag);
            }
        }
        if !sharing.is_empty() {
            return Err(CopyError::Unsupported(format!(
                "{}/{repository}:{reference} not deleted: the registry deletes by digest only and \
                 {digest} is also tagged {}",
                dst.name(),
                sharing.join(", ")
            )));
        }
    }
    dst.delete_manifest(repository, &digest).await?;
    Ok(deleted(log, dst, repository, reference, digest))
}

fn deleted(
    log: &mut Vec<String>,
    dst: &dyn RegistryClient,
    repository: &str,
    reference: &str,
    digest: String,
) -> CopyOutcome {
    log.push(format!(
        "deleted {}/{repository}:{reference} ({digest})",
        dst.name()
    ));
    CopyOutcome::Copied {
        digest,
        figures: TransferFigures::default(),
    }
}
