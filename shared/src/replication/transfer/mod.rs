//! The transfer stage: one message, one task, one artifact.
//!
//! Idempotent and one at a time: a delivery takes the task first (a lease until its invocation
//! ends; see `TaskLease::take`), so a duplicate delivery waits or finds the task ended, and a
//! message whose copy went on in a newer one is spent. Status changes are conditional on the
//! status they leave and move the execution's counters in the same transaction. A failure that
//! may heal is retried by redelivery until the last receive, where the task fails with the
//! reason instead, so no task is left InProgress when its message is exhausted.

mod copying;
mod ending;
mod finishing;
mod profile;
mod recent;

use ending::Ending;
pub use finishing::FinishChecks;
pub use recent::RecentReads;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::HandleError;
use crate::copy::{CachedLocations, CopyError, CopyOutcome, RegistryPool};
use crate::messages::{decode, InboundMessage, TransferMessage};
use crate::model::artifact_types::ArtifactTypes;
use crate::model::{time_format, Operation, Take, TaskStatus, TransferFigures};
use crate::ports::deadline::{self, Invocation};
use crate::ports::logs::{log_entry, TaskLogSink};
use crate::ports::processor::ProcessorClient;
use crate::ports::queue::MessageQueue;
use crate::ports::registry::platforms_key;
use crate::ports::store::{Store, StoreError};

/// Invocations one copy may continue into before its task fails: a copy that makes no
/// progress must not go round for ever.
const MAX_CONTINUATIONS: u32 = 100;
/// Time kept at the end of an invocation to record the outcome after the last wait.
const SETTLE: Duration = Duration::from_secs(10);
/// How long a delivery holds its task when its invocation has no deadline (a local run).
const LEASE_WITHOUT_DEADLINE: Duration = Duration::from_secs(15 * 60);

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
    /// Registries and stop checks read a moment ago.
    pub recent: Arc<RecentReads>,
    /// Deliveries of a message before its DLQ takes it; the last one fails the task instead.
    pub max_receives: u32,
    /// Executions kept per policy; older ones are swept when one finishes.
    pub keep_executions: usize,
    /// "Was it the last task?" asked once per batch and execution.
    pub finish_checks: FinishChecks,
    /// The artifact types a copied artifact is told by, with their processors.
    pub types: Arc<ArtifactTypes>,
    /// Processor extenders, for the types `processors.yaml` gives one.
    pub processors: Arc<dyn ProcessorClient>,
}

/// One delivery of a transfer message, as the steps of its handling need to know it.
struct Delivery<'a> {
    m: &'a TransferMessage,
    /// The queue's id of the message: the same for every delivery of it.
    message_id: &'a str,
    receive_count: u32,
    /// The copy's invocation count this message carries.
    continuation: u32,
    /// Whether this delivery ended the task (its status written final).
    ended: AtomicBool,
    /// Whether it tried to (the task may have been ended by another meanwhile): either way
    /// the execution may be done, and the check is owed.
    end_tried: AtomicBool,
}

