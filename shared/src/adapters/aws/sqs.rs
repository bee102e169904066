//! The SQS queues between the stages. Messages go out in batches of up to ten; entries SQS
//! refuses are retried, and what still fails is reported with SQS's reasons.

use async_trait::async_trait;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};

use crate::messages::{
    encode, InboundMessage, ListMessage, NotifyMessage, TransferMessage, Versioned,
};
use crate::ports::queue::{MessageQueue, QueueError, Redeliveries};

const MAX_BATCH: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;
const SEND_ATTEMPTS: usize = 3;

#[derive(Debug, Clone)]
pub struct QueueUrls {
    pub list: String,
    pub transfer: String,
    /// The notifier's queue; None: notifications are dropped (a deployment without one).
    pub notify: Option<String>,
}

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    urls: QueueUrls,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, urls: QueueUrls) -> Self {
        Self { client, urls }
    }

    async fn send<T: Versioned>(&self, queue: &str, messages: &[T]) -> Result<(), QueueError> {
        let bodies = messages
            .iter()
            .map(|m| {
                encode(m).map_err(|e| QueueError::Backend {
                    queue: queue.to_string(),
                    operation: "encode",
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for body in &bodies {
            if body.len() > MAX_BATCH_BYTES {
                return Err(QueueError::TooLarge {
                    queue: queue.to_string(),
                    size: body.len(),
                });
            }
        }
        // Batches of at most ten entries and 256 KiB in all.
        let mut batch: Vec<(String, &String)> = Vec::new();
        let mut batch_bytes = 0;
        for (index, body) in bodies.iter().enumerate() {
            if batch.len() == MAX_BATCH || batch_bytes + body.len() > MAX_BATCH_BYTES {
                self.send_batch(queue, std::mem::take(&mut batch)).await?;
                batch_bytes = 0;
            }
            batch_bytes += body.len();
            batch.push((index.to_string(), body));
        }
        if !batch.is_empty() {
            self.send_batch(queue, batch).await?;
        }
        Ok(())
    }

    async fn send_batch(
        &self,
        queue: &str,
        mut pending: Vec<(String, &String)>,
    ) -> Result<(), QueueError> {
        let total = pending.len();
        let mut reasons = Vec::new();
        for attempt in 0..SEND_ATTEMPTS {
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body.as_str())
                        .build()
                        .map_err(|e| QueueError::Backend {
                            queue: queue.to_string(),
                            operation: "SendMessageBatch",
                            message: e.to_string(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(queue)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Backend {
                    queue: queue.to_string(),
                    operation: "SendMessageBatch",
                    message: super::describe(&e),
                })?;
            let failed = out.failed();
            if failed.is_empty() {
                return Ok(());
            }
            reasons = failed
                .iter()
                .map(|f| format!("{} ({})", f.message().unwrap_or("refused"), f.code()))
                .collect();
            // Sender faults will not heal with a retry.
            if failed.iter().any(|f| f.sender_fault()) || attempt + 1 == SEND_ATTEMPTS {
                return Err(QueueError::Refused {
                    queue: queue.to_string(),
                    failed: failed.len(),
                    total,
                    reasons: reasons.join("; "),
                });
            }
            let failed_ids: Vec<&str> = failed.iter().map(|f| f.id()).collect();
            pending.retain(|(id, _)| failed_ids.contains(&id.as_str()));
            tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
        }
        Err(QueueError::Refused {
            queue: queue.to_string(),
            failed: pending.len(),
            total,
            reasons: reasons.join("; "),
        })
    }
}

#[async_trait]
impl MessageQueue for SqsQueue {
    async fn send_list(&self, messages: &[ListMessage]) -> Result<(), QueueError> {
        self.send(&self.urls.list, messages).await
    }

    async fn send_transfer(&self, messages: &[TransferMessage]) -> Result<(), QueueError> {
        self.send(&self.urls.transfer, messages).await
    }

    async fn send_notify(&self, messages: &[NotifyMessage]) -> Result<(), QueueError> {
        match &self.urls.notify {
            Some(url) => self.send(url, messages).await,
            None => Ok(()),
        }
    }

    async fn waiting(&self) -> Result<u64, QueueError> {
        let mut total = 0;
        for url in [&self.urls.list, &self.urls.transfer] {
            let answer = self
                .client
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
                .send()
                .await
                .map_err(|e| QueueError::Backend {
                    queue: url.to_string(),
                    operation: "GetQueueAttributes",
                    message: super::describe(&e),
                })?;
            total += answer
                .attributes()
                .into_iter()
                .flat_map(|attributes| attributes.values())
                .filter_map(|count| count.parse::<u64>().ok())
                .sum::<u64>();
        }
        Ok(total)
    }
}

/// The queue URL among `urls` whose name the ARN ends with (`arn:aws:sqs:region:account:name`).
fn url_of<'a>(urls: &'a QueueUrls, arn: &str) -> Option<&'a str> {
    let name = arn.rsplit(':').next()?;
    [urls.list.as_str(), urls.transfer.as_str()]
        .into_iter()
        .chain(urls.notify.as_deref())
        .find(|url| url.rsplit('/').next() == Some(name))
}

#[async_trait]
impl Redeliveries for SqsQueue {
    async fn redeliver_after(
        &self,
        message: &InboundMessage,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        // Only the stages' own queues: a dead-letter queue keeps its long timeout.
        let Some(receipt) = &message.receipt else {
            return Ok(());
        };
        let Some(url) = url_of(&self.urls, &receipt.queue_arn) else {
            return Ok(());
        };
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(&receipt.handle)
            .visibility_timeout(i32::try_from(delay.as_secs()).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| QueueError::Backend {
                queue: url.to_string(),
                operation: "ChangeMessageVisibility",
                message: super::describe(&e),
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_found_by_the_name_its_arn_ends_with() {
        let urls = QueueUrls {
            list: "http://127.0.0.1:4566/123456789012/ferry-list".into(),
            transfer: "http://127.0.0.1:4566/123456789012/ferry-transfer".into(),
            notify: Some("http://127.0.0.1:4566/123456789012/ferry-notify".into()),
        };
        let arn = |name: &str| format!("arn:aws:sqs:us-east-1:123456789012:{name}");
        assert_eq!(
            url_of(&urls, &arn("ferry-transfer")),
            Some(urls.transfer.as_str())
        );
        assert_eq!(url_of(&urls, &arn("ferry-list")), Some(urls.list.as_str()));
        assert_eq!(url_of(&urls, &arn("ferry-transfer-dlq")), None);
        assert_eq!(url_of(&urls, &arn("ferry-notify")), urls.notify.as_deref());
    }
}
