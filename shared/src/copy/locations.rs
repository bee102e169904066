//! Where blobs were seen, remembered in this process in front of the store's record: a blob
//! seen once is mounted by every later copy without asking the store, and recorded there once.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::oci::{Digest, Repository};
use crate::ports::registry::BlobLocations;

pub struct CachedLocations {
    backing: Option<Arc<dyn BlobLocations>>,
    seen: Mutex<lru::LruCache<(i64, Digest), Repository>>,
}

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
        }
    }

    fn cached(&self, registry_id: i64, digest: &Digest) -> Option<Repository> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(registry_id, digest.clone()))
            .cloned()
    }

    fn remember(&self, registry_id: i64, digest: &Digest, repository: &Repository) -> bool {
        let previous = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put((registry_id, digest.clone()), repository.clone());
        previous.as_ref() != Some(repository)
    }
}

#[async_trait]
impl BlobLocations for CachedLocations {
    async fn find_blob(&self, registry_id: i64, digest: &Digest) -> Option<Repository> {
        if let Some(found) = self.cached(registry_id, digest) {
            return Some(found);
        }
        let found = self
            .backing
            .as_ref()?
            .find_blob(registry_id, digest)
            .await?;
        self.remember(registry_id, digest, &found);
        Some(found)
    }

    async fn record_blob(&self, registry_id: i64, digest: &Digest, repository: &Repository) {
        if self.remember(registry_id, digest, repository) {
            if let Some(backing) = &self.backing {
                backing.record_blob(registry_id, digest, repository).await;
            }
        }
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
}
