//! Notifications' boundaries: the webhook policies and their delivery log (the store), the
//! HTTP sender that posts a payload to a receiver, and the event bus.

use async_trait::async_trait;

use super::store::StoreError;
use crate::model::notification::{ExecutionStateChange, WebhookDelivery, WebhookPolicy};
use crate::model::ValidationError;

/// A change applied to a webhook policy read from the store (auth headers in clear), before
/// it is written back.
pub type WebhookPolicyChange<'c> =
    dyn for<'a> Fn(&'a mut WebhookPolicy) -> Result<(), ValidationError> + Send + Sync + 'c;

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new policy (validated by the caller), allocating its id; the name must be
    /// unused. Auth headers are encrypted before they are written. Returns it masked.
    async fn create_webhook_policy(
        &self,
        policy: &WebhookPolicy,
    ) -> Result<WebhookPolicy, StoreError>;
    /// The policy with its auth headers masked.
    async fn get_webhook_policy(&self, id: i64) -> Result<WebhookPolicy, StoreError>;
    /// Read (headers in clear), change, write back conditionally on the version read.
    async fn update_webhook_policy(
        &self,
        id: i64,
        change: &WebhookPolicyChange<'_>,
    ) -> Result<WebhookPolicy, StoreError>;
    async fn delete_webhook_policy(&self, id: i64) -> Result<(), StoreError>;
    /// Every policy in id order, masked.
    async fn list_webhook_policies(&self) -> Result<Vec<WebhookPolicy>, StoreError>;
    /// Every policy with its auth headers decrypted, for the notifier.
    async fn webhook_policies_with_secrets(&self) -> Result<Vec<WebhookPolicy>, StoreError>;
    /// Records a delivery, allocating its id.
    async fn record_delivery(
        &self,
        delivery: &WebhookDelivery,
    ) -> Result<WebhookDelivery, StoreError>;
    /// A policy's deliveries, newest first.
    async fn list_deliveries(&self, policy_id: i64) -> Result<Vec<WebhookDelivery>, StoreError>;
}

/// One POST of a payload to a receiver.
#[derive(Debug, Clone)]
pub struct WebhookRequest<'a> {
    pub address: &'a str,
    /// Sent as `Authorization` when set.
    pub auth_header: Option<&'a str>,
    pub skip_cert_verify: bool,
    pub body: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Ferry does not send there (the egress address policy): trying again will not help.
    #[error("refused: {0}")]
    Refused(String),
    /// Not sent, or no answer in time.
    #[error("{0}")]
    Failed(String),
}

#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// Posts the body as JSON; the receiver's HTTP status, whatever it is.
    async fn post(&self, request: &WebhookRequest<'_>) -> Result<u16, SendError>;
}

#[derive(Debug, thiserror::Error)]
#[error("eventbridge {operation}: {message}")]
pub struct EventBusError {
    pub operation: &'static str,
    pub message: String,
}

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Puts one execution state change on the bus.
    async fn put_state_change(&self, detail: &ExecutionStateChange) -> Result<(), EventBusError>;
}
