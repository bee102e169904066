//! The schedules that fire scheduled policies (EventBridge Scheduler in AWS).

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
#[error("schedule of policy {policy_id}: {message}")]
pub struct ScheduleError {
    pub policy_id: i64,
    pub message: String,
}

#[async_trait]
pub trait PolicySchedules: Send + Sync {
    /// Creates or changes the schedule of `policy_id`: `expression` in the scheduler's syntax,
    /// disabled (kept, not firing) when `enabled` is false.
    async fn put_schedule(
        &self,
        policy_id: i64,
        expression: &str,
        enabled: bool,
    ) -> Result<(), ScheduleError>;
    /// Deletes the schedule of `policy_id`; none there is not an error.
    async fn delete_schedule(&self, policy_id: i64) -> Result<(), ScheduleError>;
}
