//! How a delivery ends: the task's status written (and the execution finished when it was the
//! last), the copy handed on to a new message, the message handed back for another delivery,
//! or, from the dead-letter queue, the task failed with the reason.

use super::{Delivery, TransferWorker, MAX_CONTINUATIONS};
use crate::messages::TransferMessage;
use crate::model::artifact_types::ArtifactProfile;
use crate::model::{time_format, Checkpoint, InlineLog, Take, TaskStatus, TransferFigures};
use crate::ports::logs::{entry_text, DEAD_LETTER_ENTRY};
use crate::ports::store::{StoreError, TaskTransition};
use crate::replication::{Failure, HandleError};

/// What an ending task records besides its status: the copy's figures, the artifact's type.
#[derive(Debug, Default)]
pub(super) struct Ending {
    pub figures: Option<TransferFigures>,
    pub artifact: Option<ArtifactProfile>,
}

/// How long the dead-letter consumer holds a task while it fails it.
const DEAD_LETTER_LEASE_MS: i64 = 60_000;
/// An ending delivery's log entry up to this long is written with the task's status (one
/// write per task instead of two); a longer one goes to the log store.
const INLINE_LOG_MAX: usize = 4096;

impl TransferWorker {
    /// Hands the rest of the copy (the uploads under way) to a new message for the next
    /// invocation. The message goes first and the hand-on is recorded after: a delivery that
    /// dies between the two is taken again and hands on again, and of the two successors the
    /// second finds the first's work done or the copy handed on past it.
    pub(super) async fn continue_later(
        &self,
        d: &Delivery<'_>,
        mut checkpoint: Checkpoint,
        mut log: Vec<String>,
        handed_on: &mut bool,
    ) -> Result<(), HandleError> {
        checkpoint.continuations = d.continuation + 1;
        if checkpoint.continuations > MAX_CONTINUATIONS {
            let text = format!("gave up after {MAX_CONTINUATIONS} invocations without finishing");
            log.push(text.clone());
            let running = TaskStatus::InProgress;
            return self
                .end(d, running, TaskStatus::Failed, &text, None, log)
                .await;
        }
        log.push(format!(
            "out of time: continuing in another invocation ({} uploads under way)",
            checkpoint.uploads.len()
        ));
        let next = TransferMessage {
            checkpoint: Some(checkpoint),
            ..d.m.clone()
        };
        self.queue
            .send_transfer(&[next])
            .await
            .map_err(|e| HandleError::Retry(e.to_string()))?;
        *handed_on = true;
        self.append_log(d.m, &d.log_entry(), &log).await;
        Ok(())
    }

    /// A failure that may heal is retried by redelivery until the last receive; then, and for
    /// one that will not heal, the task fails with the reason.
    pub(super) async fn failed(
        &self,
        d: &Delivery<'_>,
        failure: Failure,
        mut log: Vec<String>,
    ) -> Result<(), HandleError> {
        match failure {
            Failure::Retry(reason) if d.receive_count < self.max_receives => {
                log.push(format!(
                    "attempt {} failed, will retry: {reason}",
                    d.receive_count
                ));
                self.append_log(d.m, &d.log_entry(), &log).await;
                Err(HandleError::Retry(reason))
            }
            Failure::Retry(reason) | Failure::Fail(reason) => {
                log.push(format!("failed: {reason}"));
                let running = TaskStatus::InProgress;
                self.end(d, running, TaskStatus::Failed, &reason, None, log)
                    .await
            }
        }
    }

