//! The transfer stage: one message, one task, one artifact.
//!
//! Idempotent: a task that already ended is left alone, status changes are conditional on the
//! status they leave, and the execution's counters move in the same transaction. A failure that
//! may heal is retried by redelivery until the last receive, where the task fails with the
//! reason instead, so no task is left InProgress when its message is exhausted.

use std::sync::Arc;

use tracing::Instrument;

use crate::messages::{decode, InboundMessage, TransferMessage};
use crate::model::{ExecutionStatus, TaskStatus, TransferFigures};
use crate::ports::logs::TaskLogSink;
use crate::ports::registry::RegistryClient;
use crate::ports::store::{Store, StoreError, TaskTransition};
use crate::registry::copy::{copy_artifact, CopyError, CopyJob, CopyOutcome};

use super::HandleError;

/// Invocations one copy may continue into before its task fails: a copy that makes no
/// progress must not go round for ever.
const MAX_CONTINUATIONS: u32 = 100;

pub use crate::registry::pool::Connect;

pub struct TransferWorker {
    pub store: Arc<dyn Store>,
    /// To continue a copy in another invocation when this one runs out of time.
    pub queue: Arc<dyn crate::ports::queue::MessageQueue>,
    /// Time kept back from the invocation's deadline to save a checkpoint and re-enqueue.
    pub deadline_margin: std::time::Duration,
    /// At most this long per invocation, whatever the deadline (tests use it to force a
    /// continuation); None for no limit but the deadline.
    pub time_budget: Option<std::time::Duration>,
    pub logs: Arc<dyn TaskLogSink>,
    /// Clients and blob slots per registry, kept for the life of the process.
    pub registries: crate::registry::pool::RegistryPool,
    /// Where blobs were seen, remembered here in front of the store.
    pub locations: Arc<crate::registry::pool::CachedLocations>,
    /// Deliveries of a message before its DLQ takes it; the last one fails the task instead.
    pub max_receives: u32,
    /// Executions kept per policy; older ones are swept when one finishes.
    pub keep_executions: usize,
}

fn retry(e: StoreError) -> HandleError {
    HandleError::Retry(e.to_string())
}

impl TransferWorker {
    /// Handles one message; `deadline` is when the invocation ends.
    pub async fn handle(
        &self,
        message: &InboundMessage,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), HandleError> {
        let transfer: TransferMessage = decode(&message.body)?;
        if message.from_dead_letters {
            return self.given_up(&transfer, message.receive_count).await;
        }
        let span = tracing::info_span!(
            "transfer",
            message_id = %message.message_id,
            execution_id = transfer.execution_id,
            task_id = transfer.task_id,
            receive = message.receive_count,
        );
        let started = std::time::Instant::now();
        let stop_at = [
            deadline.map(|d| d.checked_sub(self.deadline_margin).unwrap_or(started)),
            self.time_budget.map(|budget| started + budget),
        ]
        .into_iter()
        .flatten()
        .min();
        self.run(&transfer, message.receive_count, stop_at)
            .instrument(span)
            .await
    }

