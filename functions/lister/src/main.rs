//! The `lister` function: list messages from SQS to the list stage.

use std::sync::Arc;

use ferry::config::{parsed_or, Services, LIST_MAX_RECEIVES};
use ferry::replication::list::ListWorker;
use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry::telemetry::init();
    let services = Services::from_env(&ferry::aws::load_config().await)?;
    let worker = Arc::new(ListWorker {
        store: services.store,
        queue: services.queue,
        connect: ferry::config::registry_connector(6)?,
        namespaces: ferry::config::namespaces_connector(),
        page_size: parsed_or("FERRY_LIST_PAGE_SIZE", 100)?,
        max_receives: parsed_or(LIST_MAX_RECEIVES, 5)?,
        logs: services.logs,
        keep_executions: parsed_or(
            "FERRY_KEEP_EXECUTIONS",
            ferry::replication::sweep::DEFAULT_KEEP,
        )?,
    });
    ferry_lambda::serve_sqs(move |message, _deadline| {
        let worker = Arc::clone(&worker);
        Box::pin(async move { worker.handle(&message).await })
    })
    .await
}