    /// A message whose deliveries ran out without the task ending (the function timed out or
    /// crashed each time): the task fails with that reason, so none stays InProgress. Taken
    /// first, by the same rule as a delivery: a task another message holds now, or whose copy
    /// went on in a newer message, is not this message's to fail (should that one die too,
    /// the reaper fails the task).
    pub(super) async fn given_up(
        &self,
        m: &TransferMessage,
        message_id: &str,
    ) -> Result<(), HandleError> {
        let (execution_id, task_id) = (m.execution_id, m.task_id);
        let continuation = m.checkpoint.as_ref().map_or(0, |c| c.continuations);
        let until_ms = time_format::now_millis() + DEAD_LETTER_LEASE_MS;
        match self
            .store
            .take_task(execution_id, task_id, continuation, until_ms, message_id)
            .await
        {
            Ok(Take::Granted) => {}
            // Ended, but perhaps not its execution: that delivery may have died in between.
            Ok(Take::Ended) => return self.finish(execution_id).await,
            Ok(Take::Held) => {
                tracing::warn!("dead letter of a task another delivery holds: left to it");
                return Ok(());
            }
            Ok(Take::Stale) | Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let reason = "gave up: the transfer function did not finish this task in any of its \
                      deliveries (it timed out or crashed; see its logs)";
        tracing::warn!(reason, "task given up from the dead-letter queue");
        self.append_log(m, DEAD_LETTER_ENTRY, &[reason.to_string()])
            .await;
        // Taken, the task is InProgress (the take started it).
        let failed = self
            .transition(
                m,
                TaskStatus::InProgress,
                TaskStatus::Failed,
                reason,
                Ending::default(),
                None,
            )
            .await?;
        if failed {
            self.announce_failed(m).await;
        }
        self.finish(execution_id).await
    }

    /// Ends the task `from` → `to` with its log (kept with the status when short); whether it
    /// was the execution's last is asked when the delivery is done (see `FinishChecks`).
    pub(super) async fn end(
        &self,
        d: &Delivery<'_>,
        from: TaskStatus,
        to: TaskStatus,
        status_text: &str,
        figures: Option<TransferFigures>,
        log: Vec<String>,
    ) -> Result<(), HandleError> {
        let ending = Ending {
            figures,
            artifact: None,
        };
        self.end_with(d, from, to, status_text, ending, log).await
    }

    /// [`Self::end`] with what a copy found of its artifact.
    pub(super) async fn end_with(
        &self,
        d: &Delivery<'_>,
        from: TaskStatus,
        to: TaskStatus,
        status_text: &str,
        ending: Ending,
        log: Vec<String>,
    ) -> Result<(), HandleError> {
        let text = entry_text(&log);
        let kept = (text.len() <= INLINE_LOG_MAX).then(|| InlineLog {
            entry: d.log_entry(),
            text,
        });
        if kept.is_none() {
            self.append_log(d.m, &d.log_entry(), &log).await;
        }
        d.end_tried
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let ended = self
            .transition(d.m, from, to, status_text, ending, kept.clone())
            .await;
        if kept.is_some() && !matches!(ended, Ok(true)) {
            // Not written with a status: the log store keeps what this delivery did.
            self.append_log(d.m, &d.log_entry(), &log).await;
        }
        if ended? {
            d.ended.store(true, std::sync::atomic::Ordering::Relaxed);
            if to == TaskStatus::Failed {
                self.announce_failed(d.m).await;
            }
        }
        Ok(())
    }

    async fn transition(
        &self,
        m: &TransferMessage,
        from: TaskStatus,
        to: TaskStatus,
        status_text: &str,
        ending: Ending,
        log: Option<InlineLog>,
    ) -> Result<bool, HandleError> {
        let changed = self
            .store
            .transition_task(&TaskTransition {
                execution_id: m.execution_id,
                task_id: m.task_id,
                from,
                to,
                status_text: Some(status_text.to_string()),
                figures: ending.figures,
                log,
                artifact: ending.artifact,
            })
            .await?;
        if changed {
            tracing::info!(status = to.as_str(), status_text, "task ended");
            count_ended(m, to, ending.figures.as_ref());
        }
        Ok(changed)
    }

    /// Finishes the execution when nothing is open any more, and sweeps its policy's history.
    /// Asked again on every delivery that finds its task ended, so a finish that failed (the
    /// store, a crash) happens on the next one.
    pub(super) async fn finish(&self, execution_id: i64) -> Result<(), HandleError> {
        let (store, queue) = (self.store.as_ref(), self.queue.as_ref());
        if let Some(status) =
            crate::replication::notify::finish_announced(store, queue, execution_id).await?
        {
            tracing::info!(status = status.as_str(), "execution finished");
            crate::replication::sweep::sweep_after(
                self.store.as_ref(),
                self.logs.as_ref(),
                execution_id,
                self.keep_executions,
            )
            .await;
        }
        Ok(())
    }

    /// A task this delivery failed: announced (a webhook policy may want task failures).
    async fn announce_failed(&self, m: &TransferMessage) {
        crate::replication::notify::announce(
            self.queue.as_ref(),
            crate::model::notification::ReplicationEventKind::TaskFailed,
            m.execution_id,
            Some(m.task_id),
        )
        .await;
    }

    /// The log is for people: a failure to write it is reported, not allowed to fail the copy.
    pub(super) async fn append_log(&self, m: &TransferMessage, entry: &str, lines: &[String]) {
        if let Err(e) = self
            .logs
            .append(m.execution_id, m.task_id, entry, lines)
            .await
        {
            tracing::warn!(error = %e, "task log not written");
        }
    }
}

/// A task's end in the metrics, by its policy: the artifact's outcome and what its copy moved.
fn count_ended(m: &TransferMessage, to: TaskStatus, figures: Option<&TransferFigures>) {
    use crate::model::Operation;
    use crate::telemetry::metrics::{self, On};
    let on = || On::Policy(m.policy_id);
    let outcome = match (to, m.operation) {
        (TaskStatus::Succeed, Operation::Copy) => metrics::ARTIFACTS_COPIED,
        (TaskStatus::Succeed, Operation::Deletion) => metrics::ARTIFACTS_DELETED,
        (TaskStatus::Failed, _) => metrics::ARTIFACTS_FAILED,
        _ => return,
    };
    metrics::count(outcome, on(), 1);
    if let Some(f) = figures {
        let figures = [
            (metrics::BYTES_COPIED, f.bytes_copied),
            (metrics::BLOBS_COPIED, f.blobs_copied),
            (metrics::BLOBS_MOUNTED, f.blobs_mounted),
            (metrics::BLOBS_SKIPPED, f.blobs_skipped),
        ];
        for (metric, n) in figures {
            if let Ok(n @ 1..) = u64::try_from(n) {
                metrics::count(metric, on(), n);
            }
        }
    }
}
