//! The `lister` function: list messages from SQS to the list stage.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use ferry::config::{parsed_or, Services, LIST_MAX_RECEIVES};
use ferry::replication::list::ListWorker;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry::telemetry::init();
    let services = Services::from_env(&ferry::aws::load_config().await)?;
    let worker = Arc::new(ListWorker {
        store: services.store,
        queue: services.queue,
        connect: ferry::config::registry_connector(6)?,
        page_size: parsed_or("FERRY_LIST_PAGE_SIZE", 100)?,
        max_receives: parsed_or(LIST_MAX_RECEIVES, 5)?,
    });
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = Arc::clone(&worker);
        async move {
            Ok::<SqsBatchResponse, Error>(
                ferry_lambda::handle_batch(event.payload, |message| {
                    let worker = Arc::clone(&worker);
                    async move { (message.message_id.clone(), worker.handle(&message).await) }
                })
                .await,
            )
        }
    }))
    .await
}
