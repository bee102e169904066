//! Policy schedules as EventBridge Scheduler schedules, one per scheduled policy, named
//! `policy-<id>` in Ferry's group, each invoking the trigger function with the policy's id and
//! the time it was due (so a firing delivered twice starts one execution).

use async_trait::async_trait;
use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target};

use crate::ports::schedules::{PolicySchedules, ScheduleError};

pub struct EventBridgeSchedules {
    pub client: aws_sdk_scheduler::Client,
    pub group: String,
    /// The role the scheduler assumes to invoke the trigger.
    pub role_arn: String,
    pub trigger_arn: String,
}

pub fn schedule_name(policy_id: i64) -> String {
    format!("policy-{policy_id}")
}

/// What the trigger receives; the scheduler fills in the time the firing was due.
pub fn schedule_input(policy_id: i64) -> String {
    serde_json::json!({
        "policy_id": policy_id,
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    })
    .to_string()
}

impl EventBridgeSchedules {
    fn error(policy_id: i64, e: impl std::error::Error) -> ScheduleError {
        ScheduleError {
            policy_id,
            message: super::describe(&e),
        }
    }
}

#[async_trait]
impl PolicySchedules for EventBridgeSchedules {
    async fn put_schedule(
        &self,
        policy_id: i64,
        expression: &str,
        enabled: bool,
    ) -> Result<(), ScheduleError> {
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| Self::error(policy_id, e))?;
        let target = Target::builder()
            .arn(&self.trigger_arn)
            .role_arn(&self.role_arn)
            .input(schedule_input(policy_id))
            .build()
            .map_err(|e| Self::error(policy_id, e))?;
        let state = if enabled {
            ScheduleState::Enabled
        } else {
            ScheduleState::Disabled
        };
        let name = schedule_name(policy_id);
        let exists = match self
            .client
            .get_schedule()
            .group_name(&self.group)
            .name(&name)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                false
            }
            Err(e) => return Err(Self::error(policy_id, e)),
        };
        // Create and update take the same fields through two builders.
        macro_rules! with_fields {
            ($builder:expr) => {
                $builder
                    .group_name(&self.group)
                    .name(&name)
                    .schedule_expression(expression)
                    .schedule_expression_timezone("UTC")
                    .flexible_time_window(window)
                    .target(target)
                    .state(state)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Self::error(policy_id, e))
            };
        }
        if exists {
            with_fields!(self.client.update_schedule())
        } else {
            with_fields!(self.client.create_schedule())
        }
    }

    async fn delete_schedule(&self, policy_id: i64) -> Result<(), ScheduleError> {
        match self
            .client
            .delete_schedule()
            .group_name(&self.group)
            .name(schedule_name(policy_id))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(Self::error(policy_id, e)),
        }
    }
}
