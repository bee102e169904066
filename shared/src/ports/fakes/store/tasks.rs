//! Tasks in memory: idempotent batches, leases, status changes conditional on the status they
//! leave.

use async_trait::async_trait;

use super::MemoryStore;
use crate::model::{time_format, Take, Task, TaskLease, TaskStatus, ValidationError};
use crate::ports::fakes::{lock, page_of};
use crate::ports::store::{check_batch_size, NewTask, Page, StoreError, TaskStore, TaskTransition};

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
        state.touch(execution_id);
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

    async fn take_task(
        &self,
        execution_id: i64,
        task_id: i64,
        continuation: u32,
        until_ms: i64,
        holder: &str,
    ) -> Result<Take, StoreError> {
        self.check("take_task")?;
        let mut state = lock(&self.state);
        let status = state
            .tasks
            .get(&(execution_id, task_id))
            .map(|t| t.status)
            .ok_or(StoreError::NotFound {
                entity: "task",
                id: task_id,
            })?;
        let lease = state.leases.entry((execution_id, task_id)).or_default();
        let taken = lease.take(status, continuation, time_format::now_millis(), holder);
        if taken == Take::Granted {
            lease.continuations = continuation;
            lease.lease_until = Some(until_ms);
            lease.holder = Some(holder.to_string());
            if let Some(task) = state.tasks.get_mut(&(execution_id, task_id)) {
                task.continuations = continuation;
                if task.status == TaskStatus::Pending {
                    if let Ok(change) = task.status.change_to(TaskStatus::InProgress) {
                        task.apply(TaskStatus::InProgress, change, time_format::now());
                    }
                }
            }
        }
        Ok(taken)
    }

    async fn release_task(
        &self,
        execution_id: i64,
        task_id: i64,
        continuation: u32,
        handed_on: bool,
        holder: &str,
    ) -> Result<(), StoreError> {
        self.check("release_task")?;
        let mut state = lock(&self.state);
        if let Some(lease) = state
            .leases
            .get_mut(&(execution_id, task_id))
            .filter(|l| l.continuations == continuation && l.holder.as_deref() == Some(holder))
        {
            lease.lease_until = Some(time_format::now_millis());
            if handed_on {
                lease.handed_on = Some(continuation);
            }
        }
        Ok(())
    }

    async fn open_tasks(&self, execution_id: i64) -> Result<Vec<(Task, TaskLease)>, StoreError> {
        self.check("open_tasks")?;
        let tasks = self.tasks_of(execution_id);
        let state = lock(&self.state);
        Ok(tasks
            .into_iter()
            .filter(|t| !t.status.is_final())
            .map(|t| {
                let lease = state
                    .leases
                    .get(&(execution_id, t.id))
                    .cloned()
                    .unwrap_or_default();
                (t, lease)
            })
            .collect())
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
        if let Some(log) = &t.log {
            task.log = Some(log.clone());
        }
        if let Some(artifact) = &t.artifact {
            task.resource_type = artifact.resource_type.clone();
            task.artifact = Some(artifact.clone());
        }
        state.execution(t.execution_id)?.0.count(change);
        if change.ends.is_some() {
            state.touch(t.execution_id);
        }
        Ok(true)
    }
}
