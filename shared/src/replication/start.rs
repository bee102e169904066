//! Starting an execution of a policy: the record, then the first list message.

use crate::messages::ListMessage;
use crate::model::{Execution, ExecutionStatus, TriggerType};
use crate::ports::queue::MessageQueue;
use crate::ports::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("policy {0} is disabled")]
    Disabled(i64),
    #[error("execution {execution_id} could not be queued for listing: {message}")]
    Queue { execution_id: i64, message: String },
}

/// Creates an execution of `policy_id` and asks the lister to list its source. When the list
/// message cannot be sent the execution ends Failed with the reason, so none is left running.
pub async fn start_execution(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    policy_id: i64,
    trigger: TriggerType,
) -> Result<Execution, StartError> {
    let policy = store.get_policy(policy_id).await?;
    if !policy.enabled {
        return Err(StartError::Disabled(policy_id));
    }
    let execution = store.create_execution(policy_id, trigger, 1).await?;
    let message = ListMessage {
        execution_id: execution.id,
        policy_id,
        start_after: None,
    };
    if let Err(e) = queue.send_list(&[message]).await {
        let reason = format!("could not queue the listing: {e}");
        store
            .end_execution(execution.id, ExecutionStatus::Failed, &reason)
            .await?;
        return Err(StartError::Queue {
            execution_id: execution.id,
            message: e.to_string(),
        });
    }
    tracing::info!(
        execution_id = execution.id,
        policy_id,
        trigger = trigger.as_str(),
        "execution started"
    );
    Ok(execution)
}