impl Delivery<'_> {
    /// Where this delivery's lines go in the task's log.
    fn log_entry(&self) -> String {
        log_entry(self.continuation, self.receive_count)
    }
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
            return self.given_up(&transfer, &message.message_id).await;
        }
        let span = tracing::info_span!(
            "transfer",
            message_id = %message.message_id,
            execution_id = transfer.execution_id,
            task_id = transfer.task_id,
            receive = message.receive_count,
            correlation_id = transfer.correlation_id.as_deref().unwrap_or_default(),
        );
        let started = Instant::now();
        // No wait below (a retry, a registry's Retry-After, a request) outlasts `waits_end`:
        // the worker keeps time to record where the copy stands.
        let Invocation { stop_at, waits_end } = Invocation::plan(
            started,
            deadline,
            self.deadline_margin,
            self.time_budget,
            SETTLE,
        );
        let delivery = Delivery {
            m: &transfer,
            message_id: &message.message_id,
            receive_count: message.receive_count,
            continuation: transfer.checkpoint.as_ref().map_or(0, |c| c.continuations),
            ended: AtomicBool::new(false),
            end_tried: AtomicBool::new(false),
        };
        let lease_ends = deadline.unwrap_or(started + LEASE_WITHOUT_DEADLINE);
        let handled = deadline::within(
            waits_end,
            self.run(&delivery, stop_at, lease_ends).instrument(span),
        )
        .await;
        if delivery.ended.load(Ordering::Relaxed) {
            use crate::telemetry::metrics::{self, On};
            let on = On::Policy(transfer.policy_id);
            metrics::duration(metrics::TASK_DURATION, on, started.elapsed());
        }
        handled
    }

    /// Takes the task, runs it, lets it go.
    async fn run(
        &self,
        d: &Delivery<'_>,
        stop_at: Option<Instant>,
        lease_ends: Instant,
    ) -> Result<(), HandleError> {
        let (execution_id, task_id) = (d.m.execution_id, d.m.task_id);
        let lease_ms = time_format::now_millis()
            + i64::try_from(
                lease_ends
                    .saturating_duration_since(Instant::now())
                    .as_millis(),
            )
            .unwrap_or(i64::MAX / 2);
        match self
            .store
            .take_task(
                execution_id,
                task_id,
                d.continuation,
                lease_ms,
                d.message_id,
            )
            .await
        {
            Ok(Take::Granted) => {}
            Ok(Take::Held) => {
                // Another delivery runs it. Come back later rather than drop the message: if
                // that delivery dies, this one is what brings the task back.
                return Err(HandleError::Retry(
                    "another delivery of this task is running".into(),
                ));
            }
            Ok(Take::Stale) => {
                tracing::info!(continuation = d.continuation, "a spent message: dropped");
                return Ok(());
            }
            Ok(Take::Ended) => {
                tracing::info!("task already ended: a duplicate delivery");
                // The delivery that ended it may have died before finishing the execution.
                return self.finish(execution_id).await;
            }
            Err(StoreError::NotFound { .. }) => {
                tracing::warn!("task is gone; nothing to do");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        let running = self.finish_checks.enter(execution_id);
        let mut handed_on = false;
        let ran = self.run_taken(d, stop_at, &mut handed_on).await;
        let ended = d.ended.load(Ordering::Relaxed);
        if running.leave(d.end_tried.load(Ordering::Relaxed)) {
            if let Err(e) = self.finish(execution_id).await {
                // Delivered again, this message checks again (its task ended, or it ends it).
                self.finish_checks.owe(execution_id);
                return ran.and(Err(e));
            }
        }
        if ended {
            // An ended task cannot be taken again: its lease needs no release.
            return ran;
        }
        if let Err(e) = self
            .store
            .release_task(
                execution_id,
                task_id,
                d.continuation,
                handed_on,
                d.message_id,
            )
            .await
        {
            // Not released, it is released when its lease ends.
            tracing::warn!(error = %e, "task not released");
        }
        ran
    }

    async fn run_taken(
        &self,
        d: &Delivery<'_>,
        stop_at: Option<Instant>,
        handed_on: &mut bool,
    ) -> Result<(), HandleError> {
        let m = d.m;
        let status = match self
            .recent
            .status(self.store.as_ref(), m.execution_id)
            .await
        {
            Ok(status) => status,
            Err(StoreError::NotFound { .. }) => {
                tracing::warn!("execution is gone; nothing to do");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        // Taken, the task is InProgress (the take started it).
        let running = TaskStatus::InProgress;
        if status.is_final() {
            let text = "the execution ended before this task ran";
            return self
                .end(d, running, TaskStatus::Stopped, text, None, vec![])
                .await;
        }
        let mut log = vec![match m.operation {
            Operation::Copy => format!(
                "attempt {}: copy {} -> {}",
                d.receive_count,
                m.resource.src.display(),
                m.resource.dst.display()
            ),
            Operation::Deletion => format!(
                "attempt {}: {} was deleted at the source; delete {}",
                d.receive_count,
                m.resource.src.display(),
                m.resource.dst.display()
            ),
        }];
        let copied = match self.copy(m, &mut log, stop_at).await {
            Ok(copied) => copied,
            Err(failure) => return self.failed(d, failure, log).await,
        };
        match copied {
            Ok(CopyOutcome::Copied {
                digest,
                figures,
                manifest,
                filtered_from,
            }) => {
                log.push(format!(
                    "done: {digest}, {} blobs copied ({} bytes), {} already there",
                    figures.blobs_copied, figures.bytes_copied, figures.blobs_skipped
                ));
                if let Some(source) = &filtered_from {
                    // A re-sync then finds this index unchanged by one HEAD.
                    let platforms = platforms_key(&m.platforms);
                    self.store
                        .record_filtered_index(source, &platforms, &digest)
                        .await;
                }
                let profile = match &manifest {
                    Some(manifest) if m.operation == Operation::Copy => {
                        Some(self.profile(m, manifest, &mut log).await)
                    }
                    _ => None,
                };
                let ending = Ending {
                    figures: Some(figures),
                    artifact: profile,
                };
                self.end_with(d, running, TaskStatus::Succeed, "", ending, log)
                    .await
            }
            Ok(CopyOutcome::Skipped { digest, reason }) => {
                let text = format!("skipped: {reason}");
                log.push(match digest {
                    Some(digest) => format!("{text} ({digest})"),
                    None => text.clone(),
                });
                let figures = Some(TransferFigures::default());
                self.end(d, running, TaskStatus::Succeed, &text, figures, log)
                    .await
            }
            Err(CopyError::OutOfTime(checkpoint)) => {
                self.continue_later(d, checkpoint, log, handed_on).await
            }
            Err(CopyError::Stopped) => {
                log.push("stopped: the execution was stopped".into());
                let text = "stopped by the user";
                self.end(d, running, TaskStatus::Stopped, text, None, log)
                    .await
            }
            Err(e) => self.failed(d, e.into(), log).await,
        }
    }
}
