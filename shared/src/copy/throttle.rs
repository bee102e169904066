//! A task's bandwidth limit (the policy's `speed`, KiB/s), shared by all its blobs.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::ports::registry::BlobStream;

/// Bytes pass no faster than the rate, measured from the start of the copy.
pub struct Throttle {
    bytes_per_second: f64,
    start: Instant,
    sent: Mutex<u64>,
}

impl Throttle {
    /// None for 0 or less: unlimited.
    pub fn new(speed_kib: i32) -> Option<Arc<Self>> {
        (speed_kib > 0).then(|| {
            Arc::new(Self {
                bytes_per_second: f64::from(speed_kib) * 1024.0,
                start: Instant::now(),
                sent: Mutex::new(0),
            })
        })
    }

    /// How long `bytes` take at the rate.
    pub fn time_for(&self, bytes: u64) -> Duration {
        Duration::from_secs_f64(bytes as f64 / self.bytes_per_second)
    }

    /// Waits until `bytes` more fit under the rate.
    pub async fn pass(&self, bytes: u64) {
        let due = {
            let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
            *sent += bytes;
            Duration::from_secs_f64(*sent as f64 / self.bytes_per_second)
        };
        let wait = due.saturating_sub(self.start.elapsed());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The source stream, paced by the task's throttle when it has one.
pub fn paced(stream: BlobStream, throttle: Option<Arc<Throttle>>) -> BlobStream {
    match throttle {
        None => stream,
        Some(throttle) => stream
            .then(move |piece| {
                let throttle = Arc::clone(&throttle);
                async move {
                    if let Ok(bytes) = &piece {
                        throttle.pass(bytes.len() as u64).await;
                    }
                    piece
                }
            })
            .boxed(),
    }
}
