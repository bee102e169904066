//! The store in memory: the same promises as the DynamoDB store (unique names, references
//! counted, idempotent task batches, status changes conditional on the status they leave, one
//! final status), kept by the domain's rules.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, page_of, Faults, Injected};
use crate::model::{
    time_format, Execution, Registry, RegistryHealth, RegistryStatus, ReplicationPolicy, Task,
    TaskLease, ValidationError, SECRET_MASK,
};
use crate::oci::{Digest, Repository};
use crate::ports::registry::BlobLocations;
mod executions;
mod tasks;

use crate::ports::store::{
    Launch, Page, PolicyChange, PolicyStore, RegistryChange, RegistryStore, StoreError,
};

#[derive(Default, Clone)]
struct Activity {
    updated_ms: i64,
    launch: Launch,
    relaunched: bool,
}

#[derive(Default)]
struct State {
    next_id: i64,
    /// Registries with their secrets in clear, and how many policies refer to each.
    registries: BTreeMap<i64, (Registry, i64)>,
    /// Webhook tokens by registry.
    webhook_tokens: HashMap<i64, String>,
    policies: BTreeMap<i64, ReplicationPolicy>,
    /// Executions with their open list pieces.
    executions: BTreeMap<i64, (Execution, i64)>,
    /// Beside each execution: when it last moved, what it was launched to do, relaunched.
    activity: HashMap<i64, Activity>,
    /// The one running execution of each `single_active_replication` policy.
    active: HashMap<i64, i64>,
    tasks: BTreeMap<(i64, i64), Task>,
    /// One-time markers: claims, list pieces opened and closed.
    markers: HashSet<String>,
    /// Task batches: the ids they got.
    batches: HashMap<String, Vec<i64>>,
    blobs: HashMap<(i64, Digest), Repository>,
    filtered: HashMap<(Digest, String), Digest>,
    /// Who holds each task, beside it as in the DynamoDB item.
    leases: HashMap<(i64, i64), TaskLease>,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    pub faults: Faults,
}

impl State {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Records that an execution moved now.
    fn touch(&mut self, id: i64) {
        if let Some(activity) = self.activity.get_mut(&id) {
            activity.updated_ms = time_format::now_millis();
        }
    }

    fn execution(&mut self, id: i64) -> Result<&mut (Execution, i64), StoreError> {
        self.executions.get_mut(&id).ok_or(StoreError::NotFound {
            entity: "execution",
            id,
        })
    }

    fn name_taken(&self, entity: &'static str, name: &str, except: i64) -> bool {
        match entity {
            "registry" => self
                .registries
                .values()
                .any(|(r, _)| r.name == name && r.id != except),
            _ => self
                .policies
                .values()
                .any(|p| p.name == name && p.id != except),
        }
    }

    /// Moves the reference counts from a policy's old registries to its new ones; a new one
    /// must exist.
    fn move_references(&mut self, old: (i64, i64), new: (i64, i64)) -> Result<(), StoreError> {
        for (field, id) in [("src_registry.id", new.0), ("dest_registry.id", new.1)] {
            if id != 0 && !self.registries.contains_key(&id) {
                return Err(StoreError::Invalid(ValidationError::new(
                    field,
                    format!("registry {id} does not exist"),
                )));
            }
        }
        for (id, delta) in [(old.0, -1), (old.1, -1), (new.0, 1), (new.1, 1)] {
            if let Some((_, refs)) = self.registries.get_mut(&id) {
                *refs += delta;
            }
        }
        Ok(())
    }
}

fn masked(registry: &Registry) -> Registry {
    registry.masked()
}

fn references(policy: &ReplicationPolicy) -> (i64, i64) {
    (policy.src_registry_id(), policy.dest_registry_id())
}

impl MemoryStore {
    fn check(&self, operation: &'static str) -> Result<(), StoreError> {
        match self.faults.take(operation) {
            None => Ok(()),
            Some(Injected::Transient) => Err(StoreError::Backend {
                table: "memory".into(),
                operation,
                message: "injected failure".into(),
            }),
            Some(Injected::Refused(_)) => Err(StoreError::Corrupt {
                table: "memory".into(),
                message: format!("{operation}: injected refusal"),
            }),
        }
    }

