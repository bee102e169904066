//! The `lister` function: list messages from SQS to the list stage.

use std::sync::Arc;

use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry::telemetry::init();
    let worker = Arc::new(ferry::wiring::Services::from_env().await?.list_worker()?);
    ferry_lambda::serve_sqs(move |message, _deadline| {
        let worker = Arc::clone(&worker);
        Box::pin(async move { worker.handle(&message).await })
    })
    .await
}
