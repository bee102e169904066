//! Blobs for the pull endpoint: from the destination only, its redirect passed on (the bytes
//! never pass through Ferry), else its bytes within the pass-through limit, checked against
//! their digest.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use super::PullError;
use crate::oci::{Digest, Repository};
use crate::ports::registry::{BlobAt, RegistryClient, RegistryError};

/// A blob as the client gets it.
#[derive(Debug)]
pub enum BlobAnswer {
    /// Read it there (the destination's redirect, passed on).
    Redirect(String),
    /// Its bytes (empty for HEAD) and size.
    Bytes { size: Option<u64>, bytes: Bytes },
}

/// A blob of `repository` at the destination: its redirect when it answers one, else its
/// bytes, up to `limit` (none for `head`).
pub async fn read_blob(
    destination: &dyn RegistryClient,
    limit: u64,
    repository: &Repository,
    digest: &Digest,
    head: bool,
) -> Result<BlobAnswer, PullError> {
    let too_large = |size: u64| PullError::TooLarge {
        digest: digest.to_string(),
        size,
        limit,
    };
    match destination.locate_blob(repository, digest, head).await? {
        BlobAt::Missing => Err(PullError::BlobUnknown {
            repository: repository.to_string(),
            digest: digest.to_string(),
        }),
        BlobAt::Elsewhere { location } => Ok(BlobAnswer::Redirect(location)),
        BlobAt::Here { size, body } => {
            if let Some(size) = size.filter(|s| *s > limit && !head) {
                return Err(too_large(size));
            }
            let Some(mut body) = body else {
                return Ok(BlobAnswer::Bytes {
                    size,
                    bytes: Bytes::new(),
                });
            };
            let mut bytes = BytesMut::new();
            while let Some(piece) = body.next().await {
                let piece = piece?;
                if (bytes.len() + piece.len()) as u64 > limit {
                    return Err(too_large((bytes.len() + piece.len()) as u64));
                }
                bytes.extend_from_slice(&piece);
            }
            let bytes = bytes.freeze();
            if Digest::sha256(&bytes) != *digest && digest.algorithm() == "sha256" {
                return Err(PullError::Registry(RegistryError::Invalid {
                    registry: destination.name().to_string(),
                    what: format!("blob {digest} of {repository}: the bytes served hash otherwise"),
                }));
            }
            Ok(BlobAnswer::Bytes {
                size: Some(bytes.len() as u64),
                bytes,
            })
        }
    }
}