    /// Every task of an execution, as stored.
    pub fn tasks_of(&self, execution_id: i64) -> Vec<Task> {
        lock(&self.state)
            .tasks
            .range((execution_id, 0)..(execution_id + 1, 0))
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// Makes a task's lease look as if it ended `ago` milliseconds before now (a delivery
    /// that died long ago), for the reaper's tests.
    pub fn age_lease(&self, execution_id: i64, task_id: i64, ago: i64) {
        let mut state = lock(&self.state);
        let lease = state.leases.entry((execution_id, task_id)).or_default();
        lease.lease_until = Some(time_format::now_millis() - ago);
    }

    /// Makes an execution look as if nothing moved for `ago` milliseconds.
    pub fn age_execution(&self, execution_id: i64, ago: i64) {
        if let Some(activity) = lock(&self.state).activity.get_mut(&execution_id) {
            activity.updated_ms = time_format::now_millis() - ago;
        }
    }

    /// An execution's open list pieces.
    pub fn listings_pending(&self, execution_id: i64) -> Option<i64> {
        lock(&self.state)
            .executions
            .get(&execution_id)
            .map(|(_, pending)| *pending)
    }
}

#[async_trait]
impl RegistryStore for MemoryStore {
    async fn create_registry(&self, registry: &Registry) -> Result<Registry, StoreError> {
        self.check("create_registry")?;
        let mut state = lock(&self.state);
        if state.name_taken("registry", &registry.name, 0) {
            return Err(StoreError::DuplicateName {
                entity: "registry",
                name: registry.name.clone(),
            });
        }
        let mut record = registry.clone();
        record.id = state.id();
        record.creation_time = time_format::now();
        record.update_time = record.creation_time;
        state.registries.insert(record.id, (record.clone(), 0));
        Ok(masked(&record))
    }

    async fn get_registry(&self, id: i64) -> Result<Registry, StoreError> {
        self.get_registry_with_secret(id).await.map(|r| masked(&r))
    }

    async fn record_health(
        &self,
        id: i64,
        status: RegistryStatus,
        health: &RegistryHealth,
    ) -> Result<(), StoreError> {
        self.check("record_health")?;
        let mut state = lock(&self.state);
        let (registry, _) = state.registries.get_mut(&id).ok_or(StoreError::NotFound {
            entity: "registry",
            id,
        })?;
        registry.status = status;
        registry.health = Some(health.clone());
        Ok(())
    }

    async fn get_registry_with_secret(&self, id: i64) -> Result<Registry, StoreError> {
        self.check("get_registry")?;
        lock(&self.state)
            .registries
            .get(&id)
            .map(|(r, _)| r.clone())
            .ok_or(StoreError::NotFound {
                entity: "registry",
                id,
            })
    }

    async fn update_registry(
        &self,
        id: i64,
        change: &RegistryChange<'_>,
    ) -> Result<Registry, StoreError> {
        self.check("update_registry")?;
        let mut state = lock(&self.state);
        let (current, _) = state
            .registries
            .get(&id)
            .cloned()
            .ok_or(StoreError::NotFound {
                entity: "registry",
                id,
            })?;
        let mut updated = masked(&current);
        change(&mut updated)?;
        if state.name_taken("registry", &updated.name, id) {
            return Err(StoreError::DuplicateName {
                entity: "registry",
                name: updated.name,
            });
        }
        if let (Some(new), Some(old)) = (updated.credential.as_mut(), current.credential.as_ref()) {
            if new.access_secret.as_deref() == Some(SECRET_MASK) {
                new.access_secret = old.access_secret.clone();
            }
        }
        updated.id = id;
        updated.update_time = time_format::now();
        if let Some((stored, _)) = state.registries.get_mut(&id) {
            *stored = updated.clone();
        }
        Ok(masked(&updated))
    }

    async fn delete_registry(&self, id: i64) -> Result<(), StoreError> {
        self.check("delete_registry")?;
        let mut state = lock(&self.state);
        match state.registries.get(&id) {
            None => Err(StoreError::NotFound {
                entity: "registry",
                id,
            }),
            Some((_, refs)) if *refs > 0 => Err(StoreError::InUse {
                entity: "registry",
                id,
                reason: format!("{refs} replication policies refer to it"),
            }),
            Some(_) => {
                state.registries.remove(&id);
                Ok(())
            }
        }
    }

