//! A task copies (or deletes) one artifact; Harbor's `ReplicationTask` JSON names plus Ferry's
//! transfer figures, which Harbor's clients ignore.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::resource::{Resource, ResourceType};
use super::time_format;
use super::transfer::TransferFigures;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum TaskStatus {
    Pending,
    InProgress,
    Succeed,
    Failed,
    Stopped,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Succeed => "Succeed",
            Self::Failed => "Failed",
            Self::Stopped => "Stopped",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeed | Self::Failed | Self::Stopped)
    }

    /// What moving to `to` writes. A task goes Pending, then InProgress, then ends once
    /// (Succeed, Failed or Stopped); a pending task may also end without running, and then
    /// starts and ends at once (a skipped task has a start time, as Harbor's clients expect).
    pub fn change_to(self, to: TaskStatus) -> Result<TaskChange, TransitionError> {
        let refused = TransitionError { from: self, to };
        match (self, to) {
            (from, _) if from.is_final() => Err(refused),
            (Self::Pending, Self::InProgress) => Ok(TaskChange {
                starts: true,
                ends: None,
            }),
            (from, Self::Succeed) => Ok(TaskChange::ending(EndCounter::Succeed, from)),
            (from, Self::Failed) => Ok(TaskChange::ending(EndCounter::Failed, from)),
            (from, Self::Stopped) => Ok(TaskChange::ending(EndCounter::Stopped, from)),
            _ => Err(refused),
        }
    }
}

/// The execution counter a task's end moves up (as `in_progress` moves down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCounter {
    Succeed,
    Failed,
    Stopped,
}

impl EndCounter {
    /// The execution's field, as Harbor names it.
    pub fn field(self) -> &'static str {
        match self {
            Self::Succeed => "succeed",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        }
    }
}

/// What a task's status change writes besides the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskChange {
    /// The task starts now: its `start_time` is set.
    pub starts: bool,
    /// The task ends now: its `end_time` is set, and the execution's `in_progress` moves down
    /// by one and this counter up by one, in the same write.
    pub ends: Option<EndCounter>,
}

impl TaskChange {
    fn ending(counter: EndCounter, from: TaskStatus) -> Self {
        Self {
            starts: from == TaskStatus::Pending,
            ends: Some(counter),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a task does not go from {} to {}", .from.as_str(), .to.as_str())]
pub struct TransitionError {
    pub from: TaskStatus,
    pub to: TaskStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Copy,
    Deletion,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Task {
    pub id: i64,
    pub execution_id: i64,
    pub job_id: String,
    pub status: TaskStatus,
    #[serde(default)]
    pub status_text: String,
    pub operation: Operation,
    pub resource_type: ResourceType,
    pub src_resource: String,
    pub dst_resource: String,
    /// Absent (not null) until the task starts or ends: Harbor's schema has a date-time here.
    #[serde(
        with = "time_format::rfc3339_option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub start_time: Option<OffsetDateTime>,
    #[serde(
        with = "time_format::rfc3339_option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<OffsetDateTime>,
    #[serde(flatten)]
    pub figures: TransferFigures,
    /// Invocations the copy has continued into after running out of time (Ferry's addition).
    #[serde(default)]
    pub continuations: u32,
    /// What the task copies, with the registries' ids (Ferry's addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    /// The last entry of the task's log when it was short enough to keep with the task (no
    /// log write of its own); read through the log route, never part of the task's answer.
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub log: Option<InlineLog>,
    /// The copied artifact as its type sees it, kept as JSON text; read through the
    /// execution's artifacts route, never part of the task's answer.
    #[serde(
        default,
        skip_serializing,
        deserialize_with = "super::artifact_types::profile_from_text"
    )]
    #[schema(ignore)]
    pub artifact: Option<super::artifact_types::ArtifactProfile>,
}

/// A task's last log entry, kept with the task: `entry` sorts it among the entries kept in
/// the log store (it is the last), `text` is its lines, each ending in a newline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineLog {
    pub entry: String,
    pub text: String,
}

impl Task {
    /// Applies a status change at `now`, as the store writes it.
    pub fn apply(&mut self, to: TaskStatus, change: TaskChange, now: OffsetDateTime) {
        self.status = to;
        if change.starts {
            self.start_time = Some(now);
        }
        if change.ends.is_some() {
            self.end_time = Some(now);
        }
    }
}

/// Which delivery runs a task: the continuation it runs (the copy's invocation count), the
/// last continuation that handed the copy on to a new message, until when the running
/// delivery holds it (epoch milliseconds: a delivery that dies lets go when its invocation
/// would have ended anyway; one that lets go sets it to then, so it also tells when the task
/// was last worked on), and the message that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskLease {
    pub continuations: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handed_on: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

/// What taking a task for a delivery of `continuation` finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// This delivery runs the task until its lease ends or it lets go.
    Granted,
    /// Another delivery runs it now: come back later.
    Held,
    /// The copy went on past this message (a newer continuation took it, or this one's run
    /// handed on): the message is spent.
    Stale,
    /// The task ended.
    Ended,
}

impl TaskLease {
    /// The rule: one delivery at a time; a message runs while its continuation is the task's
    /// (or newer: the successor of a run that handed on) and nobody handed on from it yet. The
    /// message that holds the task takes it again at once: a queue delivers a message again
    /// only once its earlier delivery is over, so that one failed or died.
    pub fn take(&self, status: TaskStatus, continuation: u32, now_ms: i64, holder: &str) -> Take {
        if status.is_final() {
            Take::Ended
        } else if continuation < self.continuations
            || self.handed_on.is_some_and(|from| from >= continuation)
        {
            Take::Stale
        } else if self.lease_until.is_some_and(|until| until > now_ms)
            && self.holder.as_deref() != Some(holder)
        {
            Take::Held
        } else {
            Take::Granted
        }
    }
}
