//! Executions in memory: counters moved with the tasks, list pieces, claims, one final status.

use async_trait::async_trait;

use super::{Activity, MemoryStore};
use crate::model::{time_format, Execution, ExecutionStatus, TriggerType};
use crate::ports::fakes::{lock, page_of};
use crate::ports::store::{ExecutionStore, Launch, Page, RunningExecution, StoreError};

#[async_trait]
impl ExecutionStore for MemoryStore {
    async fn create_execution(
        &self,
        policy_id: i64,
        trigger: TriggerType,
        listings: i64,
        launch: &Launch,
    ) -> Result<Execution, StoreError> {
        self.check("create_execution")?;
        let mut state = lock(&self.state);
        let execution = launch.execution(state.id(), policy_id, trigger, time_format::now());
        state
            .executions
            .insert(execution.id, (execution.clone(), listings));
        state.activity.insert(
            execution.id,
            Activity {
                updated_ms: time_format::now_millis(),
                launch: launch.clone(),
                relaunched: false,
            },
        );
        Ok(execution)
    }

    async fn get_execution(&self, id: i64) -> Result<Execution, StoreError> {
        self.check("get_execution")?;
        // A store answers later, not at once: callers running together meet here.
        tokio::task::yield_now().await;
        Ok(lock(&self.state).execution(id)?.0.clone())
    }

    async fn count_executions(&self, policy_id: Option<i64>) -> Result<i64, StoreError> {
        self.check("count_executions")?;
        let state = lock(&self.state);
        let count = state
            .executions
            .values()
            .filter(|(e, _)| policy_id.is_none_or(|p| e.policy_id == p))
            .count();
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
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
            state.touch(id);
        }
        Ok(())
    }

    async fn close_listing(&self, id: i64, piece: &str) -> Result<(), StoreError> {
        self.check("close_listing")?;
        let mut state = lock(&self.state);
        state.execution(id)?;
        if state.markers.insert(format!("listing-done#{id}#{piece}")) {
            state.execution(id)?.1 -= 1;
            state.touch(id);
        }
        Ok(())
    }

    async fn listings_pending(&self, id: i64) -> Result<i64, StoreError> {
        self.check("listings_pending")?;
        Ok(lock(&self.state).execution(id)?.1)
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

    async fn claim_active(
        &self,
        policy_id: i64,
        execution_id: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.check("claim_active")?;
        let mut state = lock(&self.state);
        if let Some(&held) = state.active.get(&policy_id) {
            let running = state
                .executions
                .get(&held)
                .is_some_and(|(e, _)| !e.status.is_final());
            if held != execution_id && running {
                return Ok(Some(held));
            }
        }
        state.active.insert(policy_id, execution_id);
        Ok(None)
    }

    async fn running_executions(&self) -> Result<Vec<RunningExecution>, StoreError> {
        self.check("running_executions")?;
        let state = lock(&self.state);
        Ok(state
            .executions
            .values()
            .rev()
            .filter(|(e, _)| !e.status.is_final())
            .map(|(execution, pending)| {
                let activity = state
                    .activity
                    .get(&execution.id)
                    .cloned()
                    .unwrap_or_default();
                RunningExecution {
                    execution: execution.clone(),
                    listings_pending: *pending,
                    updated_ms: activity.updated_ms,
                    launch: activity.launch,
                    relaunched: activity.relaunched,
                }
            })
            .collect())
    }

    async fn mark_relaunched(&self, id: i64) -> Result<bool, StoreError> {
        self.check("mark_relaunched")?;
        let mut state = lock(&self.state);
        state.execution(id)?;
        let activity = state.activity.entry(id).or_default();
        if activity.relaunched {
            return Ok(false);
        }
        activity.relaunched = true;
        state.touch(id);
        Ok(true)
    }
}
