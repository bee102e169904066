//! Retrying an execution: its failed tasks again, as a new execution (Ferry's addition to
//! Harbor's API, `POST /replication/executions/{id}/retry`).

use std::collections::HashMap;

use crate::model::{Execution, ExecutionStatus, Operation, Resource, TaskStatus, TriggerType};
use crate::ports::queue::MessageQueue;
use crate::ports::store::{collect_pages, Launch, Store, StoreError};

use super::fanout::{fan_out, FanOutError, TaskBatch};

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("execution {0} is still in progress; retry it when it has ended")]
    Running(i64),
    #[error("execution {0} has no failed tasks to retry")]
    NothingFailed(i64),
    #[error("execution {execution_id}'s retry could not be queued: {message}")]
    Queue { execution_id: i64, message: String },
}

/// Starts a new execution of the same policy with the failed tasks of `execution_id`, copying
/// the same artifacts to the same places.
pub async fn retry_execution(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    execution_id: i64,
) -> Result<Execution, RetryError> {
    let original = store.get_execution(execution_id).await?;
    if !original.status.is_final() {
        return Err(RetryError::Running(execution_id));
    }
    if failed_tasks(store, execution_id).await?.is_empty() {
        return Err(RetryError::NothingFailed(execution_id));
    }
    let retry = store
        .create_execution(
            original.policy_id,
            TriggerType::Manual,
            1,
            &Launch::RetryOf(execution_id),
        )
        .await?;
    super::notify::announce(
        queue,
        crate::model::notification::ReplicationEventKind::ExecutionStarted,
        retry.id,
        None,
    )
    .await;
    fan_out_retry(store, queue, &retry, execution_id).await?;
    Ok(retry)
}

async fn failed_tasks(
    store: &dyn Store,
    execution_id: i64,
) -> Result<Vec<(Operation, Resource)>, StoreError> {
    Ok(collect_pages(|cursor| async move {
        store.list_tasks(execution_id, cursor.as_deref(), 500).await
    })
    .await?
    .into_iter()
    .filter(|t| t.status == TaskStatus::Failed)
    .filter_map(|t| t.resource.map(|r| (t.operation, r)))
    .collect())
}

/// Writes and sends the tasks of `retry`, one per failed task of `original_id`, then closes
/// its one listing piece. Every step is keyed, so the reaper runs it again, creating nothing
/// twice, for a retry whose starter died midway. A message that cannot be sent ends the retry
/// Failed with the reason.
pub(crate) async fn fan_out_retry(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    retry: &Execution,
    original_id: i64,
) -> Result<(), RetryError> {
    let failed = failed_tasks(store, original_id).await?;
    let policy = store.get_policy(retry.policy_id).await?;
    let mut sent = Ok(());
    for (piece, operation) in [
        ("retry", Operation::Copy),
        ("retry-deletion", Operation::Deletion),
    ] {
        let resources: Vec<Resource> = failed
            .iter()
            .filter(|(o, _)| *o == operation)
            .map(|(_, r)| r.clone())
            .collect();
        if sent.is_ok() && !resources.is_empty() {
            let batch = TaskBatch {
                execution_id: retry.id,
                piece,
                operation,
            };
            sent = fan_out(store, queue, batch, &policy, &resources, &HashMap::new()).await;
        }
    }
    if let Err(e) = sent {
        let reason = format!("retry of execution {original_id} could not be queued: {e}");
        super::notify::end_announced(store, queue, retry.id, ExecutionStatus::Failed, &reason)
            .await?;
        return Err(match e {
            FanOutError::Store(e) => RetryError::Store(e),
            FanOutError::Queue(e) => RetryError::Queue {
                execution_id: retry.id,
                message: e.to_string(),
            },
        });
    }
    // Every task is written: the one listing piece closes, so the execution ends when they do.
    store.close_listing(retry.id, "").await?;
    super::notify::finish_announced(store, queue, retry.id).await?;
    tracing::info!(
        execution_id = retry.id,
        retried = original_id,
        tasks = failed.len(),
        "retry started"
    );
    Ok(())
}
