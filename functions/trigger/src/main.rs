//! The `trigger` function: a policy's EventBridge schedule fires it with `{"policy_id": N}`,
//! and it starts an execution with trigger `scheduled`.

use std::sync::Arc;

use ferry::config::Services;
use ferry::model::TriggerType;
use ferry::replication::start::{start_execution, StartError};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct ScheduleEvent {
    policy_id: i64,
}

#[derive(Serialize)]
struct Started {
    /// The execution started, or none when the policy is disabled.
    execution_id: Option<i64>,
    status_text: String,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry::telemetry::init();
    let services = Arc::new(Services::from_env(&ferry::aws::load_config().await)?);
    run(service_fn(move |event: LambdaEvent<ScheduleEvent>| {
        let services = Arc::clone(&services);
        async move {
            let policy_id = event.payload.policy_id;
            match start_execution(
                services.store.as_ref(),
                services.queue.as_ref(),
                policy_id,
                TriggerType::Scheduled,
            )
            .await
            {
                Ok(execution) => Ok::<_, Error>(Started {
                    execution_id: Some(execution.id),
                    status_text: String::new(),
                }),
                Err(StartError::Disabled(_)) => Ok(Started {
                    execution_id: None,
                    status_text: format!("policy {policy_id} is disabled"),
                }),
                Err(e) => Err(e.into()),
            }
        }
    }))
    .await
}
