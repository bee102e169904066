//! Resumable uploads: a session that survives interruptions on either side (the source read
//! again from the offset the destination holds) and the end of an invocation (the session
//! goes into a checkpoint).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;

use super::interruptions::{pause, BLOB_ATTEMPTS};
use super::job::{CopyError, CopyJob, Counters};
use super::throttle::paced;
use super::verify::Verifier;
use crate::model::Checkpoint;
use crate::oci::{Descriptor, UploadSession};
use crate::ports::registry::{BlobStream, RegistryError};

/// Chunk size of chunked uploads (raised to the registry's `OCI-Chunk-Min-Length`).
const CHUNK_BYTES: usize = 8 * 1024 * 1024;
/// What a streamed upload sends at least before it may stop for the invocation's end, so that
/// every invocation moves the blob on (distribution tells 0 and 1 byte held apart badly).
const MIN_PROGRESS: u64 = 64 * 1024;

/// Chunks of 8 MiB, or smaller when the task's speed could not send one in half the time
/// left: every invocation sends at least one chunk, so it must be one it can send.
fn chunk_size(job: &CopyJob<'_>, counters: &Counters) -> usize {
    let (Some(throttle), Some(deadline)) = (&counters.throttle, job.deadline) else {
        return CHUNK_BYTES;
    };
    let half = deadline.saturating_duration_since(std::time::Instant::now()) / 2;
    let affordable = (0..)
        .map(|shift| CHUNK_BYTES >> shift)
        .take_while(|size| *size >= MIN_PROGRESS as usize)
        .find(|size| throttle.time_for(*size as u64) < half);
    affordable.unwrap_or(MIN_PROGRESS as usize)
}

/// An upload session that resumes: after an interruption on either side the source is read
/// again from the offset the destination reports holding (`Range`), into the same session.
/// Sent as fixed-size chunks when the policy asks for them (`copy_by_chunk`), otherwise as one
/// streamed request, which is as fast as a pipe and still resumable. The bytes are checked
/// against the blob's digest before the upload is committed; a session Ferry gives up on
/// (refused, stopped, bytes that do not match) is cancelled at the destination.
pub(super) async fn copy_in_chunks(
    job: &CopyJob<'_>,
    blob: &Descriptor,
    counters: &Counters,
) -> Result<&'static str, CopyError> {
    let resumed = job
        .resume
        .and_then(|c| c.uploads.get(&blob.digest))
        .cloned();
    let (mut session, mut offset) = match resumed {
        Some(session) => match job.dst.upload_offset(&session).await {
            Ok(held) if held > 0 => {
                tracing::info!(digest = %blob.digest, held, location = %session.location, "resuming an upload");
                (session, held)
            }
            _ => (job.dst.start_upload(job.dst_repository).await?, 0),
        },
        None => (job.dst.start_upload(job.dst_repository).await?, 0),
    };
    match upload(job, blob, counters, &mut session, &mut offset).await {
        Err(CopyError::OutOfTime(_)) => {
            // The next invocation goes on with this session.
            let mut checkpoint = Checkpoint::default();
            checkpoint.uploads.insert(blob.digest.clone(), session);
            Err(CopyError::OutOfTime(checkpoint))
        }
        Err(e) => {
            if let Err(not_cancelled) = job.dst.cancel_upload(&session).await {
                tracing::info!(error = %not_cancelled, "upload session not cancelled; it expires");
            }
            Err(e)
        }
        done => done,
    }
}

async fn upload(
    job: &CopyJob<'_>,
    blob: &Descriptor,
    counters: &Counters,
    session: &mut UploadSession,
    offset: &mut u64,
) -> Result<&'static str, CopyError> {
    let chunk_size =
        chunk_size(job, counters).max(usize::try_from(session.min_chunk).unwrap_or(usize::MAX));
    let verifier = Verifier::new(blob);
    let mut interruptions = 0;
    while *offset < blob.size {
        verifier.catch_up(job, *offset).await?;
        let sent = if job.options.copy_by_chunk {
            send_from(job, blob, session, offset, chunk_size, counters, &verifier).await
        } else {
            stream_from(job, blob, session, offset, counters, &verifier).await
        };
        let interruption = match sent {
            Ok(()) => break,
            Err(CopyError::Registry(e)) if e.is_transient() => e,
            Err(e) => return Err(e),
        };
        interruptions += 1;
        if interruptions >= BLOB_ATTEMPTS {
            return Err(interruption.into());
        }
        pause(job, interruptions, &interruption).await?;
        *offset = match job.dst.upload_offset(session).await {
            Ok(held) if held > 0 => held,
            // Nothing held, or the session is gone: a new session from the beginning.
            Ok(_) | Err(RegistryError::Refused { .. }) => {
                *session = job.dst.start_upload(job.dst_repository).await?;
                0
            }
            Err(e) => return Err(e.into()),
        };
    }
    // A session that held the whole blob already was not read here: its bytes are hashed now.
    verifier.catch_up(job, blob.size).await?;
    verifier.verified(job.src.name())?;
    job.dst.finish_upload(session, &blob.digest).await?;
    Ok(if interruptions > 0 {
        "chunked, resumed"
    } else {
        "chunked"
    })
}

