//! A blob's bytes checked as they stream: hashed with its digest's algorithm and counted, and
//! the last piece held back until the whole is checked, so that no destination (even one that
//! does not verify digests) is sent the end of bytes that do not match their descriptor.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::StreamExt;
use sha2::digest::DynDigest;

use super::job::{CopyError, CopyJob};
use crate::oci::{Descriptor, Digest};
use crate::ports::registry::{BlobStream, RegistryError};

struct State {
    hasher: Box<dyn DynDigest + Send>,
    /// Bytes hashed so far, from the start of the blob.
    at: u64,
    /// Why the bytes were refused (registry, what), once they were.
    refused: Option<(String, String)>,
}

/// Where a checked stream stands: what is left of the source, and the piece held back.
struct Flow {
    stream: BlobStream,
    pending: Option<Bytes>,
    done: bool,
}

/// The running hash of one blob's bytes, shared by the streams that carry them.
#[derive(Clone)]
pub(super) struct Verifier {
    digest: Digest,
    size: u64,
    state: Arc<Mutex<State>>,
}

fn hasher_for(digest: &Digest) -> Box<dyn DynDigest + Send> {
    match digest.algorithm() {
        "sha512" => Box::new(sha2::Sha512::default()),
        "sha384" => Box::new(sha2::Sha384::default()),
        _ => Box::new(sha2::Sha256::default()),
    }
}