    async fn run(
        &self,
        m: &TransferMessage,
        receive_count: u32,
        stop_at: Option<std::time::Instant>,
    ) -> Result<(), HandleError> {
        let (execution_id, task_id) = (m.execution_id, m.task_id);
        let execution = match self.store.get_execution(execution_id).await {
            Ok(e) => e,
            Err(StoreError::NotFound { .. }) => {
                tracing::warn!("execution is gone; nothing to do");
                return Ok(());
            }
            Err(e) => return Err(retry(e)),
        };
        let task = match self.store.get_task(execution_id, task_id).await {
            Ok(t) => t,
            Err(StoreError::NotFound { .. }) => {
                tracing::warn!("task is gone; nothing to do");
                return Ok(());
            }
            Err(e) => return Err(retry(e)),
        };
        if task.status.is_final() {
            tracing::info!(
                status = task.status.as_str(),
                "task already ended: duplicate delivery"
            );
            return Ok(());
        }
        let continuation = m.checkpoint.as_ref().map_or(0, |c| c.continuations);
        if continuation != task.continuations {
            tracing::info!(
                continuation,
                current = task.continuations,
                "a stale continuation: dropped"
            );
            return Ok(());
        }
        if execution.status.is_final() {
            self.end(
                m,
                task.status,
                TaskStatus::Stopped,
                "the execution ended before this task ran",
                None,
                vec![],
            )
            .await?;
            return Ok(());
        }
        if task.status == TaskStatus::Pending {
            let started = self
                .store
                .transition_task(&TaskTransition {
                    execution_id,
                    task_id,
                    from: TaskStatus::Pending,
                    to: TaskStatus::InProgress,
                    status_text: None,
                    figures: None,
                })
                .await
                .map_err(retry)?;
            if !started {
                // Another delivery is running it. Come back later rather than drop the message:
                // if that delivery fails, this one is what brings the task back.
                return Err(HandleError::Retry(
                    "another delivery of this task is running".into(),
                ));
            }
        }
        let mut log = vec![match m.operation {
            crate::model::Operation::Copy => format!(
                "attempt {receive_count}: copy {} -> {}",
                m.resource.src.display(),
                m.resource.dst.display()
            ),
            crate::model::Operation::Deletion => format!(
                "attempt {receive_count}: {} was deleted at the source; delete {}",
                m.resource.src.display(),
                m.resource.dst.display()
            ),
        }];
        match self.copy(m, &mut log, stop_at).await {
            Ok(CopyOutcome::Copied { digest, figures }) => {
                log.push(format!(
                    "done: {digest}, {} blobs copied ({} bytes), {} already there",
                    figures.blobs_copied, figures.bytes_copied, figures.blobs_skipped
                ));
                self.end(
                    m,
                    TaskStatus::InProgress,
                    TaskStatus::Succeed,
                    "",
                    Some(figures),
                    log,
                )
                .await
            }
            Ok(CopyOutcome::Skipped { digest, reason }) => {
                let text = format!("skipped: {reason}");
                log.push(format!("{text} ({digest})"));
                self.end(
                    m,
                    TaskStatus::InProgress,
                    TaskStatus::Succeed,
                    &text,
                    Some(TransferFigures::default()),
                    log,
                )
                .await
            }
            Err(TransferError::Copy(CopyError::OutOfTime(mut checkpoint))) => {
                let current = m.checkpoint.as_ref().map_or(0, |c| c.continuations);
                checkpoint.continuations = current + 1;
                // One continuation per invocation, however often this message was delivered.
                if !self
                    .store
                    .advance_continuation(m.execution_id, m.task_id, current)
                    .await
                    .map_err(retry)?
                {
                    tracing::info!("another delivery continues this copy");
                    return Ok(());
                }
                if checkpoint.continuations > MAX_CONTINUATIONS {
                    let text =
                        format!("gave up after {MAX_CONTINUATIONS} invocations without finishing");
                    log.push(text.clone());
                    return self
                        .end(
                            m,
                            TaskStatus::InProgress,
                            TaskStatus::Failed,
                            &text,
                            None,
                            log,
                        )
                        .await;
                }
                log.push(format!(
                    "out of time: continuing in another invocation ({} uploads under way)",
                    checkpoint.uploads.len()
                ));
                let next = TransferMessage {
                    checkpoint: Some(checkpoint),
                    ..m.clone()
                };
                self.queue
                    .send_transfer(&[next])
                    .await
                    .map_err(|e| HandleError::Retry(e.to_string()))?;
                self.append_log(m, &log).await;
                Ok(())
            }
            Err(TransferError::Copy(CopyError::Stopped)) => {
                log.push("stopped: the execution was stopped".into());
                self.end(
                    m,
                    TaskStatus::InProgress,
                    TaskStatus::Stopped,
                    "stopped by the user",
                    None,
                    log,
                )
                .await
            }
            Err(e) if e.may_heal() && receive_count < self.max_receives => {
                log.push(format!("attempt {receive_count} failed, will retry: {e}"));
                self.append_log(m, &log).await;
                Err(HandleError::Retry(e.to_string()))
            }
            Err(e) => {
                log.push(format!("failed: {e}"));
                self.end(
                    m,
                    TaskStatus::InProgress,
                    TaskStatus::Failed,
                    &e.to_string(),
                    None,
                    log,
                )
                .await
            }
        }
    }

