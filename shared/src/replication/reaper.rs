//! The reaper: a scheduled look at every execution still in progress, so that none stays so
//! forever. One whose finish was lost is finished; one gone still with its listing incomplete
//! is launched again, once (its starter may have died before sending the first message); one
//! still after that, or still with only tasks open while nothing waits in the queues, fails
//! what is open, saying why. A `single_active_replication` policy is then never blocked for
//! longer than that.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tracing::Instrument;

use super::retry::{fan_out_retry, RetryError};
use super::start::{send_first_listing, StartError};
use crate::model::notification::ReplicationEventKind;
use crate::model::{time_format, ExecutionStatus, Reaping, Silence, Task, TaskLease, TaskStatus};
use crate::ports::logs::{TaskLogSink, REAPER_ENTRY};
use crate::ports::queue::{MessageQueue, QueueError};
use crate::ports::store::{Launch, RunningExecution, Store, StoreError, TaskTransition};

/// How long an execution may stay still before what is open counts as lost: well past an
/// invocation (15 minutes at most) and the longest redelivery wait.
pub const DEFAULT_STALE: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ReapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("launching it again failed: {0}")]
    Start(#[from] StartError),
    #[error("launching its retry again failed: {0}")]
    Retry(#[from] RetryError),
}

pub struct Reaper {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn MessageQueue>,
    pub logs: Arc<dyn TaskLogSink>,
    /// Executions kept per policy; older ones are swept when one finishes.
    pub keep_executions: usize,
    /// How long an execution may stay still before its open work counts as lost.
    pub stale: Duration,
}

/// What one look did, for the invocation's answer and its log.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Reaped {
    pub running: usize,
    pub finished: usize,
    pub relaunched: usize,
    pub given_up: usize,
    /// Still, but left alone because messages wait in the queues (theirs may be among them).
    pub waiting: usize,
    /// Looked at and not handled, for an error (logged); the next look tries again.
    pub errors: usize,
}

enum Outcome {
    Left,
    Finished,
    Relaunched,
    GivenUp,
    Waiting,
}

impl Reaper {
    /// Looks at every execution in progress once.
    pub async fn reap(&self) -> Result<Reaped, StoreError> {
        let now_ms = time_format::now_millis();
        let mut reaped = Reaped::default();
        // Asked at most once per look, and only when something would be given up.
        let mut waiting: Option<u64> = None;
        for running in self.store.running_executions().await? {
            reaped.running += 1;
            let span = tracing::info_span!("reap", execution_id = running.execution.id);
            match self
                .reap_one(&running, now_ms, &mut waiting)
                .instrument(span)
                .await
            {
                Ok(Outcome::Left) => {}
                Ok(Outcome::Finished) => reaped.finished += 1,
                Ok(Outcome::Relaunched) => reaped.relaunched += 1,
                Ok(Outcome::GivenUp) => reaped.given_up += 1,
                Ok(Outcome::Waiting) => reaped.waiting += 1,
                Err(e) => {
                    tracing::warn!(execution_id = running.execution.id, error = %e, "not reaped");
                    reaped.errors += 1;
                }
            }
        }
        tracing::info!(?reaped, "reaper looked");
        // Each one the reaper had to move on was stuck: the alarm on them reads this.
        let stuck = reaped.finished + reaped.relaunched + reaped.given_up;
        crate::telemetry::metrics::count(
            crate::telemetry::metrics::STUCK_EXECUTIONS,
            crate::telemetry::metrics::On::All,
            stuck as u64,
        );
        Ok(reaped)
    }

