//! What a warm transfer process read from the store a moment ago, read again only once it may
//! have changed: a registry (its URL and secret) for half a minute, whether an execution was
//! stopped for two seconds. Every blob of every task asks whether its execution was stopped;
//! without this, that question alone is most of a copy's store reads. When a read goes stale,
//! one of the copies running at that moment reads again and the others wait for its answer
//! rather than all asking at once.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::model::{ExecutionStatus, Registry};
use crate::ports::store::{Store, StoreError};

/// How long a registry read stays good: a changed secret or URL reaches running copies
/// within this.
const REGISTRY_FRESH: Duration = Duration::from_secs(30);
/// How long a stop check stays good: a stop reaches running copies within this.
const STOP_FRESH: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct RecentReads {
    registries: Mutex<HashMap<i64, (Instant, Registry)>>,
    statuses: Mutex<HashMap<i64, (Instant, ExecutionStatus)>>,
    /// Held while reading from the store.
    reading: tokio::sync::Mutex<()>,
}

fn fresh<T: Clone>(
    map: &Mutex<HashMap<i64, (Instant, T)>>,
    id: i64,
    within: Duration,
) -> Option<T> {
    let map = map.lock().unwrap_or_else(PoisonError::into_inner);
    map.get(&id)
        .filter(|(at, _)| at.elapsed() < within)
        .map(|(_, value)| value.clone())
}

fn keep<T>(map: &Mutex<HashMap<i64, (Instant, T)>>, id: i64, value: T) {
    map.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, (Instant::now(), value));
}

impl RecentReads {
    /// The registry with its secret, from the store at most every [`REGISTRY_FRESH`].
    pub async fn registry(&self, store: &dyn Store, id: i64) -> Result<Registry, StoreError> {
        if let Some(registry) = fresh(&self.registries, id, REGISTRY_FRESH) {
            return Ok(registry);
        }
        let _reading = self.reading.lock().await;
        if let Some(registry) = fresh(&self.registries, id, REGISTRY_FRESH) {
            return Ok(registry);
        }
        let registry = store.get_registry_with_secret(id).await?;
        keep(&self.registries, id, registry.clone());
        Ok(registry)
    }

    /// The execution's status, from the store at most every [`STOP_FRESH`].
    pub async fn status(
        &self,
        store: &dyn Store,
        execution_id: i64,
    ) -> Result<ExecutionStatus, StoreError> {
        if let Some(status) = fresh(&self.statuses, execution_id, STOP_FRESH) {
            return Ok(status);
        }
        let _reading = self.reading.lock().await;
        if let Some(status) = fresh(&self.statuses, execution_id, STOP_FRESH) {
            return Ok(status);
        }
        let status = store.get_execution(execution_id).await?.status;
        keep(&self.statuses, execution_id, status);
        Ok(status)
    }

    /// Whether the execution was stopped, as [`Self::status`] reads it; a store that does not
    /// answer counts as not stopped (the next check asks again).
    pub async fn stopped(&self, store: &dyn Store, execution_id: i64) -> bool {
        matches!(
            self.status(store, execution_id).await,
            Ok(ExecutionStatus::Stopped)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TriggerType;
    use crate::ports::fakes::MemoryStore;
    use crate::ports::store::{ExecutionStore, Launch, RegistryStore};

    #[tokio::test]
    async fn reads_are_kept_a_moment_and_a_stop_is_seen_within_it() {
        let store = MemoryStore::default();
        let registry = store
            .create_registry(&Registry {
                name: "r".into(),
                url: "https://r.example".into(),
                ..Registry::default()
            })
            .await
            .expect("registry");
        let execution = store
            .create_execution(1, TriggerType::Manual, 1, &Launch::Listing)
            .await
            .expect("execution");
        let recent = RecentReads::default();
        assert!(!recent.stopped(&store, execution.id).await);
        assert_eq!(
            recent
                .registry(&store, registry.id)
                .await
                .expect("read")
                .url,
            "https://r.example"
        );
        store
            .faults
            .fail("get_registry", 1, crate::ports::fakes::Injected::Transient);
        assert!(
            recent.registry(&store, registry.id).await.is_ok(),
            "kept: the store is not asked"
        );
        store
            .end_execution(execution.id, ExecutionStatus::Stopped, "stopped")
            .await
            .expect("stop");
        assert!(
            !recent.stopped(&store, execution.id).await,
            "still the kept answer"
        );
        tokio::time::sleep(STOP_FRESH).await;
        assert!(recent.stopped(&store, execution.id).await);
    }

    #[tokio::test]
    async fn copies_that_find_a_read_stale_together_read_it_once() {
        let store = MemoryStore::default();
        let execution = store
            .create_execution(1, TriggerType::Manual, 1, &Launch::Listing)
            .await
            .expect("execution");
        let recent = RecentReads::default();
        let before = store.faults.calls("get_execution");
        let checks: Vec<_> = (0..8)
            .map(|_| recent.stopped(&store, execution.id))
            .collect();
        futures::future::join_all(checks).await;
        assert_eq!(store.faults.calls("get_execution") - before, 1);
    }
}
