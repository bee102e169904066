//! Where blobs were seen, remembered in this process in front of the store's record: a blob
//! seen once is mounted by every later copy without asking the store, and recorded there once.
//! A blob the store did not know is not asked about again for a few seconds (another process
//! recording it meanwhile only costs a copy instead of a mount), and a blob already being asked
//! about is not asked again: concurrent copies (the tags of one repository in one batch share
//! their layers) wait for the one answer.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::oci::{Digest, Repository};
use crate::ports::registry::BlobLocations;

pub struct CachedLocations {
    backing: Option<Arc<dyn BlobLocations>>,
    seen: Mutex<lru::LruCache<(i64, Digest), Repository>>,
    /// Blobs the store had no record of, and when it said so.
    unknown: Mutex<lru::LruCache<(i64, Digest), Instant>>,
    /// Blobs being asked about now, and how to hear the answer.
    asking: Mutex<HashMap<(i64, Digest), Arc<Notify>>>,
}

/// How long "the store has no record of this blob" is believed.
const UNKNOWN_FRESH: Duration = Duration::from_secs(10);

/// Locations kept in memory: about 100 bytes each.
const LOCATIONS_KEPT: usize = 100_000;

impl CachedLocations {
    /// `backing` is the store's record that outlives this process; None keeps them here only.
    pub fn new(backing: Option<Arc<dyn BlobLocations>>) -> Self {
        Self {
            backing,
            seen: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(LOCATIONS_KEPT).unwrap_or(NonZeroUsize::MIN),
            )),
            unknown: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(LOCATIONS_KEPT).unwrap_or(NonZeroUsize::MIN),
            )),
            asking: Mutex::new(HashMap::new()),
        }
    }

    fn known_unknown(&self, registry_id: i64, digest: &Digest) -> bool {
        self.unknown
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(registry_id, digest.clone()))
            .is_some_and(|at| at.elapsed() < UNKNOWN_FRESH)
    }

    fn mark_unknown(&self, registry_id: i64, digest: &Digest) {
        self.unknown
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put((registry_id, digest.clone()), Instant::now());
    }

    fn cached(&self, registry_id: i64, digest: &Digest) -> Option<Repository> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(registry_id, digest.clone()))
            .cloned()
    }

    fn remember(&self, registry_id: i64, digest: &Digest, repository: &Repository) -> bool {
        self.unknown
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop(&(registry_id, digest.clone()));
        let previous = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put((registry_id, digest.clone()), repository.clone());
        previous.as_ref() != Some(repository)
    }
}

/// Blobs this call is asking the store about: no longer so, and their waiters told, when it
/// is dropped.
struct Answering<'a> {
    asking: &'a Mutex<HashMap<(i64, Digest), Arc<Notify>>>,
    registry_id: i64,
    digests: &'a [Digest],
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        let mut asking = self.asking.lock().unwrap_or_else(PoisonError::into_inner);
        for digest in self.digests {
            if let Some(answer) = asking.remove(&(self.registry_id, digest.clone())) {
                answer.notify_waiters();
            }
        }
    }
}

#[async_trait]
impl BlobLocations for CachedLocations {
    async fn find_blob(&self, registry_id: i64, digest: &Digest) -> Option<Repository> {
        if let Some(found) = self.cached(registry_id, digest) {
            return Some(found);
        }
        if self.known_unknown(registry_id, digest) {
            return None;
        }
        let found = self.backing.as_ref()?.find_blob(registry_id, digest).await;
        match &found {
            Some(repository) => {
                self.remember(registry_id, digest, repository);
            }
            None => self.mark_unknown(registry_id, digest),
        }
        found
    }