/// Streams the source from `offset` and sends it in chunks, moving `offset` past every chunk
/// the destination accepted.
async fn send_from(
    job: &CopyJob<'_>,
    blob: &Descriptor,
    session: &mut UploadSession,
    offset: &mut u64,
    chunk_size: usize,
    counters: &Counters,
    verifier: &Verifier,
) -> Result<(), CopyError> {
    let stream = job
        .src
        .get_blob_from(job.src_repository, &blob.digest, *offset)
        .await?;
    let mut reader = ChunkReader {
        stream: verifier.check(paced(stream, counters.throttle.clone()), job.src.name()),
        carry: BytesMut::new(),
        chunk_size,
    };
    // Pipelined: the next chunk is read from the source while this one goes to the
    // destination, so neither side waits for the other (two chunks in memory at most).
    let mut chunk = reader.next_chunk().await?;
    // Every invocation sends at least one chunk before it may run out of time: progress is
    // certain, however short the time left.
    let mut sent_here = false;
    while !chunk.is_empty() {
        job.check_stop().await?;
        if sent_here && job.out_of_time() {
            return Err(CopyError::OutOfTime(Checkpoint::default()));
        }
        let length = chunk.len() as u64;
        let (sent, next) = tokio::join!(
            job.dst.upload_chunk(session, *offset, chunk),
            reader.next_chunk()
        );
        sent?;
        *offset += length;
        sent_here = true;
        chunk = next?;
    }
    if *offset != blob.size {
        return Err(RegistryError::Invalid {
            registry: job.src.name().to_string(),
            what: format!(
                "blob {} ended at {} of {} bytes",
                blob.digest, offset, blob.size
            ),
        }
        .into());
    }
    Ok(())
}

/// How often a streamed upload looks at the deadline, and every how many looks at the stop flag.
const STREAM_WATCH: Duration = Duration::from_millis(100);
const STOP_EVERY_WATCHES: u32 = 20;

/// Streams the source from `offset` into the session in one request, moving `offset` to what the
/// destination holds. The stream is cut short (at a piece boundary, so the session stays sound)
/// when the execution is stopped, or when the invocation runs out of time once at least
/// [`MIN_PROGRESS`] went through in this invocation, so progress is certain.
async fn stream_from(
    job: &CopyJob<'_>,
    blob: &Descriptor,
    session: &mut UploadSession,
    offset: &mut u64,
    counters: &Counters,
    verifier: &Verifier,
) -> Result<(), CopyError> {
    job.check_stop().await?;
    let stream = job
        .src
        .get_blob_from(job.src_repository, &blob.digest, *offset)
        .await?;
    let sent = Arc::new(AtomicU64::new(0));
    let (cut, cut_here) = tokio::sync::oneshot::channel::<()>();
    let counted = Arc::clone(&sent);
    let body = verifier
        .check(paced(stream, counters.throttle.clone()), job.src.name())
        .inspect(move |piece| {
            if let Ok(piece) = piece {
                counted.fetch_add(piece.len() as u64, Ordering::Relaxed);
            }
        })
        .take_until(cut_here)
        .boxed();
    let mut why: Option<CopyError> = None;
    let held = {
        let upload = job.dst.upload_stream(session, body);
        tokio::pin!(upload);
        let mut cut = Some(cut);
        let mut watches = 0u32;
        loop {
            tokio::select! {
                // Bytes that did not match broke the request on purpose: that is the failure.
                held = &mut upload => break held.map_err(|e| verifier.refused().unwrap_or(e.into()))?,
                () = tokio::time::sleep(STREAM_WATCH), if cut.is_some() => {
                    watches += 1;
                    let progressed = sent.load(Ordering::Relaxed) >= MIN_PROGRESS;
                    if progressed && job.out_of_time() {
                        why = Some(CopyError::OutOfTime(Checkpoint::default()));
                    } else if watches % STOP_EVERY_WATCHES == 0 {
                        if let Err(stopped) = job.check_stop().await {
                            why = Some(stopped);
                        }
                    }
                    if why.is_some() {
                        if let Some(cut) = cut.take() {
                            let _ = cut.send(());
                        }
                    }
                }
            }
        }
    };
    *offset = held;
    if *offset >= blob.size {
        return Ok(());
    }
    match why {
        Some(reason) => Err(reason),
        None => Err(RegistryError::Transient {
            registry: job.dst.name().to_string(),
            method: "PATCH",
            path: session.location.clone(),
            message: format!(
                "blob {} upload ended at {} of {} bytes",
                blob.digest, offset, blob.size
            ),
            retry_after: None,
        }
        .into()),
    }
}

/// Cuts a blob stream into chunks of `chunk_size` bytes (the last one shorter, then empty).
struct ChunkReader {
    stream: BlobStream,
    carry: BytesMut,
    chunk_size: usize,
}

impl ChunkReader {
    async fn next_chunk(&mut self) -> Result<bytes::Bytes, RegistryError> {
        while self.carry.len() < self.chunk_size {
            match self.stream.next().await {
                Some(piece) => self.carry.extend_from_slice(&piece?),
                None => break,
            }
        }
        let take = self.carry.len().min(self.chunk_size);
        Ok(self.carry.split_to(take).freeze())
    }
}