    async fn list_registries(
        &self,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Registry>, StoreError> {
        self.check("list_registries")?;
        let all = lock(&self.state)
            .registries
            .values()
            .map(|(r, _)| masked(r))
            .collect();
        page_of(all, cursor, limit)
    }

    async fn set_webhook_token(&self, id: i64, token: &str) -> Result<(), StoreError> {
        self.check("set_webhook_token")?;
        let mut state = lock(&self.state);
        if !state.registries.contains_key(&id) {
            return Err(StoreError::NotFound {
                entity: "registry",
                id,
            });
        }
        state.webhook_tokens.insert(id, token.to_string());
        Ok(())
    }

    async fn webhook_token(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.check("webhook_token")?;
        let state = lock(&self.state);
        if !state.registries.contains_key(&id) {
            return Err(StoreError::NotFound {
                entity: "registry",
                id,
            });
        }
        Ok(state.webhook_tokens.get(&id).cloned())
    }
}

#[async_trait]
impl PolicyStore for MemoryStore {
    async fn create_policy(
        &self,
        policy: &ReplicationPolicy,
    ) -> Result<ReplicationPolicy, StoreError> {
        self.check("create_policy")?;
        let mut state = lock(&self.state);
        if state.name_taken("policy", &policy.name, 0) {
            return Err(StoreError::DuplicateName {
                entity: "policy",
                name: policy.name.clone(),
            });
        }
        state.move_references((0, 0), references(policy))?;
        let mut record = policy.clone();
        record.id = state.id();
        record.creation_time = time_format::now();
        record.update_time = record.creation_time;
        state.policies.insert(record.id, record.clone());
        Ok(record)
    }

    async fn get_policy(&self, id: i64) -> Result<ReplicationPolicy, StoreError> {
        self.check("get_policy")?;
        lock(&self.state)
            .policies
            .get(&id)
            .cloned()
            .ok_or(StoreError::NotFound {
                entity: "policy",
                id,
            })
    }

    async fn update_policy(
        &self,
        id: i64,
        change: &PolicyChange<'_>,
    ) -> Result<ReplicationPolicy, StoreError> {
        self.check("update_policy")?;
        let mut state = lock(&self.state);
        let current = state
            .policies
            .get(&id)
            .cloned()
            .ok_or(StoreError::NotFound {
                entity: "policy",
                id,
            })?;
        let mut updated = current.clone();
        change(&mut updated)?;
        if state.name_taken("policy", &updated.name, id) {
            return Err(StoreError::DuplicateName {
                entity: "policy",
                name: updated.name,
            });
        }
        state.move_references(references(&current), references(&updated))?;
        updated.id = id;
        updated.update_time = time_format::now();
        state.policies.insert(id, updated.clone());
        Ok(updated)
    }

    async fn delete_policy(&self, id: i64) -> Result<(), StoreError> {
        self.check("delete_policy")?;
        let mut state = lock(&self.state);
        let policy = state.policies.remove(&id).ok_or(StoreError::NotFound {
            entity: "policy",
            id,
        })?;
        state.move_references(references(&policy), (0, 0))
    }

    async fn list_policies(
        &self,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<ReplicationPolicy>, StoreError> {
        self.check("list_policies")?;
        let all = lock(&self.state).policies.values().cloned().collect();
        page_of(all, cursor, limit)
    }
}

#[async_trait]
impl crate::ports::registry::FilteredIndexes for MemoryStore {
    async fn filtered_index(&self, source: &Digest, platforms: &str) -> Option<Digest> {
        lock(&self.state)
            .filtered
            .get(&(source.clone(), platforms.to_string()))
            .cloned()
    }

    async fn record_filtered_index(&self, source: &Digest, platforms: &str, filtered: &Digest) {
        lock(&self.state)
            .filtered
            .insert((source.clone(), platforms.to_string()), filtered.clone());
    }
}

#[async_trait]
impl BlobLocations for MemoryStore {
    async fn find_blob(&self, registry_id: i64, digest: &Digest) -> Option<Repository> {
        lock(&self.state)
            .blobs
            .get(&(registry_id, digest.clone()))
            .cloned()
    }

    async fn record_blob(&self, registry_id: i64, digest: &Digest, repository: &Repository) {
        lock(&self.state)
            .blobs
            .insert((registry_id, digest.clone()), repository.clone());
    }

    async fn forget_blob(&self, registry_id: i64, digest: &Digest) {
        lock(&self.state)
            .blobs
            .remove(&(registry_id, digest.clone()));
    }
}