    /// Asks the store, in one go, about the blobs neither remembered nor recently unknown nor
    /// being asked about already (those answers are awaited).
    async fn find_blobs(
        &self,
        registry_id: i64,
        digests: &[Digest],
    ) -> HashMap<Digest, Repository> {
        let mut found = HashMap::new();
        let (mut ask, mut awaited) = (Vec::new(), Vec::new());
        for digest in digests {
            match self.cached(registry_id, digest) {
                Some(repository) => {
                    found.insert(digest.clone(), repository);
                }
                None if !self.known_unknown(registry_id, digest) => ask.push(digest.clone()),
                None => {}
            }
        }
        if self.backing.is_some() {
            let mut asking = self.asking.lock().unwrap_or_else(PoisonError::into_inner);
            ask.retain(|digest| match asking.entry((registry_id, digest.clone())) {
                Entry::Occupied(answer) => {
                    // Listening from now, under the lock: the answer cannot be missed.
                    let mut heard = Box::pin(Arc::clone(answer.get()).notified_owned());
                    heard.as_mut().enable();
                    awaited.push((digest.clone(), heard));
                    false
                }
                Entry::Vacant(slot) => {
                    slot.insert(Arc::new(Notify::new()));
                    true
                }
            });
        }
        if let Some(backing) = self.backing.as_ref().filter(|_| !ask.is_empty()) {
            // Whatever happens to this call (answered, or dropped at a deadline), the waiters
            // hear when it is over.
            let _answering = Answering {
                asking: &self.asking,
                registry_id,
                digests: &ask,
            };
            let answered = backing.find_blobs(registry_id, &ask).await;
            for digest in &ask {
                match answered.get(digest) {
                    Some(repository) => {
                        self.remember(registry_id, digest, repository);
                        found.insert(digest.clone(), repository.clone());
                    }
                    None => self.mark_unknown(registry_id, digest),
                }
            }
        }
        for (digest, heard) in awaited {
            heard.await;
            if let Some(repository) = self.cached(registry_id, &digest) {
                found.insert(digest, repository);
            }
        }
        found
    }

    async fn record_blob(&self, registry_id: i64, digest: &Digest, repository: &Repository) {
        if self.remember(registry_id, digest, repository) {
            if let Some(backing) = &self.backing {
                backing.record_blob(registry_id, digest, repository).await;
            }
        }
    }

    /// Records here, and in the store in one go, the blobs whose location is new to this process.
    async fn record_blobs(&self, registry_id: i64, digests: &[Digest], repository: &Repository) {
        let new: Vec<Digest> = digests
            .iter()
            .filter(|d| self.remember(registry_id, d, repository))
            .cloned()
            .collect();
        if let (Some(backing), false) = (&self.backing, new.is_empty()) {
            backing.record_blobs(registry_id, &new, repository).await;
        }
    }

    fn seen_here(&self, registry_id: i64, digest: &Digest) -> Option<Repository> {
        self.cached(registry_id, digest)
    }

    fn keep_here(&self, registry_id: i64, digests: &[Digest], repository: &Repository) {
        for digest in digests {
            self.remember(registry_id, digest, repository);
        }
    }

    fn answered_here(&self, registry_id: i64, digests: &[Digest]) -> Vec<Digest> {
        digests
            .iter()
            .filter(|d| self.cached(registry_id, d).is_some() || self.known_unknown(registry_id, d))
            .cloned()
            .collect()
    }

