//! The `trigger` function, fired by EventBridge Scheduler:
//! - a policy's schedule sends `{"policy_id": N, "scheduled_time": "..."}`, and it starts an
//!   execution with trigger `scheduled`, once per firing however often it is delivered;
//! - the reaper's schedule sends `{"reap": true}`, and it looks at every execution still in
//!   progress so that none stays so forever (`ferry::replication::reaper`);
//! - the health monitor's schedule sends `{"health": true}`, and it checks every registry and
//!   records its status (`ferry::replication::health`);
//! - an EventBridge rule sends ECR's "ECR Image Action" events, and it starts the event-based
//!   policies whose source is that ECR registry (`ferry::replication::ecr_events`);
//! - the notify queue sends SQS batches of notify messages, and it delivers each to the webhook
//!   policies that want it and puts execution state changes on EventBridge
//!   (`ferry::replication::notify`).

use std::sync::Arc;

use ferry::model::TriggerType;
use ferry::replication::ecr_events::{start_for_ecr_event, EcrImageAction};
use ferry::replication::health::{HealthMonitor, HealthRound};
use ferry::replication::notify::NotifyWorker;
use ferry::replication::reaper::{Reaped, Reaper};
use ferry::replication::start::{start_execution, StartError, Started};
use ferry::wiring::Services;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(untagged)]
enum TriggerEvent {
    Ecr(EcrImageAction),
    Reap {
        reap: bool,
    },
    Health {
        health: bool,
    },
    Schedule {
        policy_id: i64,
        /// When the firing was due (the scheduler's `<aws.scheduler.scheduled-time>`).
        #[serde(default)]
        scheduled_time: Option<String>,
    },
    /// Last: it is what none of the others is.
    Notify(aws_lambda_events::event::sqs::SqsEvent),
}

#[derive(Serialize)]
#[serde(untagged)]
enum Outcome {
    Started {
        /// The execution started or recorded as skipped; none when the policy is disabled or
        /// the firing was handled before.
        execution_id: Option<i64>,
        status_text: String,
    },
    Reaped(Reaped),
    Health(HealthRound),
    Events {
        executions: Vec<i64>,
    },
    Batch(aws_lambda_events::event::sqs::SqsBatchResponse),
}

async fn scheduled(
    services: &Services,
    policy_id: i64,
    scheduled_time: Option<String>,
) -> Result<Outcome, Error> {
    let once = scheduled_time.map(|at| format!("schedule#{policy_id}#{at}"));
    let started = start_execution(
        services.store.as_ref(),
        services.queue.as_ref(),
        policy_id,
        TriggerType::Scheduled,
        once.as_deref(),
        None,
    )
    .await;
    let (execution_id, status_text) = match started {
        Ok(Started::Running(execution)) => (Some(execution.id), String::new()),
        Ok(Started::Skipped(execution)) => (Some(execution.id), execution.status_text),
        Ok(Started::Duplicate) => (None, "this firing was handled before".into()),
        Err(StartError::Disabled(_)) => (None, format!("policy {policy_id} is disabled")),
        Err(e) => return Err(Error::from(e)),
    };
    Ok(Outcome::Started {
        execution_id,
        status_text,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry::telemetry::init();
    let services = Arc::new(Services::from_env().await?);
    let reaper = Arc::new(services.reaper()?);
    let notifier = Arc::new(services.notify_worker()?);
    let monitor = Arc::new(services.health_monitor()?);
    run(service_fn(move |event: LambdaEvent<TriggerEvent>| {
        let (services, reaper): (Arc<Services>, Arc<Reaper>) =
            (Arc::clone(&services), Arc::clone(&reaper));
        let notifier: Arc<NotifyWorker> = Arc::clone(&notifier);
        let monitor: Arc<HealthMonitor> = Arc::clone(&monitor);
        async move {
            // The invocation's id correlates what this start sets off.
            let correlation = Some(event.context.request_id.clone());
            let outcome = ferry::telemetry::correlated(correlation, async move {
                match event.payload {
                    TriggerEvent::Notify(batch) => Ok(Outcome::Batch(
                        ferry_lambda::handle_batch(
                            batch,
                            None,
                            Some(services.queue.as_ref()),
                            |message| {
                                let notifier = Arc::clone(&notifier);
                                async move { notifier.handle(&message).await }
                            },
                        )
                        .await,
                    )),
                    TriggerEvent::Ecr(action) => Ok(Outcome::Events {
                        executions: start_for_ecr_event(
                            services.store.as_ref(),
                            services.queue.as_ref(),
                            &action,
                        )
                        .await?,
                    }),
                    TriggerEvent::Reap { reap: true } => Ok(Outcome::Reaped(reaper.reap().await?)),
                    TriggerEvent::Reap { reap: false } => Err(Error::from(
                        "{\"reap\": false} asks for nothing; send {\"reap\": true}",
                    )),
                    TriggerEvent::Health { health: true } => {
                        Ok(Outcome::Health(monitor.check_all().await?))
                    }
                    TriggerEvent::Health { health: false } => Err(Error::from(
                        "{\"health\": false} asks for nothing; send {\"health\": true}",
                    )),
                    TriggerEvent::Schedule {
                        policy_id,
                        scheduled_time,
                    } => scheduled(&services, policy_id, scheduled_time).await,
                }
            })
            .await;
            ferry::telemetry::metrics::flush();
            outcome
        }
    }))
    .await
}
