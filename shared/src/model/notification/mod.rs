//! Notifications: Harbor-style webhook policies for replication events, the events Ferry
//! announces (an execution started or ended, a task failed), the Harbor webhook payload and
//! the EventBridge detail built from them, and the log of webhook deliveries.

mod delivery;
mod payload;
mod policy;

pub use delivery::{DeliveryStatus, WebhookDelivery, DELIVERY_TTL_SECS};
pub use payload::{
    execution_state_change, harbor_payload, EventFacts, ExecutionStateChange, FerryExtra,
    HarborPayload, EVENTBRIDGE_DETAIL_TYPE, EVENTBRIDGE_SOURCE,
};
pub use policy::{
    EventType, WebhookPolicy, WebhookTarget, WebhookTargetType, PAYLOAD_FORMAT_DEFAULT,
};

use serde::{Deserialize, Serialize};

/// What happened to an execution that Ferry announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicationEventKind {
    ExecutionStarted,
    ExecutionEnded,
    TaskFailed,
}

impl ReplicationEventKind {
    /// The finer event type a webhook policy may subscribe to instead of all of `REPLICATION`.
    pub fn event_type(self) -> EventType {
        match self {
            Self::ExecutionStarted => EventType::ReplicationExecutionStarted,
            Self::ExecutionEnded => EventType::ReplicationExecutionEnded,
            Self::TaskFailed => EventType::ReplicationTaskFailed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExecutionStarted => "execution_started",
            Self::ExecutionEnded => "execution_ended",
            Self::TaskFailed => "task_failed",
        }
    }
}

/// One event: which, of which execution (and task), when (epoch seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationEvent {
    /// `event` in JSON: a message's envelope has `kind` already.
    #[serde(rename = "event")]
    pub kind: ReplicationEventKind,
    pub execution_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<i64>,
    pub occur_at: i64,
}

impl ReplicationEvent {
    pub fn now(kind: ReplicationEventKind, execution_id: i64, task_id: Option<i64>) -> Self {
        Self {
            kind,
            execution_id,
            task_id,
            occur_at: super::time_format::now().unix_timestamp(),
        }
    }

    /// Names the event, the same for every delivery of it: what its deliveries are claimed by.
    pub fn key(&self) -> String {
        match self.task_id {
            Some(task_id) => format!("{}#{}#{task_id}", self.kind.as_str(), self.execution_id),
            None => format!("{}#{}", self.kind.as_str(), self.execution_id),
        }
    }
}

#[cfg(test)]
mod tests;