    /// A message whose deliveries ran out without the task ending (the function timed out or
    /// crashed each time): the task fails with that reason, so none stays InProgress.
    async fn given_up(&self, m: &TransferMessage, receives: u32) -> Result<(), HandleError> {
        let task = match self.store.get_task(m.execution_id, m.task_id).await {
            Ok(t) => t,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(retry(e)),
        };
        if task.status.is_final() {
            return Ok(());
        }
        let reason = format!(
            "gave up: the transfer function did not finish this task in any of its deliveries (it timed out or crashed; see its logs); {receives} receives in all"
        );
        tracing::warn!(reason, "task given up from the dead-letter queue");
        self.end(
            m,
            task.status,
            TaskStatus::Failed,
            &reason,
            None,
            vec![reason.clone()],
        )
        .await
    }

    async fn copy(
        &self,
        m: &TransferMessage,
        log: &mut Vec<String>,
        stop_at: Option<std::time::Instant>,
    ) -> Result<CopyOutcome, TransferError> {
        if m.operation == crate::model::Operation::Deletion {
            let dst = self.client(m.resource.dst.registry_id).await?;
            let dst_location = &m.resource.dst;
            return Ok(crate::registry::delete::delete_artifact(
                dst.as_ref(),
                &dst_location.repository,
                &dst_location.reference,
                log,
            )
            .await?);
        }
        let src = self.client(m.resource.src.registry_id).await?;
        let dst = self.client(m.resource.dst.registry_id).await?;
        let slots = self
            .registries
            .blob_slots(&[m.resource.src.registry_id, m.resource.dst.registry_id]);
        let store = Arc::clone(&self.store);
        let execution_id = m.execution_id;
        let stop = move || -> futures::future::BoxFuture<'static, bool> {
            let store = Arc::clone(&store);
            Box::pin(async move {
                matches!(store.get_execution(execution_id).await, Ok(e) if e.status == ExecutionStatus::Stopped)
            })
        };
        let job = CopyJob {
            stop: Some(&stop),
            locations: Some(self.locations.as_ref()),
            slots: Some(&slots),
            dst_registry_id: m.resource.dst.registry_id,
            same_registry: m.resource.src.registry_id == m.resource.dst.registry_id,
            deadline: stop_at,
            resume: m.checkpoint.as_ref(),
            platforms: &m.platforms,
            src: src.as_ref(),
            src_repository: &m.resource.src.repository,
            src_reference: &m.resource.src.reference,
            dst: dst.as_ref(),
            dst_repository: &m.resource.dst.repository,
            dst_reference: &m.resource.dst.reference,
            options: m.options,
        };
        Ok(copy_artifact(&job, log).await?)
    }

    async fn client(&self, registry_id: i64) -> Result<Arc<dyn RegistryClient>, TransferError> {
        let registry = self.store.get_registry_with_secret(registry_id).await?;
        Ok(self.registries.client(&registry).map_err(CopyError::from)?)
    }

    async fn end(
        &self,
        m: &TransferMessage,
        from: TaskStatus,
        to: TaskStatus,
        status_text: &str,
        figures: Option<TransferFigures>,
        log: Vec<String>,
    ) -> Result<(), HandleError> {
        self.append_log(m, &log).await;
        let changed = self
            .store
            .transition_task(&TaskTransition {
                execution_id: m.execution_id,
                task_id: m.task_id,
                from,
                to,
                status_text: Some(status_text.to_string()),
                figures,
            })
            .await
            .map_err(retry)?;
        if changed {
            tracing::info!(status = to.as_str(), status_text, "task ended");
        }
        if let Some(status) = self
            .store
            .finish_if_done(m.execution_id)
            .await
            .map_err(retry)?
        {
            tracing::info!(status = status.as_str(), "execution finished");
            super::sweep::sweep_after(
                self.store.as_ref(),
                self.logs.as_ref(),
                m.execution_id,
                self.keep_executions,
            )
            .await;
        }
        Ok(())
    }

    /// The log is for people: a failure to write it is reported, not allowed to fail the copy.
    async fn append_log(&self, m: &TransferMessage, lines: &[String]) {
        if let Err(e) = self.logs.append(m.execution_id, m.task_id, lines).await {
            tracing::warn!(error = %e, "task log not written");
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum TransferError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Copy(#[from] CopyError),
}

impl TransferError {
    fn may_heal(&self) -> bool {
        match self {
            Self::Store(StoreError::Backend { .. } | StoreError::Conflict { .. }) => true,
            Self::Store(_) => false,
            Self::Copy(e) => e.is_transient(),
        }
    }
}
