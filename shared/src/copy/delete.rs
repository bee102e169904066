//! A replicated deletion: the tag (or digest) goes at the destination, and nothing else does.

use super::job::{CopyError, CopyOutcome, SkipReason};
use crate::model::TransferFigures;
use crate::oci::{Digest, Reference, Repository, Tag};
use crate::ports::registry::{RegistryClient, RegistryError};

/// Deletes `reference` in `repository` at the destination. Registries that cannot delete a tag
/// (CNCF distribution deletes manifests by digest, with every tag on them) get the digest
/// deleted only when no other tag there shares it: a deletion never reaches beyond what was
/// deleted at the source.
pub async fn delete_artifact(
    dst: &dyn RegistryClient,
    repository: &Repository,
    reference: &Reference,
    log: &mut Vec<String>,
) -> Result<CopyOutcome, CopyError> {
    let Some((digest, _)) = dst.head_manifest(repository, reference).await? else {
        return Ok(CopyOutcome::Skipped {
            digest: None,
            reason: SkipReason::NotAtDestination {
                location: format!("{repository}:{reference}"),
            },
        });
    };
    if let Reference::Tag(tag) = reference {
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
        let sharing = other_tags_on(dst, repository, tag, &digest).await?;
        if !sharing.is_empty() {
            return Err(CopyError::Unsupported(format!(
                "{}/{repository}:{reference} not deleted: the registry deletes by digest only and \
                 {digest} is also tagged {}",
                dst.name(),
                sharing.join(", ")
            )));
        }
    }
    dst.delete_manifest(repository, &Reference::Digest(digest.clone()))
        .await?;
    Ok(deleted(log, dst, repository, reference, digest))
}

/// The repository's tags other than `tag` that name `digest`. A listed tag that is not a
/// valid name cannot be asked about, so it counts as sharing: nothing is deleted then.
async fn other_tags_on(
    dst: &dyn RegistryClient,
    repository: &Repository,
    tag: &Tag,
    digest: &Digest,
) -> Result<Vec<String>, CopyError> {
    let mut sharing = Vec::new();
    for listed in dst.list_tags(repository).await? {
        if listed == tag.as_str() {
            continue;
        }
        let shares = match Tag::parse(&listed) {
            Ok(other) => dst
                .head_manifest(repository, &Reference::Tag(other))
                .await?
                .is_some_and(|(held, _)| &held == digest),
            Err(_) => true,
        };
        if shares {
            sharing.push(listed);
        }
    }
    Ok(sharing)
}

fn deleted(
    log: &mut Vec<String>,
    dst: &dyn RegistryClient,
    repository: &Repository,
    reference: &Reference,
    digest: Digest,
) -> CopyOutcome {
    log.push(format!(
        "deleted {}/{repository}:{reference} ({digest})",
        dst.name()
    ));
    CopyOutcome::Copied {
        digest,
        figures: TransferFigures::default(),
        manifest: None,
        filtered_from: None,
    }
}
