//! Notifications, as an outbox: where an event happens (an execution started, ended, a task
//! failed) one small message goes to the notify queue; a send that fails is logged and
//! swallowed, so a notification never fails or slows a replication. The notifier
//! ([`NotifyWorker`]) consumes the queue: it delivers the event to every webhook policy that
//! wants it and puts execution state changes on the EventBridge bus.
//!
//! Exactly once per execution: the "ended" message is sent only by the caller whose store
//! write made the execution final (`finish_if_done` answered a status, `end_execution`
//! answered true), which happens once; the notifier claims each (event, policy) delivery and
//! each bus event with `claim_once`, so a message SQS delivers twice is delivered once.

mod worker;

pub use worker::{NotifyWorker, DEFAULT_ATTEMPTS};

use crate::messages::NotifyMessage;
use crate::model::notification::{ReplicationEvent, ReplicationEventKind};
use crate::model::ExecutionStatus;
use crate::ports::queue::MessageQueue;
use crate::ports::store::{Store, StoreError};

/// Sends one event to the notifier; a failure is logged, never returned.
pub async fn announce(
    queue: &dyn MessageQueue,
    kind: ReplicationEventKind,
    execution_id: i64,
    task_id: Option<i64>,
) {
    let message = NotifyMessage {
        event: ReplicationEvent::now(kind, execution_id, task_id),
    };
    if let Err(e) = queue.send_notify(&[message]).await {
        tracing::warn!(execution_id, ?task_id, event = kind.as_str(), error = %e, "notification not queued");
    }
}

/// `finish_if_done`, announcing the end when this call made it.
pub async fn finish_announced(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    execution_id: i64,
) -> Result<Option<ExecutionStatus>, StoreError> {
    let finished = store.finish_if_done(execution_id).await?;
    if let Some(status) = finished {
        count_ended(status);
        announce(
            queue,
            ReplicationEventKind::ExecutionEnded,
            execution_id,
            None,
        )
        .await;
    }
    Ok(finished)
}

/// An execution's end in the metrics (in total: the alarm on failed executions reads it).
fn count_ended(status: ExecutionStatus) {
    use crate::telemetry::metrics::{self, On};
    let metric = match status {
        ExecutionStatus::Succeed => metrics::EXECUTIONS_SUCCEEDED,
        ExecutionStatus::Failed => metrics::EXECUTIONS_FAILED,
        ExecutionStatus::InProgress | ExecutionStatus::Stopped => return,
    };
    metrics::count(metric, On::All, 1);
}

/// `end_execution`, announcing the end when this call made it.
pub async fn end_announced(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    execution_id: i64,
    status: ExecutionStatus,
    status_text: &str,
) -> Result<bool, StoreError> {
    let ended = store
        .end_execution(execution_id, status, status_text)
        .await?;
    if ended {
        count_ended(status);
        announce(
            queue,
            ReplicationEventKind::ExecutionEnded,
            execution_id,
            None,
        )
        .await;
    }
    Ok(ended)
}
