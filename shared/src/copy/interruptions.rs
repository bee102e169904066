//! How a blob copy rides out interruptions (a reset, a 5xx, a 429): how often, and how long it
//! waits before going on from where it was.

use std::time::{Duration, Instant};

use super::job::{CopyError, CopyJob};
use crate::model::Checkpoint;
use crate::ports::registry::RegistryError;

/// Interruptions a blob copy survives before its task fails (or its message is retried).
pub(super) const BLOB_ATTEMPTS: u32 = 8;

/// Waits before another attempt: the registry's `Retry-After`, or exponential with jitter. A
/// wait that would outlast the copy's time is not taken: the copy is out of time instead, and
/// goes on in the next invocation.
pub(super) async fn pause(
    job: &CopyJob<'_>,
    attempt: u32,
    error: &RegistryError,
) -> Result<(), CopyError> {
    let backoff = Duration::from_millis(200u64.saturating_mul(1 << attempt.min(6)));
    let jitter = Duration::from_millis((uuid::Uuid::new_v4().as_u128() % 200) as u64);
    let wait = error
        .retry_after()
        .unwrap_or(backoff + jitter)
        .min(Duration::from_secs(30));
    if job.deadline.is_some_and(|d| Instant::now() + wait >= d) {
        tracing::warn!(error = %error, ?wait, "blob copy interrupted, no time left to wait");
        return Err(CopyError::OutOfTime(Checkpoint::default()));
    }
    tracing::warn!(error = %error, ?wait, attempt, "blob copy interrupted; resuming");
    tokio::time::sleep(wait).await;
    Ok(())
}
