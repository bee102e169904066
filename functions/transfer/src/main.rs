//! The `transfer` function: transfer messages from SQS, one artifact each.

use std::sync::Arc;

use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry::telemetry::init();
    let services = ferry::wiring::Services::from_env().await?;
    let worker = Arc::new(services.transfer_worker()?);
    ferry_lambda::serve_sqs(services.queue, move |message, deadline| {
        let worker = Arc::clone(&worker);
        Box::pin(async move { worker.handle(&message, deadline).await })
    })
    .await
}
