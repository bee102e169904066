//! The notifier: one notify message, the event delivered to every webhook policy that wants
//! it (each target POSTed, retried with backoff, the delivery logged) and, for an execution's
//! start or end, put on the event bus.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use tracing::Instrument;

use crate::messages::{decode, InboundMessage, NotifyMessage};
use crate::model::notification::{
    execution_state_change, harbor_payload, DeliveryStatus, EventFacts, ReplicationEvent,
    WebhookDelivery, WebhookPolicy, WebhookTarget,
};
use crate::model::{time_format, Execution};
use crate::ports::notify::{EventBus, SendError, WebhookRequest, WebhookSender, WebhookStore};
use crate::ports::store::{Store, StoreError};
use crate::replication::HandleError;

/// Attempts per target when nothing else is configured.
pub const DEFAULT_ATTEMPTS: usize = 3;

pub struct NotifyWorker {
    pub store: Arc<dyn Store>,
    pub webhooks: Arc<dyn WebhookStore>,
    pub sender: Arc<dyn WebhookSender>,
    /// None: no EventBridge events.
    pub bus: Option<Arc<dyn EventBus>>,
    /// What the payload calls this Ferry (`harbor_hostname`).
    pub hostname: String,
    /// POSTs per target before its delivery is Failed.
    pub attempts: usize,
    /// The first wait between attempts; it doubles.
    pub backoff: Duration,
}

/// The outcome of one POST that did not succeed.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("the receiver answered HTTP {0}")]
    Status(u16),
    #[error(transparent)]
    Send(#[from] SendError),
}

impl AttemptError {
    /// Worth another attempt: no answer, a server error, a timeout or throttling status.
    fn may_heal(&self) -> bool {
        match self {
            Self::Status(status) => *status >= 500 || *status == 408 || *status == 429,
            Self::Send(SendError::Failed(_)) => true,
            Self::Send(SendError::Refused(_)) => false,
        }
    }
}

impl NotifyWorker {
    pub async fn handle(&self, message: &InboundMessage) -> Result<(), HandleError> {
        let notify: NotifyMessage = decode(&message.body)?;
        let event = notify.event;
        let span = tracing::info_span!(
            "notify",
            message_id = %message.message_id,
            execution_id = event.execution_id,
            task_id = event.task_id,
            event = event.kind.as_str(),
        );
        self.deliver(&event).instrument(span).await
    }

    async fn deliver(&self, event: &ReplicationEvent) -> Result<(), HandleError> {
        let execution = match self.store.get_execution(event.execution_id).await {
            Ok(execution) => execution,
            Err(StoreError::NotFound { .. }) => {
                tracing::info!("execution is gone: nothing to announce");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let policy = match self.store.get_policy(execution.policy_id).await {
            Ok(policy) => Some(policy),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let task = match event.task_id {
            Some(task_id) => match self.store.get_task(execution.id, task_id).await {
                Ok(task) => Some(task),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let facts = EventFacts {
            event,
            execution: &execution,
            policy: policy.as_ref(),
            task: task.as_ref(),
            hostname: &self.hostname,
        };
        let body = serde_json::to_vec(&harbor_payload(&facts))
            .map_err(|e| HandleError::Retry(format!("payload not encoded: {e}")))?;
        match self.webhooks.webhook_policies_with_secrets().await {
            Ok(policies) => {
                let wanted = policies.iter().filter(|p| p.wants(event.kind));
                futures::future::join_all(
                    wanted.map(|policy| self.deliver_to(policy, event, &execution, &body)),
                )
                .await;
            }
            Err(e) => tracing::warn!(error = %e, "webhook policies not read: no webhooks sent"),
        }
        self.put_on_bus(&facts).await
    }

    /// Delivers to each target of `policy`, once per event however often it is asked.
    async fn deliver_to(
        &self,
        policy: &WebhookPolicy,
        event: &ReplicationEvent,
        execution: &Execution,
        body: &[u8],
    ) {
        let claim = format!("webhook#{}#{}", policy.id, event.key());
        match self.store.claim_once(&claim).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(policy_id = policy.id, "delivered before: a duplicate");
                return;
            }
            Err(e) => {
                tracing::warn!(policy_id = policy.id, error = %e, "delivery not claimed: skipped");
                return;
            }
        }
        for target in &policy.targets {
            let delivery = self.post(policy, target, event, execution, body).await;
            if let Err(e) = self.webhooks.record_delivery(&delivery).await {
                tracing::warn!(policy_id = policy.id, error = %e, "delivery not logged");
            }
        }
    }

    async fn post(
        &self,
        policy: &WebhookPolicy,
        target: &WebhookTarget,
        event: &ReplicationEvent,
        execution: &Execution,
        body: &[u8],
    ) -> WebhookDelivery {
        let started = time_format::now();
        let attempts = AtomicU32::new(0);
        let request = WebhookRequest {
            address: &target.address,
            auth_header: target.auth_header.as_deref(),
            skip_cert_verify: target.skip_cert_verify,
            body,
        };
        let once = || async {
            attempts.fetch_add(1, Ordering::Relaxed);
            match self.sender.post(&request).await {
                Ok(status) if (200..300).contains(&status) => Ok(status),
                Ok(status) => Err(AttemptError::Status(status)),
                Err(e) => Err(AttemptError::Send(e)),
            }
        };
        let backoff = backon::ExponentialBuilder::default()
            .with_min_delay(self.backoff)
            .with_max_delay(self.backoff * 8)
            .with_max_times(self.attempts.saturating_sub(1));
        let outcome = once
            .retry(backoff)
            .when(AttemptError::may_heal)
            .notify(|e: &AttemptError, delay: Duration| {
                tracing::warn!(policy_id = policy.id, error = %e, ?delay, "webhook attempt failed");
            })
            .await;
        let (status, http_status, status_text) = match outcome {
            Ok(code) => (DeliveryStatus::Success, Some(code), String::new()),
            Err(AttemptError::Status(code)) => (
                DeliveryStatus::Failed,
                Some(code),
                format!("the receiver answered HTTP {code}"),
            ),
            Err(e) => (DeliveryStatus::Failed, None, e.to_string()),
        };
        let attempts = attempts.load(Ordering::Relaxed);
        tracing::info!(
            policy_id = policy.id,
            status = ?status,
            attempts,
            http_status,
            "webhook delivered"
        );
        WebhookDelivery {
            id: 0,
            policy_id: policy.id,
            event_type: "REPLICATION".into(),
            event: event.kind.as_str().into(),
            execution_id: execution.id,
            address: target.address.clone(),
            status,
            attempts,
            http_status,
            status_text,
            creation_time: started,
            end_time: time_format::now(),
        }
    }

    /// An execution's start or end on the bus, once; a failure is retried by redelivery.
    async fn put_on_bus(&self, facts: &EventFacts<'_>) -> Result<(), HandleError> {
        let (Some(bus), Some(detail)) = (&self.bus, execution_state_change(facts)) else {
            return Ok(());
        };
        let claim = format!("eventbridge#{}", facts.event.key());
        if !self.store.claim_once(&claim).await? {
            return Ok(());
        }
        if let Err(e) = bus.put_state_change(&detail).await {
            if let Err(release) = self.store.release_claim(&claim).await {
                tracing::warn!(error = %release, "bus claim not released");
            }
            return Err(HandleError::Retry(e.to_string()));
        }
        tracing::info!(status = detail.status, "state change put on the bus");
        Ok(())
    }
}
