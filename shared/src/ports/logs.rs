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

/// The end of a task's log, and how long the whole log is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTail {
    pub text: String,
    pub total_bytes: u64,
    pub truncated: bool,
}

impl LogTail {
    /// A whole log, cut to its last `max_bytes` (from the first whole line) when longer.
    pub fn of(whole: Vec<u8>, max_bytes: usize) -> Self {
        let total = whole.len() as u64;
        match whole
            .len()
            .checked_sub(max_bytes)
            .filter(|start| *start > 0)
        {
            Some(start) => Self::cut(whole[start..].to_vec(), total, true),
            None => Self::cut(whole, total, false),
        }
    }

    /// The end of a log of `total_bytes`; `mid_line` when it may start inside a line, which
    /// is then dropped.
    pub fn cut(tail: Vec<u8>, total_bytes: u64, mid_line: bool) -> Self {
        let from = if mid_line {
            tail.iter()
                .position(|b| *b == b'\n')
                .map_or(0, |newline| newline + 1)
        } else {
            0
        };
        Self {
            text: String::from_utf8_lossy(&tail[from..]).into_owned(),
            total_bytes,
            truncated: (tail.len() as u64) < total_bytes,
        }
    }
}

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
    /// The last `max_bytes` of the log at most, starting on a whole line when it is cut, and
    /// the size of the whole log. A store that can read parts overrides this to read only
    /// the tail.
    async fn read_tail(
        &self,
        execution_id: i64,
        task_id: i64,
        max_bytes: usize,
    ) -> Result<LogTail, LogError> {
        let whole = self.read(execution_id, task_id).await?;
        Ok(LogTail::of(whole.into_bytes(), max_bytes))
    }
    /// Removes every log of an execution.
    async fn delete_execution(&self, execution_id: i64) -> Result<(), LogError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_log_is_cut_to_its_tail_from_a_whole_line() {
        let log = b"first line\nsecond line\nthird\n".to_vec();
        let whole = LogTail::of(log.clone(), 100);
        assert!(!whole.truncated);
        assert_eq!(whole.total_bytes, 29);
        assert_eq!(whole.text.len(), 29);
        let tail = LogTail::of(log, 15);
        assert!(tail.truncated);
        assert_eq!(tail.text, "third\n");
        // The end of a longer log read from a line's start keeps its first line.
        let read = LogTail::cut(b"second line\nthird\n".to_vec(), 1000, false);
        assert!(read.truncated);
        assert_eq!(read.total_bytes, 1000);
        assert_eq!(read.text, "second line\nthird\n");
    }
}
