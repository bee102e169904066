//! An execution of a policy, with Harbor's `ReplicationExecution` JSON names.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::policy::TriggerType;
use super::task::{EndCounter, TaskChange};
use super::time_format;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ExecutionStatus {
    InProgress,
    Succeed,
    Failed,
    Stopped,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "InProgress",
            Self::Succeed => "Succeed",
            Self::Failed => "Failed",
            Self::Stopped => "Stopped",
        }
    }

    pub fn is_final(self) -> bool {
        self != Self::InProgress
    }

    /// Harbor's aggregation: anything pending or running keeps it in progress; then any failure
    /// fails it; then any stop stops it; otherwise it succeeded.
    pub fn aggregate(in_progress: i64, failed: i64, stopped: i64) -> Self {
        if in_progress > 0 {
            Self::InProgress
        } else if failed > 0 {
            Self::Failed
        } else if stopped > 0 {
            Self::Stopped
        } else {
            Self::Succeed
        }
    }
}

/// Harbor's `ReplicationExecution`; `in_progress` counts tasks pending or running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Execution {
    pub id: i64,
    pub policy_id: i64,
    pub status: ExecutionStatus,
    pub trigger: TriggerType,
    #[serde(with = "time_format::rfc3339")]
    pub start_time: OffsetDateTime,
    #[serde(
        with = "time_format::rfc3339_option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<OffsetDateTime>,
    #[serde(default)]
    pub status_text: String,
    pub total: i64,
    pub failed: i64,
    pub succeed: i64,
    pub in_progress: i64,
    pub stopped: i64,
    /// A plan (Ferry's addition): listed and filtered as a real execution, its tasks say what
    /// would happen; nothing is written to the destination.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

impl Execution {
    /// A new execution: in progress, nothing counted yet.
    pub fn new(id: i64, policy_id: i64, trigger: TriggerType, start_time: OffsetDateTime) -> Self {
        Self {
            id,
            policy_id,
            status: ExecutionStatus::InProgress,
            trigger,
            start_time,
            end_time: None,
            status_text: String::new(),
            total: 0,
            failed: 0,
            succeed: 0,
            in_progress: 0,
            stopped: 0,
            dry_run: false,
        }
    }

    /// The status to end with now, or None while anything is open: a task pending or
    /// running, a list piece not done, or the execution ended already.
    pub fn final_status(&self, listings_pending: i64) -> Option<ExecutionStatus> {
        (!self.status.is_final() && self.in_progress <= 0 && listings_pending <= 0)
            .then(|| ExecutionStatus::aggregate(self.in_progress, self.failed, self.stopped))
    }

    /// What the reaper does with this execution, given its open list pieces, whether it was
    /// launched again already, when anything of it last moved (a counter, a task's lease) and
    /// how long silence may last before what is open counts as lost.
    pub fn reaping(&self, listings_pending: i64, relaunched: bool, silence: Silence) -> Reaping {
        if self.status.is_final() {
            Reaping::Leave
        } else if self.final_status(listings_pending).is_some() {
            Reaping::Finish
        } else if silence.now_ms.saturating_sub(silence.last_moved_ms) < silence.stale_ms {
            Reaping::Leave
        } else if listings_pending > 0 && !relaunched {
            Reaping::Relaunch
        } else {
            Reaping::GiveUp
        }
    }

    /// Counts a task's status change into the execution's counters.
    pub fn count(&mut self, change: TaskChange) {
        if let Some(counter) = change.ends {
            self.in_progress -= 1;
            *match counter {
                EndCounter::Succeed => &mut self.succeed,
                EndCounter::Failed => &mut self.failed,
                EndCounter::Stopped => &mut self.stopped,
            } += 1;
        }
    }

    /// Counts in tasks that ended, kept apart from the execution's own record (see
    /// [`EndedTasks`]): each left `in_progress` for its end counter.
    pub fn add_ended(&mut self, ended: EndedTasks) {
        self.in_progress -= ended.succeed + ended.failed + ended.stopped;
        self.succeed += ended.succeed;
        self.failed += ended.failed;
        self.stopped += ended.stopped;
    }

    /// Counts new tasks in: pending ones are in progress, as Harbor counts them.
    pub fn add_tasks(&mut self, count: i64) {
        self.total += count;
        self.in_progress += count;
    }
}

/// Tasks of an execution that ended, by how they ended: the part of its counters that task
/// ends move, which a store may keep apart from the execution (in shards, so that concurrent
/// ends do not all write one record) and add in with [`Execution::add_ended`] when read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndedTasks {
    pub succeed: i64,
    pub failed: i64,
    pub stopped: i64,
}

impl EndedTasks {
    /// Counts one end.
    pub fn count(&mut self, counter: EndCounter) {
        *match counter {
            EndCounter::Succeed => &mut self.succeed,
            EndCounter::Failed => &mut self.failed,
            EndCounter::Stopped => &mut self.stopped,
        } += 1;
    }

    /// The ends counted, with the execution's field each one moves.
    pub fn fields(&self) -> [(&'static str, i64); 3] {
        [
            (EndCounter::Succeed.field(), self.succeed),
            (EndCounter::Failed.field(), self.failed),
            (EndCounter::Stopped.field(), self.stopped),
        ]
    }

    pub fn is_empty(&self) -> bool {
        self.succeed == 0 && self.failed == 0 && self.stopped == 0
    }
}

impl std::ops::AddAssign for EndedTasks {
    fn add_assign(&mut self, other: Self) {
        self.succeed += other.succeed;
        self.failed += other.failed;
        self.stopped += other.stopped;
    }
}

/// How long an execution has been still: when it last moved, now, and how long may pass before
/// its open work counts as lost (all epoch milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Silence {
    pub last_moved_ms: i64,
    pub now_ms: i64,
    pub stale_ms: i64,
}

/// The reaper's verdict on an execution still in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaping {
    /// Ended, or something moved lately: nothing to do.
    Leave,
    /// Nothing open: its finish was lost (a crash after its last task); finish it now.
    Finish,
    /// Still, with its listing incomplete: launch its first step again, once (its first
    /// message may never have been sent).
    Relaunch,
    /// Still after that too, or with only tasks open: their messages are gone; fail what is
    /// open, saying why.
    GiveUp,
}
