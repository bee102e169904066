//! What the SQS-driven functions share: SQS records to the library's messages, and the
//! library's results to a partial batch response, so only failed messages are delivered again,
//! and soon: a message to deliver again is made visible after a short, growing delay rather
//! than the queue's whole visibility timeout.

use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use ferry::messages::{redelivery_delay, InboundMessage, Receipt};
use ferry::ports::Redeliveries;
use ferry::replication::HandleError;

/// The messages of an SQS event. A record without an id cannot be reported or retried
/// individually, so it is dropped with a warning (SQS always sets one).
pub fn inbound(event: SqsEvent, dead_letters: Option<&str>) -> Vec<InboundMessage> {
    event
        .records
        .into_iter()
        .filter_map(|record| {
            let Some(message_id) = record.message_id else {
                tracing::warn!("SQS record without a message id");
                return None;
            };
            let receive_count = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            queue_age(&record.attributes);
            let from_dead_letters =
                dead_letters.is_some_and(|arn| record.event_source_arn.as_deref() == Some(arn));
            let receipt = match (record.event_source_arn, record.receipt_handle) {
                (Some(queue_arn), Some(handle)) => Some(Receipt { queue_arn, handle }),
                _ => None,
            };
            Some(InboundMessage {
                from_dead_letters,
                message_id,
                body: record.body.unwrap_or_default(),
                receive_count,
                receipt,
            })
        })
        .collect()
}

/// How long a message waited in its queue (SQS's `SentTimestamp`, epoch milliseconds), in the
/// metrics by function.
fn queue_age(attributes: &std::collections::HashMap<String, String>) {
    use ferry::telemetry::metrics::{self, On};
    let Some(sent_ms) = attributes
        .get("SentTimestamp")
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return;
    };
    let waited_ms = (ferry::model::time_format::now_millis() - sent_ms).max(0);
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    metrics::observe(metrics::QUEUE_AGE, On::Function(function), waited_ms as f64);
}

/// Handles every message of a batch concurrently and reports the ones to deliver again, each
/// made visible again after its delay (a message that cannot be read keeps the queue's).
pub async fn handle_batch<F, Fut>(
    event: SqsEvent,
    dead_letters: Option<&str>,
    redeliveries: Option<&dyn Redeliveries>,
    handler: F,
) -> SqsBatchResponse
where
    F: Fn(InboundMessage) -> Fut,
    Fut: Future<Output = Result<(), HandleError>>,
{
    let messages = inbound(event, dead_letters);
    let results = futures::future::join_all(messages.iter().cloned().map(handler)).await;
    let mut response = SqsBatchResponse::default();
    for (message, result) in messages.iter().zip(results) {
        let Err(error) = result else {
            continue;
        };
        let delay = redelivery_delay(message.receive_count);
        tracing::warn!(message_id = %message.message_id, error = %error, ?delay, "message will be delivered again");
        if let (HandleError::Retry(_), Some(redeliveries)) = (&error, redeliveries) {
            if let Err(e) = redeliveries.redeliver_after(message, delay).await {
                tracing::warn!(message_id = %message.message_id, error = %e, "redelivery not brought forward");
            }
        }
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = message.message_id.clone();
        response.batch_item_failures.push(failure);
    }
    ferry::telemetry::metrics::flush();
    response
}

/// When the invocation ends, as an `Instant` (the context gives epoch milliseconds). None when
/// the runtime gives no deadline in the future: Lambda always does, but a local runtime may not
/// (`cargo lambda watch` sends a fixed 600000, 1970), and taken as given it would leave every
/// invocation out of time before it began.
pub fn deadline(context: &lambda_runtime::Context) -> Option<std::time::Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let left = context
        .deadline
        .checked_sub(now_ms)
        .filter(|left| *left > 0);
    if left.is_none() {
        tracing::warn!(
            deadline_ms = context.deadline,
            "the runtime's deadline is not in the future: running without one"
        );
    }
    left.map(|left| std::time::Instant::now() + std::time::Duration::from_millis(left))
}

/// The function's own dead-letter queue, when it consumes it too (the template sets it).
pub const DEAD_LETTER_QUEUE_ARN: &str = "FERRY_DEAD_LETTER_QUEUE_ARN";

/// Runs an SQS-driven function: each invocation's messages go to `handler` (with the
/// invocation's deadline) concurrently, and the ones it fails are reported for redelivery,
/// brought forward through `redeliveries`. Messages from the queue named by
/// `FERRY_DEAD_LETTER_QUEUE_ARN` are marked as such.
pub async fn serve_sqs<F>(
    redeliveries: Arc<dyn Redeliveries>,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    F: Fn(
            InboundMessage,
            Option<std::time::Instant>,
        ) -> futures::future::LocalBoxFuture<'static, Result<(), HandleError>>
        + Clone
        + 'static,
{
    let dead_letters = std::env::var(DEAD_LETTER_QUEUE_ARN)
        .ok()
        .filter(|arn| !arn.is_empty());
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let handler = handler.clone();
            let deadline = deadline(&event.context);
            let dead_letters = dead_letters.clone();
            let redeliveries = Arc::clone(&redeliveries);
            async move {
                Ok::<SqsBatchResponse, lambda_runtime::Error>(
                    handle_batch(
                        event.payload,
                        dead_letters.as_deref(),
                        Some(redeliveries.as_ref()),
                        |message| handler(message, deadline),
                    )
                    .await,
                )
            }
        },
    ))
    .await
}
