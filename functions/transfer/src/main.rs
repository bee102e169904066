//! The `transfer` function: transfer messages from SQS, one artifact each.

use std::sync::Arc;

use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry::telemetry::init();
    let worker = Arc::new(
        ferry::wiring::Services::from_env()
            .await?
            .transfer_worker()?,
    );
    ferry_lambda::serve_sqs(move |message, deadline| {
        let worker = Arc::clone(&worker);
        Box::pin(async move { worker.handle(&message, Some(deadline)).await })
    })
    .await
}
