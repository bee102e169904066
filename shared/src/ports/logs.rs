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

use crate::model::Task;

/// An entry's text: its lines, each ending in a newline.
pub fn entry_text(lines: &[String]) -> String {
    let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// A task's whole log: what the log store holds, then the entry kept with the task (its
/// last: the delivery that ended it).
pub async fn task_log(logs: &dyn TaskLogSink, task: &Task) -> Result<String, LogError> {
    let mut text = logs.read(task.execution_id, task.id).await?;
    if let Some(kept) = &task.log {
        text.push_str(&kept.text);
    }
    Ok(text)
}

/// The last `max_bytes` of a task's whole log (see `task_log`), and its size.
pub async fn task_log_tail(
    logs: &dyn TaskLogSink,
    task: &Task,
    max_bytes: usize,
) -> Result<LogTail, LogError> {
    let kept = task.log.as_ref().map_or("", |l| l.text.as_str());
    if kept.len() >= max_bytes {
        let stored = logs.read_tail(task.execution_id, task.id, 0).await?;
        let mut tail = LogTail::of(kept.as_bytes().to_vec(), max_bytes);
        tail.total_bytes += stored.total_bytes;
        tail.truncated |= stored.total_bytes > 0;
        return Ok(tail);
    }
    let mut tail = logs
        .read_tail(task.execution_id, task.id, max_bytes - kept.len())
        .await?;
    tail.text.push_str(kept);
    tail.total_bytes += kept.len() as u64;
    Ok(tail)
}

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

    #[tokio::test]
    async fn a_task_s_log_is_the_log_store_s_entries_then_the_one_kept_with_it() {
        use crate::ports::fakes::MemoryLogs;
        use crate::ports::store::NewTask;
        let logs = MemoryLogs::default();
        let mut task = NewTask {
            operation: crate::model::Operation::Copy,
            resource_type: crate::model::ResourceType::IMAGE,
            src_resource: "app:1".into(),
            dst_resource: "app:1".into(),
            resource: None,
        }
        .pending(1, 2);
        logs.append(1, 2, &log_entry(0, 1), &["attempt 1 failed".into()])
            .await
            .expect("append");
        task.log = Some(crate::model::InlineLog {
            entry: log_entry(0, 2),
            text: entry_text(&["attempt 2".into(), "done".into()]),
        });
        let whole = task_log(&logs, &task).await.expect("read");
        assert_eq!(whole, "attempt 1 failed\nattempt 2\ndone\n");
        let tail = task_log_tail(&logs, &task, 1000).await.expect("tail");
        assert_eq!((tail.text.as_str(), tail.total_bytes), (whole.as_str(), 32));
        let cut = task_log_tail(&logs, &task, 16).await.expect("tail");
        assert_eq!(cut.text, "attempt 2\ndone\n");
        assert!(cut.truncated);
        assert_eq!(cut.total_bytes, 32);
    }
}
