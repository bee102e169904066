//! SQS event source mappings, as Lambda runs them: receive a batch, invoke the function with an
//! SQS event, delete what succeeded. With `ReportBatchItemFailures` the function's
//! `batchItemFailures` stay on the queue; a failed invocation leaves the whole batch. What stays
//! becomes visible again after the visibility timeout, and SQS's redrive policy moves a message
//! to its DLQ after `maxReceiveCount` receives.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use serde_json::{json, Value};

use crate::invoke::Invoker;
use crate::stack::{FunctionSpec, SqsSource};

pub async fn poll(
    sqs: aws_sdk_sqs::Client,
    invoker: Arc<dyn Invoker>,
    function: FunctionSpec,
    source: SqsSource,
    region: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let received = tokio::select! {
            r = sqs
                .receive_message()
                .queue_url(&source.queue_url)
                .max_number_of_messages(source.batch_size.clamp(1, 10))
                // Lambda's pollers long-poll for 20 s: an idle queue costs a receive every 20 s,
                // and a message arriving is answered at once. A stop does not wait for it.
                .wait_time_seconds(20)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send() => r,
            _ = stop.changed() => return,
        };
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(queue = %source.queue_logical_id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "receive failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_string(), json!(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": source.queue_arn,
                    "awsRegion": region,
                })
            })
            .collect();
        let event = json!({ "Records": records });
        let succeeded: Vec<&aws_sdk_sqs::types::Message> = match invoker
            .invoke(&function, event.to_string().into())
            .await
        {
            Ok(answer) if source.report_batch_item_failures => match failed_ids(&answer) {
                Some(failed) => messages
                    .iter()
                    .filter(|m| !failed.iter().any(|f| Some(f.as_str()) == m.message_id()))
                    .collect(),
                None => {
                    tracing::warn!(function = %function.binary, "unreadable batch response: the whole batch stays");
                    Vec::new()
                }
            },
            Ok(_) => messages.iter().collect(),
            Err(e) => {
                tracing::warn!(function = %function.binary, error = %e, "invocation failed: the whole batch stays");
                Vec::new()
            }
        };
        if succeeded.is_empty() {
            continue;
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = succeeded
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        if let Err(e) = sqs
            .delete_message_batch()
            .queue_url(&source.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            tracing::warn!(queue = %source.queue_logical_id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "delete failed");
        }
    }
}

/// The ids a partial batch response names; None when the answer is not one (Lambda then
/// treats the whole batch as failed).
fn failed_ids(answer: &[u8]) -> Option<Vec<String>> {
    let value: Value = serde_json::from_slice(answer).ok()?;
    if value.is_null() {
        return Some(Vec::new());
    }
    let failures = value.get("batchItemFailures")?;
    if failures.is_null() {
        return Some(Vec::new());
    }
    failures
        .as_array()?
        .iter()
        .map(|f| {
            f.get("itemIdentifier")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::failed_ids;

    #[test]
    fn reads_partial_batch_responses() {
        assert_eq!(
            failed_ids(br#"{"batchItemFailures":[{"itemIdentifier":"a"}]}"#),
            Some(vec!["a".to_string()])
        );
        assert_eq!(failed_ids(br#"{"batchItemFailures":[]}"#), Some(vec![]));
        assert_eq!(failed_ids(b"null"), Some(vec![]));
        assert_eq!(failed_ids(br#"{"batchItemFailures":[{"id":"a"}]}"#), None);
        assert_eq!(failed_ids(b"garbage"), None);
    }
}
