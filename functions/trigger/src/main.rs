//! The `trigger` function: a policy's EventBridge schedule fires it with
//! `{"policy_id": N, "scheduled_time": "..."}`, and it starts an execution with trigger
//! `scheduled`, once per firing however often the scheduler delivers it.

use std::sync::Arc;

use ferry::model::TriggerType;
use ferry::replication::start::{start_execution, StartError, Started};
use ferry::wiring::Services;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct ScheduleEvent {
    policy_id: i64,
    /// When the firing was due (the scheduler's `<aws.scheduler.scheduled-time>`).
    #[serde(default)]
    scheduled_time: Option<String>,
}

#[derive(Serialize)]
struct Outcome {
    /// The execution started or recorded as skipped; none when the policy is disabled or the
    /// firing was handled before.
    execution_id: Option<i64>,
    status_text: String,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry::telemetry::init();
    let services = Arc::new(Services::from_env().await?);
    run(service_fn(move |event: LambdaEvent<ScheduleEvent>| {
        let services = Arc::clone(&services);
        async move {
            let ScheduleEvent {
                policy_id,
                scheduled_time,
            } = event.payload;
            let once = scheduled_time.map(|at| format!("schedule#{policy_id}#{at}"));
            let outcome = match start_execution(
                services.store.as_ref(),
                services.queue.as_ref(),
                policy_id,
                TriggerType::Scheduled,
                once.as_deref(),
                None,
            )
            .await
            {
                Ok(Started::Running(execution)) => Outcome {
                    execution_id: Some(execution.id),
                    status_text: String::new(),
                },
                Ok(Started::Skipped(execution)) => Outcome {
                    execution_id: Some(execution.id),
                    status_text: execution.status_text,
                },
                Ok(Started::Duplicate) => Outcome {
                    execution_id: None,
                    status_text: "this firing was handled before".into(),
                },
                Err(StartError::Disabled(_)) => Outcome {
                    execution_id: None,
                    status_text: format!("policy {policy_id} is disabled"),
                },
                Err(e) => return Err(Error::from(e)),
            };
            Ok::<_, Error>(outcome)
        }
    }))
    .await
}
