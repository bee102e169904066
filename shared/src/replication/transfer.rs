//! The transfer stage: one message, one task, one artifact.
//!
//! Idempotent: a task that already ended is left alone, status changes are conditional on the
//! status they leave, and the execution's counters move in the same transaction. A failure that
//! may heal is retried by redelivery until the last receive, where the task fails with the
//! reason instead, so no task is left InProgress when its message is exhausted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::{Failure, HandleError};
use crate::copy::delete::delete_artifact;
use crate::copy::{copy_artifact, CachedLocations, CopyError, CopyJob, CopyOutcome, RegistryPool};
use crate::messages::{decode, InboundMessage, TransferMessage};
use crate::model::{ExecutionStatus, Operation, TaskStatus, TransferFigures};
use crate::oci::{NameError, Platform};
use crate::ports::deadline;
use crate::ports::logs::TaskLogSink;
use crate::ports::queue::MessageQueue;
use crate::ports::registry::RegistryClient;
use crate::ports::store::{Store, StoreError, TaskTransition};

/// Invocations one copy may continue into before its task fails: a copy that makes no
/// progress must not go round for ever.
const MAX_CONTINUATIONS: u32 = 100;
/// Time kept at the end of an invocation to record the outcome after the last wait.
const SETTLE: Duration = Duration::from_secs(10);

pub struct TransferWorker {
    pub store: Arc<dyn Store>,
    /// To continue a copy in another invocation when this one runs out of time.
    pub queue: Arc<dyn MessageQueue>,
    /// Time kept back from the invocation's deadline to save a checkpoint and re-enqueue.
    pub deadline_margin: Duration,
    /// At most this long per invocation, whatever the deadline (tests use it to force a
    /// continuation); None for no limit but the deadline.
    pub time_budget: Option<Duration>,
    pub logs: Arc<dyn TaskLogSink>,
    /// Clients and blob slots per registry, kept for the life of the process.
    pub registries: RegistryPool,
    /// Where blobs were seen, remembered here in front of the store.
    pub locations: Arc<CachedLocations>,
    /// Deliveries of a message before its DLQ takes it; the last one fails the task instead.
    pub max_receives: u32,
    /// Executions kept per policy; older ones are swept when one finishes.
    pub keep_executions: usize,
}

impl TransferWorker {
    /// Handles one message; `deadline` is when the invocation ends.
    pub async fn handle(
        &self,
        message: &InboundMessage,
        deadline: Option<Instant>,
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
        let started = Instant::now();
        let stop_at = [
            deadline.map(|d| d.checked_sub(self.deadline_margin).unwrap_or(started)),
            self.time_budget.map(|budget| started + budget),
        ]
        .into_iter()
        .flatten()
        .min();
        // No wait below (a retry, a registry's Retry-After, a request) outlasts this: the
        // worker keeps time to record where the copy stands.
        let waits_end = deadline.map(|d| d.checked_sub(SETTLE).unwrap_or(started));
        deadline::within(
            waits_end,
            self.run(&transfer, message.receive_count, stop_at)
                .instrument(span),
        )
        .await
    }

