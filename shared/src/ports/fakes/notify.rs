//! Webhook policies, a webhook receiver and the event bus in memory.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::model::notification::{ExecutionStateChange, WebhookDelivery, WebhookPolicy};
use crate::ports::notify::{
    EventBus, EventBusError, SendError, WebhookPolicyChange, WebhookRequest, WebhookSender,
    WebhookStore,
};
use crate::ports::store::StoreError;

#[derive(Default)]
pub struct MemoryWebhooks {
    policies: Mutex<Vec<WebhookPolicy>>,
    deliveries: Mutex<Vec<WebhookDelivery>>,
}

fn not_found(id: i64) -> StoreError {
    StoreError::NotFound {
        entity: "webhook policy",
        id,
    }
}

#[async_trait]
impl WebhookStore for MemoryWebhooks {
    async fn create_webhook_policy(
        &self,
        policy: &WebhookPolicy,
    ) -> Result<WebhookPolicy, StoreError> {
        let mut policies = lock(&self.policies);
        if policies.iter().any(|p| p.name == policy.name) {
            return Err(StoreError::DuplicateName {
                entity: "webhook policy",
                name: policy.name.clone(),
            });
        }
        let mut stored = policy.clone();
        stored.id = policies.iter().map(|p| p.id).max().unwrap_or(0) + 1;
        policies.push(stored.clone());
        Ok(stored.masked())
    }

    async fn get_webhook_policy(&self, id: i64) -> Result<WebhookPolicy, StoreError> {
        lock(&self.policies)
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .map(WebhookPolicy::masked)
            .ok_or_else(|| not_found(id))
    }

    async fn update_webhook_policy(
        &self,
        id: i64,
        change: &WebhookPolicyChange<'_>,
    ) -> Result<WebhookPolicy, StoreError> {
        let mut policies = lock(&self.policies);
        let index = policies
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| not_found(id))?;
        let mut policy = policies[index].clone();
        change(&mut policy)?;
        policy.id = id;
        if policies.iter().any(|p| p.id != id && p.name == policy.name) {
            return Err(StoreError::DuplicateName {
                entity: "webhook policy",
                name: policy.name,
            });
        }
        policies[index] = policy.clone();
        Ok(policy.masked())
    }

    async fn delete_webhook_policy(&self, id: i64) -> Result<(), StoreError> {
        let mut policies = lock(&self.policies);
        let before = policies.len();
        policies.retain(|p| p.id != id);
        if policies.len() == before {
            return Err(not_found(id));
        }
        Ok(())
    }

    async fn list_webhook_policies(&self) -> Result<Vec<WebhookPolicy>, StoreError> {
        Ok(lock(&self.policies)
            .iter()
            .cloned()
            .map(WebhookPolicy::masked)
            .collect())
    }

    async fn webhook_policies_with_secrets(&self) -> Result<Vec<WebhookPolicy>, StoreError> {
        Ok(lock(&self.policies).clone())
    }

    async fn record_delivery(
        &self,
        delivery: &WebhookDelivery,
    ) -> Result<WebhookDelivery, StoreError> {
        let mut deliveries = lock(&self.deliveries);
        let mut stored = delivery.clone();
        stored.id = deliveries.len() as i64 + 1;
        deliveries.push(stored.clone());
        Ok(stored)
    }

    async fn list_deliveries(&self, policy_id: i64) -> Result<Vec<WebhookDelivery>, StoreError> {
        Ok(lock(&self.deliveries)
            .iter()
            .rev()
            .filter(|d| d.policy_id == policy_id)
            .cloned()
            .collect())
    }
}

/// One POST a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub address: String,
    pub auth_header: Option<String>,
    pub body: serde_json::Value,
}

/// Answers each POST with the next scripted status (200 when none is left).
#[derive(Default)]
pub struct RecordingSender {
    pub received: Mutex<Vec<Received>>,
    pub answers: Mutex<VecDeque<u16>>,
}

#[async_trait]
impl WebhookSender for RecordingSender {
    async fn post(&self, request: &WebhookRequest<'_>) -> Result<u16, SendError> {
        lock(&self.received).push(Received {
            address: request.address.to_string(),
            auth_header: request.auth_header.map(str::to_string),
            body: serde_json::from_slice(request.body).unwrap_or_default(),
        });
        Ok(lock(&self.answers).pop_front().unwrap_or(200))
    }
}

#[derive(Default)]
pub struct MemoryBus {
    pub events: Mutex<Vec<ExecutionStateChange>>,
    /// Puts refused before the bus takes one.
    pub refusals: Mutex<u32>,
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn put_state_change(&self, detail: &ExecutionStateChange) -> Result<(), EventBusError> {
        let mut refusals = lock(&self.refusals);
        if *refusals > 0 {
            *refusals -= 1;
            return Err(EventBusError {
                operation: "PutEvents",
                message: "injected".into(),
            });
        }
        lock(&self.events).push(detail.clone());
        Ok(())
    }
}
