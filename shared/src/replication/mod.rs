//! The replication use cases: starting executions, copying one artifact per task.

pub mod events;
pub mod fanout;
pub mod list;
pub mod naming;
pub mod retry;
pub mod schedule;
pub mod source;
pub mod start;
pub mod sweep;
pub mod transfer;

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
