//! The queues between the stages: list messages to the lister, transfer messages to transfer,
//! notify messages to the notifier.

use async_trait::async_trait;

use std::time::Duration;

use crate::messages::{InboundMessage, ListMessage, NotifyMessage, TransferMessage};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("sqs {operation} on {queue}: {message}")]
    Backend {
        queue: String,
        operation: &'static str,
        message: String,
    },
    #[error("{failed} of {total} messages to {queue} were refused: {reasons}")]
    Refused {
        queue: String,
        failed: usize,
        total: usize,
        reasons: String,
    },
    #[error("a message for {queue} is {size} bytes, over the 256 KiB limit")]
    TooLarge { queue: String, size: usize },
}

#[async_trait]
pub trait MessageQueue: Send + Sync {
    async fn send_list(&self, messages: &[ListMessage]) -> Result<(), QueueError>;
    async fn send_transfer(&self, messages: &[TransferMessage]) -> Result<(), QueueError>;
    /// To the notifier: an execution started or ended, a task failed. A deployment without
    /// a notify queue drops them.
    async fn send_notify(&self, messages: &[NotifyMessage]) -> Result<(), QueueError>;
    /// About how many messages the stages' queues hold, waiting or being handled: while any
    /// are, an execution that looks still may only be waiting its turn.
    async fn waiting(&self) -> Result<u64, QueueError>;
}

/// Messages a consumer hands back to be delivered again.
#[async_trait]
pub trait Redeliveries: Send + Sync {
    /// Makes `message` visible again after `delay` rather than after the queue's whole
    /// visibility timeout.
    async fn redeliver_after(
        &self,
        message: &InboundMessage,
        delay: Duration,
    ) -> Result<(), QueueError>;
}
