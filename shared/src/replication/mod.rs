//! The use cases: starting executions (by hand, by schedule, by webhook event), listing a
//! source into tasks, copying one artifact per task, retrying, sweeping old executions, and
//! the lifecycle of registries and policies. They see only the ports.

pub mod ecr_events;
pub mod events;
pub mod fanout;
pub mod handlers;
pub mod health;
pub mod list;
pub mod notify;
mod payloads;
pub mod policies;
pub mod prepare;
pub mod prune;
pub mod pull;
pub mod reaper;
pub mod registries;
pub mod retry;
pub mod schedule;
pub mod start;
pub mod sweep;
pub mod transfer;

use crate::copy::CopyError;
use crate::ports::queue::QueueError;
use crate::ports::registry::RegistryError;
use crate::ports::store::StoreError;

/// What a queue consumer tells the event source about one message.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The message cannot be read; after its receives it lands in the DLQ.
    #[error("unreadable message: {0}")]
    Poison(#[from] crate::messages::MessageError),
    /// Something that may heal (the store, a registry): deliver the message again.
    #[error("{0}")]
    Retry(String),
}

/// How a step of a worker failed, which decides what becomes of its message: delivered again
/// (the failure may heal), or what it stands for (a task, an execution) ends Failed with the
/// reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Retry(String),
    #[error("{0}")]
    Fail(String),
}

impl Failure {
    /// The same failure with what was being done in front of its reason.
    pub fn context(self, doing: impl std::fmt::Display) -> Self {
        match self {
            Self::Retry(reason) => Self::Retry(format!("{doing}: {reason}")),
            Self::Fail(reason) => Self::Fail(format!("{doing}: {reason}")),
        }
    }

    fn heals_if(heals: bool, reason: String) -> Self {
        if heals {
            Self::Retry(reason)
        } else {
            Self::Fail(reason)
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::heals_if(e.may_heal(), e.to_string())
    }
}

impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Self {
        Self::heals_if(e.is_transient(), e.to_string())
    }
}

impl From<CopyError> for Failure {
    fn from(e: CopyError) -> Self {
        Self::heals_if(e.is_transient(), e.to_string())
    }
}

/// A queue that refused a message may take it later.
impl From<QueueError> for Failure {
    fn from(e: QueueError) -> Self {
        Self::Retry(e.to_string())
    }
}

#[cfg(test)]
mod tests;

impl From<StoreError> for HandleError {
    fn from(e: StoreError) -> Self {
        Self::Retry(e.to_string())
    }
}
