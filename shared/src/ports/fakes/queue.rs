//! The queues, task logs and schedules in memory: what was sent, appended or scheduled, for
//! tests to read back.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, Faults};
use crate::messages::{ListMessage, NotifyMessage, TransferMessage};
use crate::ports::logs::{LogError, TaskLogSink};
use crate::ports::queue::{MessageQueue, QueueError};
use crate::ports::schedules::{PolicySchedules, ScheduleError};

#[derive(Default)]
pub struct MemoryQueue {
    list: Mutex<Vec<ListMessage>>,
    transfer: Mutex<Vec<TransferMessage>>,
    notify: Mutex<Vec<NotifyMessage>>,
    pub faults: Faults,
}

impl MemoryQueue {
    /// The list messages sent since the last call.
    pub fn take_list(&self) -> Vec<ListMessage> {
        std::mem::take(&mut *lock(&self.list))
    }

    /// The transfer messages sent since the last call.
    pub fn take_transfer(&self) -> Vec<TransferMessage> {
        std::mem::take(&mut *lock(&self.transfer))
    }

    /// The notify messages sent since the last call.
    pub fn take_notify(&self) -> Vec<NotifyMessage> {
        std::mem::take(&mut *lock(&self.notify))
    }

    fn check(&self, operation: &'static str, queue: &str) -> Result<(), QueueError> {
        match self.faults.take(operation) {
            None => Ok(()),
            Some(_) => Err(QueueError::Backend {
                queue: queue.into(),
                operation,
                message: "injected failure".into(),
            }),
        }
    }
}

#[async_trait]
impl MessageQueue for MemoryQueue {
    async fn send_list(&self, messages: &[ListMessage]) -> Result<(), QueueError> {
        self.check("send_list", "list")?;
        lock(&self.list).extend_from_slice(messages);
        Ok(())
    }

    async fn send_transfer(&self, messages: &[TransferMessage]) -> Result<(), QueueError> {
        self.check("send_transfer", "transfer")?;
        lock(&self.transfer).extend_from_slice(messages);
        Ok(())
    }

    async fn send_notify(&self, messages: &[NotifyMessage]) -> Result<(), QueueError> {
        self.check("send_notify", "notify")?;
        lock(&self.notify).extend_from_slice(messages);
        Ok(())
    }

    async fn waiting(&self) -> Result<u64, QueueError> {
        self.check("waiting", "list")?;
        Ok((lock(&self.list).len() + lock(&self.transfer).len()) as u64)
    }
}

/// One task's log: its entries in order, each with its lines; the same append twice is there
/// once.
type TaskLog = std::collections::BTreeSet<(String, Vec<String>)>;

#[derive(Default)]
pub struct MemoryLogs {
    /// Each task's log, by execution and task.
    entries: Mutex<HashMap<(i64, i64), TaskLog>>,
    pub faults: Faults,
}

#[async_trait]
impl TaskLogSink for MemoryLogs {
    async fn append(
        &self,
        execution_id: i64,
        task_id: i64,
        entry: &str,
        lines: &[String],
    ) -> Result<(), LogError> {
        if self.faults.take("append").is_some() {
            return Err(LogError::Backend {
                key: format!("{execution_id}/{task_id}"),
                operation: "append",
                message: "injected failure".into(),
            });
        }
        if !lines.is_empty() {
            lock(&self.entries)
                .entry((execution_id, task_id))
                .or_default()
                .insert((entry.to_string(), lines.to_vec()));
        }
        Ok(())
    }

    async fn read(&self, execution_id: i64, task_id: i64) -> Result<String, LogError> {
        Ok(lock(&self.entries)
            .get(&(execution_id, task_id))
            .map(|entries| {
                entries
                    .iter()
                    .flat_map(|(_, lines)| lines.iter().map(|l| format!("{l}\n")))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn delete_execution(&self, execution_id: i64) -> Result<(), LogError> {
        lock(&self.entries).retain(|(execution, _), _| *execution != execution_id);
        Ok(())
    }
}

#[derive(Default)]
pub struct MemorySchedules {
    /// Policy id -> expression and whether it fires.
    schedules: Mutex<HashMap<i64, (String, bool)>>,
    pub faults: Faults,
}

impl MemorySchedules {
    pub fn of(&self, policy_id: i64) -> Option<(String, bool)> {
        lock(&self.schedules).get(&policy_id).cloned()
    }

    fn check(&self, operation: &'static str, policy_id: i64) -> Result<(), ScheduleError> {
        match self.faults.take(operation) {
            None => Ok(()),
            Some(_) => Err(ScheduleError {
                policy_id,
                message: format!("{operation}: injected failure"),
            }),
        }
    }
}

#[async_trait]
impl PolicySchedules for MemorySchedules {
    async fn put_schedule(
        &self,
        policy_id: i64,
        expression: &str,
        enabled: bool,
    ) -> Result<(), ScheduleError> {
        self.check("put_schedule", policy_id)?;
        lock(&self.schedules).insert(policy_id, (expression.to_string(), enabled));
        Ok(())
    }

    async fn delete_schedule(&self, policy_id: i64) -> Result<(), ScheduleError> {
        self.check("delete_schedule", policy_id)?;
        lock(&self.schedules).remove(&policy_id);
        Ok(())
    }
}
