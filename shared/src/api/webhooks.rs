//! `/webhook/policies`: Harbor's webhook policies (without projects) for replication events,
//! and each policy's deliveries (`/executions`, as Harbor 2.x names them).

use bytes::Bytes;
use http::{Response, StatusCode};

use super::errors::ApiError;
use super::listing::{ListRequest, ListSpec};
use super::{created, json, parse_body, Api};
use crate::model::notification::WebhookPolicy;
use crate::model::time_format;

const POLICIES: ListSpec = ListSpec {
    query: Some(&["id", "name", "description", "enabled", "creator"]),
    sort: &["id", "name", "creation_time", "update_time"],
    default_sort: "id",
};

const DELIVERIES: ListSpec = ListSpec {
    query: None,
    sort: &["id", "status", "creation_time", "end_time"],
    default_sort: "-id",
};

impl Api {
    pub(super) async fn list_webhook_policies(
        &self,
        query: Option<&str>,
        path: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let request = ListRequest::parse(query, &POLICIES)?;
        let name = request.param("name").unwrap_or_default();
        let policies = self.webhooks.list_webhook_policies().await?;
        Ok(request.answer(policies.into_iter().filter(|p| p.name.contains(name)), path))
    }

    pub(super) async fn create_webhook_policy(
        &self,
        body: &Bytes,
    ) -> Result<Response<Bytes>, ApiError> {
        let mut policy: WebhookPolicy = parse_body(body)?;
        policy.validate(self.addresses)?;
        if policy.creator.is_empty() {
            policy.creator = "admin".into();
        }
        policy.creation_time = time_format::now();
        let stored = self.webhooks.create_webhook_policy(&policy).await?;
        Ok(created(&format!("/webhook/policies/{}", stored.id)))
    }

    pub(super) async fn get_webhook_policy(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        Ok(json(
            StatusCode::OK,
            &self.webhooks.get_webhook_policy(id).await?,
        ))
    }

    /// Harbor's PUT: the whole policy; a target's masked auth header keeps the stored one.
    pub(super) async fn update_webhook_policy(
        &self,
        id: i64,
        body: &Bytes,
    ) -> Result<Response<Bytes>, ApiError> {
        let update: WebhookPolicy = parse_body(body)?;
        update.validate(self.addresses)?;
        self.webhooks
            .update_webhook_policy(id, &|stored: &mut WebhookPolicy| {
                let mut next = update.clone();
                next.keep_masked_headers(stored);
                next.creator = stored.creator.clone();
                *stored = next;
                Ok(())
            })
            .await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    pub(super) async fn delete_webhook_policy(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        self.webhooks.delete_webhook_policy(id).await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    pub(super) async fn list_webhook_deliveries(
        &self,
        id: i64,
        query: Option<&str>,
        path: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let request = ListRequest::parse(query, &DELIVERIES)?;
        // A policy that does not exist is a 404, not an empty list.
        self.webhooks.get_webhook_policy(id).await?;
        let deliveries = self.webhooks.list_deliveries(id).await?;
        Ok(request.answer(deliveries, path))
    }
}
