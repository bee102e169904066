//! One upload of a blob at a time per destination registry in this process: the copies that
//! need the same blob wait for the first, then find it (HEAD) or mount it from where it went.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedMutexGuard;

use crate::oci::Digest;

type Key = (i64, Digest);

#[derive(Default)]
pub struct UploadFlights(Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>);

/// The place of one blob's upload, held while it runs.
pub struct Flight {
    flights: Arc<UploadFlights>,
    key: Key,
    guard: Option<OwnedMutexGuard<()>>,
}

impl UploadFlights {
    pub async fn enter(self: &Arc<Self>, registry_id: i64, digest: &Digest) -> Flight {
        let key = (registry_id, digest.clone());
        let lock = Arc::clone(
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key.clone())
                .or_default(),
        );
        Flight {
            flights: Arc::clone(self),
            key,
            guard: Some(lock.lock_owned().await),
        }
    }

    #[cfg(test)]
    fn entries(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        let mut flights = self
            .flights
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.guard = None;
        // Nobody else holds or waits for this blob's place (only the map's own reference is
        // left): it goes, so the map holds only uploads under way.
        if flights
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            flights.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_upload_per_blob_and_destination_and_nothing_left_behind() {
        let flights = Arc::new(UploadFlights::default());
        let (a, b) = (Digest::sha256(b"a"), Digest::sha256(b"b"));
        let first = flights.enter(1, &a).await;
        // Another blob, or the same blob to another registry, goes at once.
        let other_blob = flights.enter(1, &b).await;
        let other_registry = flights.enter(2, &a).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), flights.enter(1, &a)).await;
        assert!(waiting.is_err(), "the same blob to the same registry waits");
        drop(first);
        let second = tokio::time::timeout(Duration::from_millis(50), flights.enter(1, &a))
            .await
            .expect("goes once the first is done");
        drop((second, other_blob, other_registry));
        assert_eq!(flights.entries(), 0);
    }
}
