//! The store in memory: the same promises as the DynamoDB store (unique names, references
//! counted, idempotent task batches, status changes conditional on the status they leave, one
//! final status), kept by the domain's rules.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, page_of, Faults, Injected};
use crate::model::{
    time_format, Execution, ExecutionStatus, Registry, ReplicationPolicy, Task, TriggerType,
    ValidationError, SECRET_MASK,
};
use crate::oci::{Digest, Repository};
use crate::ports::registry::BlobLocations;
use crate::ports::store::{
    check_batch_size, ExecutionStore, NewTask, Page, PolicyChange, PolicyStore, RegistryChange,
    RegistryStore, StoreError, TaskStore, TaskTransition,
};

#[derive(Default)]
struct State {
    next_id: i64,
    /// Registries with their secrets in clear, and how many policies refer to each.
    registries: BTreeMap<i64, (Registry, i64)>,
    policies: BTreeMap<i64, ReplicationPolicy>,
    /// Executions with their open list pieces.
    executions: BTreeMap<i64, (Execution, i64)>,
    tasks: BTreeMap<(i64, i64), Task>,
    /// One-time markers: claims, list pieces opened and closed.
    markers: HashSet<String>,
    /// Task batches: the ids they got.
    batches: HashMap<String, Vec<i64>>,
    blobs: HashMap<(i64, Digest), Repository>,
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
impl ExecutionStore for MemoryStore {
    async fn create_execution(
        &self,
        policy_id: i64,
        trigger: TriggerType,
        listings: i64,
    ) -> Result<Execution, StoreError> {
        self.check("create_execution")?;
        let mut state = lock(&self.state);
        let execution = Execution::new(state.id(), policy_id, trigger, time_format::now());
        state
            .executions
            .insert(execution.id, (execution.clone(), listings));
        Ok(execution)
    }

    async fn get_execution(&self, id: i64) -> Result<Execution, StoreError> {
        self.check("get_execution")?;
        Ok(lock(&self.state).execution(id)?.0.clone())
    }

    async fn list_executions(
        &self,
        policy_id: Option<i64>,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Execution>, StoreError> {
        self.check("list_executions")?;
        let newest_first = lock(&self.state)
            .executions
            .values()
            .rev()
            .map(|(e, _)| e.clone())
            .filter(|e| policy_id.is_none_or(|p| e.policy_id == p))
            .collect();
        page_of(newest_first, cursor, limit)
    }

    async fn claim_once(&self, key: &str) -> Result<bool, StoreError> {
        self.check("claim_once")?;
        Ok(lock(&self.state).markers.insert(format!("claim#{key}")))
    }

    async fn release_claim(&self, key: &str) -> Result<(), StoreError> {
        self.check("release_claim")?;
        lock(&self.state).markers.remove(&format!("claim#{key}"));
        Ok(())
    }

    async fn open_listing(&self, id: i64, piece: &str) -> Result<(), StoreError> {
        self.check("open_listing")?;
        let mut state = lock(&self.state);
        state.execution(id)?;
        if state.markers.insert(format!("listing-open#{id}#{piece}")) {
            state.execution(id)?.1 += 1;
        }
        Ok(())
    }

    async fn close_listing(&self, id: i64, piece: &str) -> Result<(), StoreError> {
        self.check("close_listing")?;
        let mut state = lock(&self.state);
        state.execution(id)?;
        if state.markers.insert(format!("listing-done#{id}#{piece}")) {
            state.execution(id)?.1 -= 1;
        }
        Ok(())
    }

    async fn finish_if_done(&self, id: i64) -> Result<Option<ExecutionStatus>, StoreError> {
        self.check("finish_if_done")?;
        let mut state = lock(&self.state);
        let (execution, pending) = state.execution(id)?;
        let status = execution.final_status(*pending);
        if let Some(status) = status {
            execution.status = status;
            execution.end_time = Some(time_format::now());
        }
        Ok(status)
    }

    async fn end_execution(
        &self,
        id: i64,
        status: ExecutionStatus,
        status_text: &str,
    ) -> Result<bool, StoreError> {
        self.check("end_execution")?;
        let mut state = lock(&self.state);
        let (execution, _) = state.execution(id)?;
        if execution.status.is_final() {
            return Ok(false);
        }
        execution.status = status;
        execution.status_text = status_text.to_string();
        execution.end_time = Some(time_format::now());
        Ok(true)
    }

    async fn delete_execution(&self, id: i64) -> Result<(), StoreError> {
        self.check("delete_execution")?;
        let mut state = lock(&self.state);
        state.tasks.retain(|(execution, _), _| *execution != id);
        state.executions.remove(&id);
        Ok(())
    }
}

#[async_trait]
impl TaskStore for MemoryStore {
    async fn create_tasks(
        &self,
        execution_id: i64,
        batch_key: &str,
        tasks: &[NewTask],
    ) -> Result<Vec<Task>, StoreError> {
        self.check("create_tasks")?;
        check_batch_size(tasks)?;
        let mut state = lock(&self.state);
        let key = format!("{execution_id}#{batch_key}");
        if let Some(ids) = state.batches.get(&key) {
            return Ok(ids
                .iter()
                .filter_map(|id| state.tasks.get(&(execution_id, *id)).cloned())
                .collect());
        }
        state.execution(execution_id)?;
        let created: Vec<Task> = tasks
            .iter()
            .map(|t| t.pending(execution_id, state.id()))
            .collect();
        state
            .execution(execution_id)?
            .0
            .add_tasks(created.len() as i64);
        state
            .batches
            .insert(key, created.iter().map(|t| t.id).collect());
        for task in &created {
            state.tasks.insert((execution_id, task.id), task.clone());
        }
        Ok(created)
    }

    async fn get_task(&self, execution_id: i64, task_id: i64) -> Result<Task, StoreError> {
        self.check("get_task")?;
        lock(&self.state)
            .tasks
            .get(&(execution_id, task_id))
            .cloned()
            .ok_or(StoreError::NotFound {
                entity: "task",
                id: task_id,
            })
    }

    async fn list_tasks(
        &self,
        execution_id: i64,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Task>, StoreError> {
        self.check("list_tasks")?;
        page_of(self.tasks_of(execution_id), cursor, limit)
    }

    async fn advance_continuation(
        &self,
        execution_id: i64,
        task_id: i64,
        from: u32,
    ) -> Result<bool, StoreError> {
        self.check("advance_continuation")?;
        let mut state = lock(&self.state);
        match state.tasks.get_mut(&(execution_id, task_id)) {
            Some(task)
                if task.status == crate::model::TaskStatus::InProgress
                    && task.continuations == from =>
            {
                task.continuations = from + 1;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn transition_task(&self, t: &TaskTransition) -> Result<bool, StoreError> {
        self.check("transition_task")?;
        let change = t
            .from
            .change_to(t.to)
            .map_err(|e| StoreError::Invalid(ValidationError::new("status", e.to_string())))?;
        let mut state = lock(&self.state);
        state.execution(t.execution_id)?;
        let task =
            state
                .tasks
                .get_mut(&(t.execution_id, t.task_id))
                .ok_or(StoreError::NotFound {
                    entity: "task",
                    id: t.task_id,
                })?;
        if task.status != t.from {
            return Ok(false);
        }
        task.apply(t.to, change, time_format::now());
        if let Some(text) = &t.status_text {
            task.status_text = text.clone();
        }
        if let Some(figures) = t.figures {
            task.figures = figures;
        }
        state.execution(t.execution_id)?.0.count(change);
        Ok(true)
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
