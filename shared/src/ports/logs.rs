//! Task logs: lines appended while a task runs, read back whole.

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
    /// Appends lines (each without its newline) to the log of one task.
    async fn append(
        &self,
        execution_id: i64,
        task_id: i64,
        lines: &[String],
    ) -> Result<(), LogError>;
    /// The whole log, in the order it was appended; empty when nothing was logged.
    async fn read(&self, execution_id: i64, task_id: i64) -> Result<String, LogError>;
    /// Removes every log of an execution.
    async fn delete_execution(&self, execution_id: i64) -> Result<(), LogError>;
}