    async fn forget_blob(&self, registry_id: i64, digest: &Digest) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop(&(registry_id, digest.clone()));
        if let Some(backing) = &self.backing {
            backing.forget_blob(registry_id, digest).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn locations_are_remembered_per_registry_and_forgotten_when_wrong() {
        let locations = CachedLocations::new(None);
        let digest = Digest::sha256(b"a");
        let base = Repository::parse("library/base").expect("name");
        assert_eq!(locations.find_blob(1, &digest).await, None);
        locations.record_blob(1, &digest, &base).await;
        assert_eq!(locations.find_blob(1, &digest).await, Some(base));
        assert_eq!(locations.find_blob(2, &digest).await, None);
        locations.forget_blob(1, &digest).await;
        assert_eq!(locations.find_blob(1, &digest).await, None);
    }

    /// A store's record that counts the requests it answers.
    #[derive(Default)]
    struct Counted {
        held: Mutex<std::collections::HashMap<Digest, Repository>>,
        requests: std::sync::atomic::AtomicUsize,
        writes: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl BlobLocations for Counted {
        async fn find_blob(&self, _: i64, digest: &Digest) -> Option<Repository> {
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.held.lock().ok()?.get(digest).cloned()
        }
        async fn find_blobs(
            &self,
            _: i64,
            digests: &[Digest],
        ) -> std::collections::HashMap<Digest, Repository> {
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // An answer takes a while: concurrent callers meet.
            tokio::task::yield_now().await;
            let held = self.held.lock().map(|h| h.clone()).unwrap_or_default();
            digests
                .iter()
                .filter_map(|d| Some((d.clone(), held.get(d)?.clone())))
                .collect()
        }
        async fn record_blob(&self, _: i64, digest: &Digest, repository: &Repository) {
            if let Ok(mut held) = self.held.lock() {
                held.insert(digest.clone(), repository.clone());
            }
        }
        async fn record_blobs(&self, _: i64, digests: &[Digest], repository: &Repository) {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Ok(mut held) = self.held.lock() {
                for digest in digests {
                    held.insert(digest.clone(), repository.clone());
                }
            }
        }
        async fn forget_blob(&self, _: i64, _: &Digest) {}
    }

    #[tokio::test]
    async fn a_manifest_s_new_locations_are_recorded_in_one_write_and_known_ones_not_again() {
        let backing = Arc::new(Counted::default());
        let locations = CachedLocations::new(Some(backing.clone()));
        let app = Repository::parse("library/app").expect("name");
        let (a, b) = (Digest::sha256(b"a"), Digest::sha256(b"b"));
        locations
            .record_blobs(1, &[a.clone(), b.clone()], &app)
            .await;
        assert_eq!(backing.writes.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(backing.held.lock().map(|h| h.len()).unwrap_or(0), 2);
        // Known here already in that repository: nothing to write.
        locations.record_blobs(1, &[a.clone(), b], &app).await;
        assert_eq!(backing.writes.load(std::sync::atomic::Ordering::Relaxed), 1);
        // A new repository for one of them: one write of that one.
        let other = Repository::parse("library/other").expect("name");
        locations
            .record_blobs(1, std::slice::from_ref(&a), &other)
            .await;
        assert_eq!(backing.writes.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert_eq!(locations.find_blob(1, &a).await, Some(other));
    }

    #[tokio::test]
    async fn a_manifest_s_blobs_are_asked_for_once_and_the_unknown_are_not_asked_again() {
        let backing = Arc::new(Counted::default());
        let base = Repository::parse("library/base").expect("name");
        let (known, new) = (Digest::sha256(b"known"), Digest::sha256(b"new"));
        backing.record_blob(1, &known, &base).await;
        let locations = CachedLocations::new(Some(backing.clone()));
        let found = locations.find_blobs(1, &[known.clone(), new.clone()]).await;
        assert_eq!(found.get(&known), Some(&base));
        assert_eq!(found.len(), 1);
        // The copy of each blob then asks again: answered here, the unknown one too.
        assert_eq!(locations.find_blob(1, &known).await, Some(base.clone()));
        assert_eq!(locations.find_blob(1, &new).await, None);
        assert_eq!(
            backing.requests.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "one request for the manifest"
        );
        // Once recorded here, the unknown blob is known at once.
        let other = Repository::parse("library/app").expect("name");
        locations.record_blob(1, &new, &other).await;
        assert_eq!(locations.find_blob(1, &new).await, Some(other));
    }

    #[tokio::test]
    async fn concurrent_copies_wait_for_one_answer_about_the_same_blob() {
        let backing = Arc::new(Counted::default());
        let base = Repository::parse("library/base").expect("name");
        let (known, new) = (Digest::sha256(b"known"), Digest::sha256(b"new"));
        backing.record_blob(1, &known, &base).await;
        let locations = CachedLocations::new(Some(backing.clone()));
        let both = [known.clone(), new.clone()];
        let (a, b, c) = tokio::join!(
            locations.find_blobs(1, &both),
            locations.find_blobs(1, &both),
            locations.find_blobs(1, std::slice::from_ref(&known)),
        );
        for found in [&a, &b, &c] {
            assert_eq!(found.get(&known), Some(&base));
            assert_eq!(found.get(&new), None);
        }
        assert_eq!(
            backing.requests.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "one request for the three"
        );
        // An asker dropped midway (a deadline) lets the next one ask.
        let asked = backing.requests.load(std::sync::atomic::Ordering::Relaxed);
        let other = Digest::sha256(b"other");
        let mut pending = Box::pin(locations.find_blobs(1, std::slice::from_ref(&other)));
        assert!(futures::poll!(pending.as_mut()).is_pending());
        drop(pending);
        assert!(locations.find_blobs(1, &[other]).await.is_empty());
        assert_eq!(
            backing.requests.load(std::sync::atomic::Ordering::Relaxed),
            asked + 2
        );
    }
}
