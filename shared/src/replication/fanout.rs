//! Writing an execution's tasks and sending one transfer message per task, in batches: what a
//! listed piece and a retry both end with.

use std::collections::HashMap;

use crate::messages::TransferMessage;
use crate::model::{Operation, ReplicationPolicy, Resource, TaskStatus, TransferFigures};
use crate::ports::queue::{MessageQueue, QueueError};
use crate::ports::store::{NewTask, Store, StoreError, TaskTransition, MAX_TASKS_PER_BATCH};

#[derive(Debug, thiserror::Error)]
pub enum FanOutError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Which execution the tasks belong to, under which key they are written, and what they do.
#[derive(Debug, Clone, Copy)]
pub struct TaskBatch<'a> {
    pub execution_id: i64,
    /// Tasks are written under `<piece>#<batch>`: writing them again creates nothing twice.
    pub piece: &'a str,
    pub operation: Operation,
}

/// Writes one task per resource and sends their transfer messages. A resource whose
/// destination is in `ended` (destination -> how and why it ends: unchanged, what a plan would
/// do, a prune refused) ends at once so, and has no message.
pub async fn fan_out(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    batch: TaskBatch<'_>,
    policy: &ReplicationPolicy,
    resources: &[Resource],
    ended: &HashMap<String, (TaskStatus, String)>,
) -> Result<(), FanOutError> {
    let TaskBatch {
        execution_id,
        piece,
        operation,
    } = batch;
    let options = policy.copy_options();
    for (batch_index, batch) in resources.chunks(MAX_TASKS_PER_BATCH).enumerate() {
        let tasks: Vec<NewTask> = batch
            .iter()
            .map(|r| NewTask {
                operation,
                resource_type: r.resource_type.clone(),
                src_resource: r.src.display(),
                dst_resource: r.dst.display(),
                resource: Some(r.clone()),
            })
            .collect();
        let created = store
            .create_tasks(execution_id, &format!("{piece}#{batch_index}"), &tasks)
            .await?;
        // From the stored tasks, not this listing: a redelivered piece may list differently,
        // and the tasks an earlier delivery created are the ones that need messages.
        let mut messages = Vec::new();
        let mut skipped = Vec::new();
        for task in created {
            if task.status.is_final() {
                continue;
            }
            let Some(resource) = task.resource.clone() else {
                continue;
            };
            match ended.get(&resource.dst.display()) {
                Some((to, text)) => skipped.push(TaskTransition {
                    execution_id,
                    task_id: task.id,
                    artifact: None,
                    from: task.status,
                    to: *to,
                    status_text: Some(text.clone()),
                    figures: Some(TransferFigures::default()),
                    log: None,
                }),
                None => messages.push(TransferMessage {
                    execution_id,
                    task_id: task.id,
                    policy_id: policy.id,
                    correlation_id: crate::telemetry::correlation_id(),
                    resource,
                    operation,
                    options,
                    platforms: policy.platforms.clone(),
                    checkpoint: None,
                }),
            }
        }
        // The unchanged end together: one write for the batch, not one per artifact.
        store.transition_tasks(&skipped).await?;
        count_ended_at_once(policy.id, &skipped);
        queue.send_transfer(&messages).await?;
    }
    Ok(())
}

/// Tasks that ended without a transfer (unchanged, a plan's, a refused prune) in the metrics.
fn count_ended_at_once(policy_id: i64, ended: &[TaskTransition]) {
    use crate::telemetry::metrics::{self, On};
    let failed = ended.iter().filter(|t| t.to == TaskStatus::Failed).count();
    let skipped = ended.len() - failed;
    if skipped > 0 {
        metrics::count(
            metrics::ARTIFACTS_SKIPPED,
            On::Policy(policy_id),
            skipped as u64,
        );
    }
    if failed > 0 {
        metrics::count(
            metrics::ARTIFACTS_FAILED,
            On::Policy(policy_id),
            failed as u64,
        );
    }
}