impl Verifier {
    pub fn new(blob: &Descriptor) -> Self {
        Self {
            digest: blob.digest.clone(),
            size: blob.size,
            state: Arc::new(Mutex::new(State {
                hasher: hasher_for(&blob.digest),
                at: 0,
                refused: None,
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes hashed so far.
    pub fn at(&self) -> u64 {
        self.state().at
    }

    /// Whether the bytes hashed are the whole blob, matching its digest.
    fn matches(&self) -> bool {
        let state = self.state();
        let hex = hex::encode(state.hasher.box_clone().finalize());
        state.at == self.size && self.digest.encoded() == hex
    }

    fn mismatch(&self, registry: &str) -> RegistryError {
        let state = self.state();
        let hex = hex::encode(state.hasher.box_clone().finalize());
        RegistryError::Invalid {
            registry: registry.to_string(),
            what: format!(
                "blob {}: the source sent {} bytes hashing to {}:{hex}, not the {} bytes the \
                 manifest gives",
                self.digest,
                state.at,
                self.digest.algorithm(),
                self.size
            ),
        }
    }

    fn take(&self, piece: &Bytes) -> Result<(), ()> {
        let mut state = self.state();
        state.at += piece.len() as u64;
        state.hasher.update(piece);
        if state.at > self.size {
            return Err(());
        }
        Ok(())
    }

    /// The blob's bytes from where the hash stands, hashed as each piece goes downstream; the
    /// last piece goes only when the whole matches, else the stream ends with an error naming
    /// the blob (and [`Self::refused`] says so).
    pub fn check(&self, stream: BlobStream, registry: &str) -> BlobStream {
        let verifier = self.clone();
        let registry = registry.to_string();
        let flow = Flow {
            stream,
            pending: None,
            done: false,
        };
        futures::stream::unfold(flow, move |flow| {
            let verifier = verifier.clone();
            let registry = registry.clone();
            async move { verifier.next(flow, &registry).await }
        })
        // Readers may ask again after the end.
        .fuse()
        .boxed()
    }

    /// The next piece of a checked stream.
    async fn next(
        &self,
        mut flow: Flow,
        registry: &str,
    ) -> Option<(Result<Bytes, RegistryError>, Flow)> {
        if flow.done {
            return None;
        }
        loop {
            match flow.stream.next().await {
                Some(Ok(piece)) if piece.is_empty() => continue,
                Some(Ok(piece)) => {
                    let Some(ready) = flow.pending.replace(piece) else {
                        continue;
                    };
                    if self.take(&ready).is_ok() {
                        return Some((Ok(ready), flow));
                    }
                    flow.done = true;
                    return Some((Err(self.refuse(self.mismatch(registry))), flow));
                }
                Some(Err(e)) => {
                    flow.done = true;
                    return Some((Err(e), flow));
                }
                None => {
                    flow.done = true;
                    let last = flow.pending.take()?;
                    let taken = self.take(&last);
                    if taken.is_ok() && self.matches() {
                        return Some((Ok(last), flow));
                    }
                    // Short of the descriptor's size, or other bytes: the end is not sent, so
                    // nothing commits them.
                    let why = if taken.is_ok() && self.at() < self.size {
                        RegistryError::Invalid {
                            registry: registry.to_string(),
                            what: format!(
                                "blob {} ended at {} of {} bytes",
                                self.digest,
                                self.at(),
                                self.size
                            ),
                        }
                    } else {
                        self.mismatch(registry)
                    };
                    return Some((Err(self.refuse(why)), flow));
                }
            }
        }
    }

    /// Records why the bytes were refused, and gives the error to send downstream.
    fn refuse(&self, why: RegistryError) -> RegistryError {
        if let RegistryError::Invalid { registry, what } = &why {
            self.state().refused = Some((registry.clone(), what.clone()));
        }
        why
    }

    /// Why the bytes were refused, when they were: not a broken connection but bytes that do
    /// not match (or a blob that ends early or goes on), which trying again will not mend.
    pub fn refused(&self) -> Option<CopyError> {
        let (registry, what) = self.state().refused.clone()?;
        Some(RegistryError::Invalid { registry, what }.into())
    }

    /// Brings the hash to `offset` when it is not there (an upload resumed in a new
    /// invocation, or after an interruption left the destination holding other than what was
    /// hashed): the source's first `offset` bytes are read again and hashed, not sent.
    pub async fn catch_up(&self, job: &CopyJob<'_>, offset: u64) -> Result<(), CopyError> {
        if self.at() == offset {
            return Ok(());
        }
        {
            let mut state = self.state();
            state.hasher = hasher_for(&self.digest);
            state.at = 0;
        }
        if offset == 0 {
            return Ok(());
        }
        let mut stream = job
            .src
            .get_blob_from(job.src_repository, &self.digest, 0)
            .await?;
        while self.at() < offset {
            let Some(piece) = stream.next().await else {
                break;
            };
            let piece = piece?;
            let wanted = usize::try_from(offset - self.at()).unwrap_or(usize::MAX);
            let _ = self.take(&piece.slice(..piece.len().min(wanted)));
        }
        if self.at() < offset {
            return Err(RegistryError::Invalid {
                registry: job.src.name().to_string(),
                what: format!(
                    "blob {} ended at {} of {} bytes",
                    self.digest,
                    self.at(),
                    offset
                ),
            }
            .into());
        }
        Ok(())
    }

    /// The whole blob was hashed and matches; else the error naming it.
    pub fn verified(&self, registry: &str) -> Result<(), CopyError> {
        if self.matches() {
            Ok(())
        } else {
            Err(self.mismatch(registry).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(bytes: &[u8]) -> Descriptor {
        serde_json::from_value(serde_json::json!({
            "mediaType": "application/octet-stream",
            "digest": Digest::sha256(bytes).to_string(),
            "size": bytes.len(),
        }))
        .expect("descriptor")
    }

    fn pieces(parts: &[&'static [u8]]) -> BlobStream {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
        .boxed()
    }

    async fn collect(stream: BlobStream) -> (Vec<u8>, Option<String>) {
        let mut out = Vec::new();
        let mut stream = stream;
        while let Some(piece) = stream.next().await {
            match piece {
                Ok(bytes) => out.extend_from_slice(&bytes),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn the_right_bytes_pass_whole() {
        let blob = descriptor(b"hello world");
        let verifier = Verifier::new(&blob);
        let (out, error) =
            collect(verifier.check(pieces(&[b"hello", b" ", b"world"]), "src")).await;
        assert_eq!((out.as_slice(), error), (b"hello world".as_slice(), None));
        assert!(verifier.verified("src").is_ok());
    }

    #[tokio::test]
    async fn lying_bytes_are_stopped_before_their_end() {
        let blob = descriptor(b"hello world");
        let verifier = Verifier::new(&blob);
        let (out, error) =
            collect(verifier.check(pieces(&[b"hello", b" ", b"w0rld"]), "src")).await;
        assert_eq!(out, b"hello ", "the last piece is held back");
        assert!(
            error.is_some_and(|e| e.contains(&blob.digest.to_string()) && e.contains("hashing to"))
        );
        assert!(verifier.verified("src").is_err());

        let short = Verifier::new(&blob);
        let (out, error) = collect(short.check(pieces(&[b"hello", b" wor"]), "src")).await;
        assert_eq!(out, b"hello");
        assert!(error.is_some_and(|e| e.contains("ended at 9 of 11 bytes")));

        let long = Verifier::new(&blob);
        let (_, error) = collect(long.check(pieces(&[b"hello world", b"!", b"!"]), "src")).await;
        assert!(error.is_some(), "more bytes than the descriptor says");
    }
}
