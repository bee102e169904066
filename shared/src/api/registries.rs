//! `/registries`: create and update check the endpoint's health with its credential first.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde::Deserialize;

use super::errors::ApiError;
use super::listing::{ListRequest, ListSpec};
use super::{created, json, parse_body, Api};
use crate::model::{CredentialType, Registry, RegistryType, RegistryUpdate};
use crate::ports::store::collect_pages;
use crate::replication::registries::{
    create_registry, ping_registry, update_registry, SUPPORTED_TYPES,
};

const REGISTRIES: ListSpec = ListSpec {
    query: Some(&[
        "id",
        "name",
        "type",
        "url",
        "status",
        "description",
        "insecure",
    ]),
    sort: &[
        "id",
        "name",
        "type",
        "url",
        "status",
        "creation_time",
        "update_time",
    ],
    default_sort: "id",
};

/// Harbor's `RegistryPing`: an existing registry by `id`, or an endpoint described in full;
/// given fields override the stored ones.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RegistryPing {
    pub id: Option<i64>,
    #[serde(rename = "type")]
    pub kind: Option<RegistryType>,
    pub url: Option<String>,
    pub credential_type: Option<CredentialType>,
    pub access_key: Option<String>,
    pub access_secret: Option<String>,
    pub insecure: Option<bool>,
    pub ca_certificate: Option<String>,
    /// Ferry's addition: the registry's options (a region, a role) for a kind that needs them.
    pub options: Option<crate::model::RegistryOptions>,
}

impl Api {
    pub(super) async fn list_registries(
        &self,
        query: Option<&str>,
        path: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let request = ListRequest::parse(query, &REGISTRIES)?;
        let name = request.param("name").unwrap_or_default();
        let registries = self.all_registries().await?;
        Ok(request.answer(
            registries.into_iter().filter(|r| r.name.contains(name)),
            path,
        ))
    }

    pub(super) async fn all_registries(&self) -> Result<Vec<Registry>, ApiError> {
        Ok(collect_pages(|cursor| async move {
            self.store.list_registries(cursor.as_deref(), 1000).await
        })
        .await?)
    }

    pub(super) async fn create_registry(&self, body: &Bytes) -> Result<Response<Bytes>, ApiError> {
        let registry: Registry = parse_body(body)?;
        let stored = create_registry(
            self.store.as_ref(),
            self.connect.as_ref(),
            self.check_limit,
            registry,
        )
        .await?;
        Ok(created(&format!("/registries/{}", stored.id)))
    }

    pub(super) async fn get_registry(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        Ok(json(StatusCode::OK, &self.store.get_registry(id).await?))
    }

    pub(super) async fn update_registry(
        &self,
        id: i64,
        body: &Bytes,
    ) -> Result<Response<Bytes>, ApiError> {
        let update: RegistryUpdate = parse_body(body)?;
        update_registry(
            self.store.as_ref(),
            self.connect.as_ref(),
            self.check_limit,
            id,
            &update,
        )
        .await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    pub(super) async fn delete_registry(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        self.store.delete_registry(id).await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    pub(super) async fn ping_registry(&self, body: &Bytes) -> Result<Response<Bytes>, ApiError> {
        let ping: RegistryPing = parse_body(body)?;
        let update = RegistryUpdate {
            url: ping.url,
            credential_type: ping.credential_type,
            access_key: ping.access_key,
            access_secret: ping.access_secret,
            insecure: ping.insecure,
            ca_certificate: ping.ca_certificate,
            options: ping.options,
            ..RegistryUpdate::default()
        };
        ping_registry(
            self.store.as_ref(),
            self.connect.as_ref(),
            self.check_limit,
            ping.id,
            ping.kind,
            &update,
        )
        .await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    /// Where the registry's notifications go, and whether a token was issued; the token itself
    /// is shown only when it is issued.
    pub(super) async fn registry_webhook(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        let issued = self.store.webhook_token(id).await?.is_some();
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({
                "url": format!("{}/replication/webhooks/{id}", super::BASE_PATH),
                "token_issued": issued,
            }),
        ))
    }

    /// Issues a new random webhook token, replacing the old one, and shows it this once.
    pub(super) async fn rotate_webhook(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        let token = super::auth::new_secret()?;
        self.store.set_webhook_token(id, &token).await?;
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({
                "url": format!("{}/replication/webhooks/{id}", super::BASE_PATH),
                "token_issued": true,
                "authorization": format!("Bearer {token}"),
            }),
        ))
    }

    /// A source's notifications, with the registry's webhook token: each push or delete starts
    /// the event-based policies it concerns, for exactly that artifact, once.
    pub(super) async fn receive_webhook(
        &self,
        id: i64,
        headers: &http::HeaderMap,
        body: &Bytes,
    ) -> Result<Response<Bytes>, ApiError> {
        // An unknown registry answers as a wrong token does: the route tells nothing to a guess.
        let expected = match self.store.webhook_token(id).await {
            Ok(token) => token,
            Err(crate::ports::store::StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        super::auth::check_webhook(expected.as_deref(), headers)?;
        let events = crate::replication::events::parse_webhook(body).map_err(|e| match e {
            crate::replication::events::WebhookError::TooMany { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("body: {e}"),
            ),
            other => ApiError::bad_request(format!("body: {other}")),
        })?;
        let policies = collect_pages(|cursor| async move {
            self.store.list_policies(cursor.as_deref(), 1000).await
        })
        .await?;
        let start_refused = |e| match e {
            crate::replication::start::StartError::Store(e) => ApiError::from(e),
            other => ApiError::internal(other.to_string()),
        };
        let mut started = crate::replication::events::start_for_events(
            self.store.as_ref(),
            self.queue.as_ref(),
            &policies,
            id,
            &events,
        )
        .await
        .map_err(start_refused)?;
        // Pulls at this registry as a destination: auto-sync policies with `on_pull_event`.
        let pulls = crate::replication::pull::events::parse_pulls(body);
        if !pulls.is_empty() {
            started.extend(
                crate::replication::pull::events::start_for_pulls(
                    self.store.as_ref(),
                    self.queue.as_ref(),
                    &policies,
                    id,
                    &pulls,
                    self.pull.settings.claim_window,
                )
                .await
                .map_err(start_refused)?,
            );
        }
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({ "executions": started }),
        ))
    }

    pub(super) async fn registry_info(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        let registry = self.store.get_registry(id).await?;
        let info = match registry.kind {
            Some(kind) => crate::model::kinds::registry_info(kind, &registry.description),
            None => serde_json::json!({"type": null, "description": registry.description}),
        };
        Ok(json(StatusCode::OK, &info))
    }

    pub(super) fn adapters(&self) -> Response<Bytes> {
        json(StatusCode::OK, &SUPPORTED_TYPES.map(RegistryType::as_str))
    }

    pub(super) fn adapter_infos(&self) -> Response<Bytes> {
        let infos: serde_json::Map<String, serde_json::Value> = SUPPORTED_TYPES
            .iter()
            .map(|kind| {
                (
                    kind.as_str().to_string(),
                    crate::model::kinds::provider_info(*kind),
                )
            })
            .collect();
        json(StatusCode::OK, &infos)
    }
}