    async fn run(
        &self,
        m: &TransferMessage,
        receive_count: u32,
        stop_at: Option<Instant>,
    ) -> Result<(), HandleError> {
        let (execution_id, task_id) = (m.execution_id, m.task_id);
        let execution = match self.store.get_execution(execution_id).await {
            Ok(e) => e,
            Err(StoreError::NotFound { .. }) => {
                tracing::warn!("execution is gone; nothing to do");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let task = match self.store.get_task(execution_id, task_id).await {
            Ok(t) => t,
            Err(StoreError::NotFound { .. }) => {
                tracing::warn!("task is gone; nothing to do");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
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
                .await?;
            if !started {
                // Another delivery is running it. Come back later rather than drop the message:
                // if that delivery fails, this one is what brings the task back.
                return Err(HandleError::Retry(
                    "another delivery of this task is running".into(),
                ));
            }
        }
        let mut log = vec![match m.operation {
            Operation::Copy => format!(
                "attempt {receive_count}: copy {} -> {}",
                m.resource.src.display(),
                m.resource.dst.display()
            ),
            Operation::Deletion => format!(
                "attempt {receive_count}: {} was deleted at the source; delete {}",
                m.resource.src.display(),
                m.resource.dst.display()
            ),
        }];
        let copied = match self.copy(m, &mut log, stop_at).await {
            Ok(copied) => copied,
            Err(failure) => return self.failed(m, failure, receive_count, log).await,
        };
        match copied {
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
                log.push(match digest {
                    Some(digest) => format!("{text} ({digest})"),
                    None => text.clone(),
                });
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
            Err(CopyError::OutOfTime(checkpoint)) => self.continue_later(m, checkpoint, log).await,
            Err(CopyError::Stopped) => {
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
            Err(e) => self.failed(m, e.into(), receive_count, log).await,
        }
    }

    /// Saves the uploads under way in a new message for the next invocation, once per
    /// invocation however often this message was delivered.
    async fn continue_later(
        &self,
        m: &TransferMessage,
        mut checkpoint: crate::model::Checkpoint,
        mut log: Vec<String>,
    ) -> Result<(), HandleError> {
        let current = m.checkpoint.as_ref().map_or(0, |c| c.continuations);
        checkpoint.continuations = current + 1;
        if !self
            .store
            .advance_continuation(m.execution_id, m.task_id, current)
            .await?
        {
            tracing::info!("another delivery continues this copy");
            return Ok(());
        }
        if checkpoint.continuations > MAX_CONTINUATIONS {
            let text = format!("gave up after {MAX_CONTINUATIONS} invocations without finishing");
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

    /// A failure that may heal is retried by redelivery until the last receive; then, and for
    /// one that will not heal, the task fails with the reason.
    async fn failed(
        &self,
        m: &TransferMessage,
        failure: Failure,
        receive_count: u32,
        mut log: Vec<String>,
    ) -> Result<(), HandleError> {
        match failure {
            Failure::Retry(reason) if receive_count < self.max_receives => {
                log.push(format!(
                    "attempt {receive_count} failed, will retry: {reason}"
                ));
                self.append_log(m, &log).await;
                Err(HandleError::Retry(reason))
            }
            Failure::Retry(reason) | Failure::Fail(reason) => {
                log.push(format!("failed: {reason}"));
                self.end(
                    m,
                    TaskStatus::InProgress,
                    TaskStatus::Failed,
                    &reason,
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
            Err(e) => return Err(e.into()),
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

    /// The copy (or deletion) of the task's artifact: Err for what kept it from starting (a
    /// registry gone, a name that is not valid), Ok with what the copy itself came to.
    async fn copy(
        &self,
        m: &TransferMessage,
        log: &mut Vec<String>,
        stop_at: Option<Instant>,
    ) -> Result<Result<CopyOutcome, CopyError>, Failure> {
        let invalid = |e: NameError| Failure::Fail(format!("the task names {e}"));
        let (src, dst) = (&m.resource.src, &m.resource.dst);
        let dst_repository = dst.repository().map_err(invalid)?;
        let dst_reference = dst.reference().map_err(invalid)?;
        let dst_client = self.client(dst.registry_id).await?;
        if m.operation == Operation::Deletion {
            return Ok(
                delete_artifact(dst_client.as_ref(), &dst_repository, &dst_reference, log).await,
            );
        }
        let src_repository = src.repository().map_err(invalid)?;
        let src_reference = src.reference().map_err(invalid)?;
        let platforms = m
            .platforms
            .iter()
            .map(|p| Platform::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| Failure::Fail(format!("the task's platforms: {reason}")))?;
        let src_client = self.client(src.registry_id).await?;
        let slots = self.registries.blob_slots(src.registry_id, dst.registry_id);
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
            dst_registry_id: dst.registry_id,
            same_registry: src.registry_id == dst.registry_id,
            deadline: stop_at,
            resume: m.checkpoint.as_ref(),
            platforms: &platforms,
            src: src_client.as_ref(),
            src_repository: &src_repository,
            src_reference: &src_reference,
            dst: dst_client.as_ref(),
            dst_repository: &dst_repository,
            dst_reference: &dst_reference,
            options: m.options,
        };
        Ok(copy_artifact(&job, log).await)
    }

    async fn client(&self, registry_id: i64) -> Result<Arc<dyn RegistryClient>, Failure> {
        let registry = self.store.get_registry_with_secret(registry_id).await?;
        Ok(self.registries.client(&registry)?)
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
            .await?;
        if changed {
            tracing::info!(status = to.as_str(), status_text, "task ended");
        }
        if let Some(status) = self.store.finish_if_done(m.execution_id).await? {
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
