//! The `transfer` function: transfer messages from SQS, one artifact each.

use std::sync::Arc;
use std::time::Duration;

use ferry::config::{parsed_or, Services, TRANSFER_MAX_RECEIVES};
use ferry::ports::registry::BlobLocations;
use ferry::registry::pool::{CachedLocations, RegistryPool};
use ferry::replication::transfer::TransferWorker;
use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry::telemetry::init();
    let services = Services::from_env(&ferry::aws::load_config().await)?;
    let budget: u64 = parsed_or("FERRY_TRANSFER_TIME_BUDGET_MS", 0)?;
    let worker = Arc::new(TransferWorker {
        locations: Arc::new(CachedLocations::new(Some(
            Arc::clone(&services.store) as Arc<dyn BlobLocations>
        ))),
        registries: RegistryPool::new(
            ferry::config::registry_connector(6)?,
            parsed_or("FERRY_REGISTRY_MAX_BLOBS", 8)?,
        ),
        store: services.store,
        queue: services.queue,
        logs: services.logs,
        max_receives: parsed_or(TRANSFER_MAX_RECEIVES, 5)?,
        keep_executions: parsed_or(
            "FERRY_KEEP_EXECUTIONS",
            ferry::replication::sweep::DEFAULT_KEEP,
        )?,
        deadline_margin: Duration::from_secs(parsed_or("FERRY_TRANSFER_DEADLINE_MARGIN_SECS", 30)?),
        time_budget: (budget > 0).then(|| Duration::from_millis(budget)),
    });
    ferry_lambda::serve_sqs(move |message, deadline| {
        let worker = Arc::clone(&worker);
        Box::pin(async move { worker.handle(&message, Some(deadline)).await })
    })
    .await
}
