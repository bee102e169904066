//! What a warm function keeps between the artifacts it copies: one client per registry (its
//! connections and tokens reused), one bound on the blobs copied at once per registry (shared
//! by every task of the invocation), and one upload at a time of each blob per destination.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use std::time::Instant;

use super::flights::{Flight, UploadFlights};
use super::shared_slots::{HeldSlot, SharedBlobSlots, SlotError};
use crate::model::Registry;
use crate::oci::Digest;
use crate::ports::budget::SharedBudgets;
use crate::ports::connect::Connect;
use crate::ports::registry::{RegistryClient, RegistryError};

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
    flights: Arc<UploadFlights>,
    /// Where the budgets every process shares are kept; None: registries' shared budgets are
    /// not kept (a test's in-process engine).
    shared: Option<Arc<dyn SharedBudgets>>,
}

impl RegistryPool {
    /// `blobs_per_registry`: blobs copied from or to one registry at once (at least 1).
    pub fn new(connect: Arc<dyn Connect>, blobs_per_registry: usize) -> Self {
        Self {
            connect,
            blobs_per_registry: blobs_per_registry.max(1),
            clients: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            flights: Arc::default(),
            shared: None,
        }
    }

    /// Registries' budgets of concurrent blobs (`options.budget`) held in `budgets`, across
    /// every process.
    pub fn with_shared_budgets(mut self, budgets: Arc<dyn SharedBudgets>) -> Self {
        self.shared = Some(budgets);
        self
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

    /// The bound on blob copies between two registries, and the uploads under way to the
    /// destination.
    pub fn blob_slots(&self, source: &Registry, destination: &Registry) -> BlobSlots {
        let mut registries = vec![source, destination];
        // Always taken in the order of registry ids, once per registry, so two tasks going
        // opposite ways between two registries can never hold one slot each and wait.
        registries.sort_unstable_by_key(|r| r.id);
        registries.dedup_by_key(|r| r.id);
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let ordered = registries
            .iter()
            .map(|r| {
                Arc::clone(
                    slots
                        .entry(r.id)
                        .or_insert_with(|| Arc::new(Semaphore::new(self.blobs_per_registry))),
                )
            })
            .collect();
        let shared = registries
            .iter()
            .filter_map(|r| {
                Some(Arc::new(SharedBlobSlots {
                    budgets: Arc::clone(self.shared.as_ref()?),
                    registry_id: r.id,
                    slots: r.options.budget?.concurrent_blobs?,
                    label: r.host().unwrap_or_else(|| r.name.clone()),
                }))
            })
            .collect();
        BlobSlots {
            ordered,
            shared,
            uploads: Some((Arc::clone(&self.flights), destination.id)),
        }
    }
}

/// Slots of the registries one copy touches (a blob copy holds one of each while it runs) and
/// the uploads under way to its destination.
#[derive(Clone, Default)]
pub struct BlobSlots {
    ordered: Vec<Arc<Semaphore>>,
    /// The registries' slots shared with every process, in the same order.
    shared: Vec<Arc<SharedBlobSlots>>,
    uploads: Option<(Arc<UploadFlights>, i64)>,
}

/// The slots one blob copy holds, this process's and the shared ones.
pub struct HeldSlots {
    local: Vec<OwnedSemaphorePermit>,
    shared: Vec<HeldSlot>,
}

impl HeldSlots {
    /// Slots of this process held.
    pub fn local(&self) -> usize {
        self.local.len()
    }

    /// Gives the shared slots back (this process's go with the value).
    pub async fn give_back(self) {
        for slot in self.shared {
            slot.give_back().await;
        }
    }
}

impl BlobSlots {
    /// Waits until no other copy of this process uploads `digest` to the destination, and
    /// holds that place until the guard goes: a blob shared by many tasks is uploaded once,
    /// and the others then find or mount it.
    pub async fn one_upload(&self, digest: &Digest) -> Option<Flight> {
        let (flights, destination) = self.uploads.as_ref()?;
        Some(flights.enter(*destination, digest).await)
    }

    /// Waits for a slot at every registry (none: returns at once): this process's, then the
    /// shared ones, until `deadline`; past it the copy is out of time.
    pub async fn acquire(&self, deadline: Option<Instant>) -> Result<HeldSlots, SlotError> {
        let mut local = Vec::with_capacity(self.ordered.len());
        for semaphore in &self.ordered {
            // The semaphores are never closed, so acquiring cannot fail.
            if let Ok(permit) = Arc::clone(semaphore).acquire_owned().await {
                local.push(permit);
            }
        }
        let mut shared = Vec::with_capacity(self.shared.len());
        for slots in &self.shared {
            match slots.take(deadline).await {
                Ok(slot) => shared.push(slot),
                Err(e) => {
                    HeldSlots { local, shared }.give_back().await;
                    return Err(e);
                }
            }
        }
        Ok(HeldSlots { local, shared })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::fakes::FakeRegistries;

    #[tokio::test]
    async fn slots_bound_each_registry_and_taking_one_registry_twice_is_one_slot() {
        let pool = RegistryPool::new(Arc::new(FakeRegistries::default()), 1);
        let registry = |id| Registry {
            id,
            ..Registry::default()
        };
        let same = pool.blob_slots(&registry(3), &registry(3));
        let held = same.acquire(None).await.expect("slots");
        assert_eq!(held.local(), 1);
        let other_way = pool.blob_slots(&registry(7), &registry(3));
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            other_way.acquire(None),
        )
        .await;
        assert!(waiting.is_err(), "registry 3 has one slot, held");
        drop(held);
        assert_eq!(other_way.acquire(None).await.expect("slots").local(), 2);
    }
}