    async fn reap_one(
        &self,
        running: &RunningExecution,
        now_ms: i64,
        waiting: &mut Option<u64>,
    ) -> Result<Outcome, ReapError> {
        let execution = &running.execution;
        let stale_ms = i64::try_from(self.stale.as_millis()).unwrap_or(i64::MAX);
        let still_since = |last_moved_ms| Silence {
            last_moved_ms,
            now_ms,
            stale_ms,
        };
        let verdict = |last_moved_ms| {
            execution.reaping(
                running.listings_pending,
                running.relaunched,
                still_since(last_moved_ms),
            )
        };
        let mut reaping = verdict(running.updated_ms);
        let mut open = Vec::new();
        if matches!(reaping, Reaping::Relaunch | Reaping::GiveUp) {
            // A long copy moves its task's lease, not the execution: it counts as moving.
            open = self.store.open_tasks(execution.id).await?;
            let last_worked = open.iter().filter_map(|(_, l)| l.lease_until).max();
            reaping = verdict(running.updated_ms.max(last_worked.unwrap_or(0)));
        }
        match reaping {
            Reaping::Leave => Ok(Outcome::Left),
            Reaping::Finish => {
                self.finish(execution.id).await?;
                Ok(Outcome::Finished)
            }
            Reaping::Relaunch => self.relaunch(running).await,
            Reaping::GiveUp => {
                let queued = match *waiting {
                    Some(n) => n,
                    None => *waiting.insert(self.queue.waiting().await?),
                };
                if queued > 0 {
                    tracing::info!(queued, "still, but messages wait in the queues");
                    return Ok(Outcome::Waiting);
                }
                self.give_up(running, &open).await?;
                Ok(Outcome::GivenUp)
            }
        }
    }

    /// Takes the execution's first step again: its first list message, or its retry's tasks.
    /// Each is keyed, so whatever of it was done before is not done twice.
    async fn relaunch(&self, running: &RunningExecution) -> Result<Outcome, ReapError> {
        let execution = &running.execution;
        if !self.store.mark_relaunched(execution.id).await? {
            return Ok(Outcome::Left);
        }
        tracing::warn!(launch = ?running.launch, "execution still with its listing open: launched again");
        let (store, queue) = (self.store.as_ref(), self.queue.as_ref());
        match &running.launch {
            Launch::Listing | Launch::Plan => {
                send_first_listing(store, queue, execution, None).await?
            }
            Launch::Event(event) => {
                send_first_listing(store, queue, execution, Some(event)).await?
            }
            Launch::RetryOf(original) => fan_out_retry(store, queue, execution, *original).await?,
        }
        Ok(Outcome::Relaunched)
    }

    /// Fails every open task, saying why, then the execution.
    async fn give_up(
        &self,
        running: &RunningExecution,
        open: &[(Task, TaskLease)],
    ) -> Result<(), ReapError> {
        let execution_id = running.execution.id;
        let minutes = self.stale.as_secs() / 60;
        let reason = format!(
            "lost: nothing worked on this task for {minutes} minutes and no message waited in the queues (its message was lost, e.g. to a crash between writing the task and sending it); retry the execution to copy it again"
        );
        for (task, _) in open {
            if let Err(e) = self
                .logs
                .append(
                    execution_id,
                    task.id,
                    REAPER_ENTRY,
                    std::slice::from_ref(&reason),
                )
                .await
            {
                tracing::warn!(task_id = task.id, error = %e, "task log not written");
            }
            let failed = self
                .store
                .transition_task(&TaskTransition {
                    execution_id,
                    task_id: task.id,
                    artifact: None,
                    from: task.status,
                    to: TaskStatus::Failed,
                    status_text: Some(reason.clone()),
                    figures: None,
                    log: None,
                })
                .await?;
            if failed {
                super::notify::announce(
                    self.queue.as_ref(),
                    ReplicationEventKind::TaskFailed,
                    execution_id,
                    Some(task.id),
                )
                .await;
            }
        }
        tracing::warn!(
            tasks = open.len(),
            "execution still: open tasks failed as lost"
        );
        if running.listings_pending > 0 {
            let reason = format!(
                "gave up: its listing did not complete and nothing moved for {minutes} minutes, also after it was launched again (its list messages were lost); start the policy again"
            );
            super::notify::end_announced(
                self.store.as_ref(),
                self.queue.as_ref(),
                execution_id,
                ExecutionStatus::Failed,
                &reason,
            )
            .await?;
            self.sweep(execution_id).await;
            Ok(())
        } else {
            self.finish(execution_id).await
        }
    }

    async fn finish(&self, execution_id: i64) -> Result<(), ReapError> {
        let (store, queue) = (self.store.as_ref(), self.queue.as_ref());
        if let Some(status) = super::notify::finish_announced(store, queue, execution_id).await? {
            tracing::info!(status = status.as_str(), "execution finished by the reaper");
            self.sweep(execution_id).await;
        }
        Ok(())
    }

    async fn sweep(&self, execution_id: i64) {
        super::sweep::sweep_after(
            self.store.as_ref(),
            self.logs.as_ref(),
            execution_id,
            self.keep_executions,
        )
        .await;
    }
}
