//! What a warm function keeps between the artifacts it copies: one client per registry (its
//! connections and tokens reused), one bound on the blobs copied at once per registry (shared
//! by every task of the invocation), and a cache of where blobs were seen, in front of the store.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::model::Registry;
use crate::oci::{Digest, Repository};
use crate::ports::connect::Connect;
use crate::ports::registry::{BlobLocations, RegistryClient, RegistryError};

struct Pooled {
    /// What the client was made from: a registry that changed gets a new client.
    made_from: (String, time::OffsetDateTime, bool, Option<String>),
    client: Arc<dyn RegistryClient>,
}

pub struct RegistryPool {
    connect: Arc<dyn Connect>,
    blobs_per_registry: usize,
    clients: Mutex<HashMap<i64, Pooled>>,
    slots: Mutex<HashMap<i64, Arc<Semaphore>>>,
}

impl RegistryPool {
    /// `blobs_per_registry`: blobs copied from or to one registry at once (at least 1).
    pub fn new(connect: Arc<dyn Connect>, blobs_per_registry: usize) -> Self {
        Self {
            connect,
            blobs_per_registry: blobs_per_registry.max(1),
            clients: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `registry`, made once and remade when the registry changed.
    pub fn client(&self, registry: &Registry) -> Result<Arc<dyn RegistryClient>, RegistryError> {
        let made_from = (
            registry.url.clone(),
            registry.update_time,
            registry.insecure,
            registry.credential.as_ref().map(|c| {
                format!(
                    "{}:{}",
                    c.access_key,
                    c.access_secret.as_deref().unwrap_or_default()
                )
            }),
        );
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pooled) = clients.get(&registry.id) {
            if pooled.made_from == made_from {
                return Ok(Arc::clone(&pooled.client));
            }
        }
        let client: Arc<dyn RegistryClient> = Arc::from(self.connect.client(registry)?);
        clients.insert(
            registry.id,
            Pooled {
                made_from,
                client: Arc::clone(&client),
            },
        );
        Ok(client)
    }

    /// The bound on blob copies touching the given registries (source and destination).
    pub fn blob_slots(&self, registry_ids: &[i64]) -> BlobSlots {
        let mut ids = registry_ids.to_vec();
        // Always taken in the order of registry ids, once per registry, so two tasks going
        // opposite ways between two registries can never hold one slot each and wait.
        ids.sort_unstable();
        ids.dedup();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        BlobSlots {
            ordered: ids
                .into_iter()
                .map(|id| {
                    Arc::clone(
                        slots
                            .entry(id)
                            .or_insert_with(|| Arc::new(Semaphore::new(self.blobs_per_registry))),
                    )
                })
                .collect(),
        }
    }
}

/// Slots of the registries one copy touches; a blob copy holds one of each while it runs.
#[derive(Clone, Default)]
pub struct BlobSlots {
    ordered: Vec<Arc<Semaphore>>,
}

impl BlobSlots {
    /// Waits for a slot at every registry (none: returns at once).
    pub async fn acquire(&self) -> Vec<OwnedSemaphorePermit> {
        let mut permits = Vec::with_capacity(self.ordered.len());
        for semaphore in &self.ordered {
            // The semaphores are never closed, so acquiring cannot fail.
            if let Ok(permit) = Arc::clone(semaphore).acquire_owned().await {
                permits.push(permit);
            }
        }
        permits
    }
}

/// Blob locations remembered in this process, in front of the store's: a blob seen once is
/// mounted by every later copy without asking the store, and recorded in the store once.
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::fakes::FakeRegistries;

    #[tokio::test]
    async fn locations_are_remembered_per_registry() {
        let locations = CachedLocations::new(None);
        let digest = Digest::sha256(b"a");
        let base = Repository::parse("library/base").expect("name");
        assert_eq!(locations.find_blob(1, &digest).await, None);
        locations.record_blob(1, &digest, &base).await;
        assert_eq!(locations.find_blob(1, &digest).await, Some(base));
        assert_eq!(locations.find_blob(2, &digest).await, None);
    }

    #[tokio::test]
    async fn slots_bound_each_registry_and_taking_one_registry_twice_is_one_slot() {
        let pool = RegistryPool::new(Arc::new(FakeRegistries::default()), 1);
        let same = pool.blob_slots(&[3, 3]);
        let held = same.acquire().await;
        assert_eq!(held.len(), 1);
        let other_way = pool.blob_slots(&[7, 3]);
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), other_way.acquire()).await;
        assert!(waiting.is_err(), "registry 3 has one slot, held");
        drop(held);
        assert_eq!(other_way.acquire().await.len(), 2);
    }
}
