//! Task logs: lines appended while a task runs, read back whole.

/// Where a delivery's lines go in its task's log: after those of earlier continuations and
/// receives, the dead-letter queue's last; the same for every retry of the same step.
pub fn log_entry(continuation: u32, receive_count: u32) -> String {
    format!("{continuation:05}-{receive_count:05}")
}

/// The entry of what the dead-letter queue's consumer says: after everything else.
pub const DEAD_LETTER_ENTRY: &str = "99999-dead-letter";

/// The entry of what the reaper says about a task it gave up: last of all.
pub const REAPER_ENTRY: &str = "99999-reaper";

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("task log {key}: s3 {operation} failed: {message}")]
    Backend {
        key: String,
        operation: &'static str,
        message: String,
    },
}

#[async_trait]
pub trait TaskLogSink: Send + Sync {
    /// Appends lines (each without its newline) to the log of one task, under `entry`: a key
    /// that sorts where the lines belong in the log. The same lines appended again under the
    /// same entry (a delivery that is retried) are there once.
    async fn append(
        &self,
        execution_id: i64,
        task_id: i64,
        entry: &str,
        lines: &[String],
    ) -> Result<(), LogError>;
    /// The whole log, in the order it was appended; empty when nothing was logged.
    async fn read(&self, execution_id: i64, task_id: i64) -> Result<String, LogError>;
    /// Removes every log of an execution.
    async fn delete_execution(&self, execution_id: i64) -> Result<(), LogError>;
}
