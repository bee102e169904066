//! `/registries`: create and update check the endpoint's health with its credential first.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde::Deserialize;

use super::errors::ApiError;
use super::listing::{page_response, params, Paging, Query, Sort};
use super::{created, json, parse_body, Api};
use crate::model::{CredentialType, Registry, RegistryStatus, RegistryType, SECRET_MASK};

const QUERY_FIELDS: &[&str] = &[
    "id",
    "name",
    "type",
    "url",
    "status",
    "description",
    "insecure",
];
const SORT_FIELDS: &[&str] = &[
    "id",
    "name",
    "type",
    "url",
    "status",
    "creation_time",
    "update_time",
];

/// The registry kinds Ferry can talk to today: both speak the distribution API for listing
/// and copying. Others are refused at creation rather than accepted and failing later.
pub const SUPPORTED_TYPES: [RegistryType; 2] = [RegistryType::DockerRegistry, RegistryType::Harbor];

/// Harbor's `RegistryUpdate`: flat, every field optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RegistryUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub credential_type: Option<CredentialType>,
    pub access_key: Option<String>,
    pub access_secret: Option<String>,
    pub insecure: Option<bool>,
    pub ca_certificate: Option<String>,
}

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
}

impl RegistryUpdate {
    /// Applies the update as Harbor does: a new URL without a new secret drops the stored
    /// secret, so a credential is never sent to a host it was not given for.
    fn apply(&self, registry: &mut Registry) {
        if let Some(name) = &self.name {
            registry.name = name.clone();
        }
        if let Some(description) = &self.description {
            registry.description = description.clone();
        }
        let url_changed = self.url.as_ref().is_some_and(|u| *u != registry.url);
        if let Some(url) = &self.url {
            registry.url = url.clone();
        }
        if let Some(insecure) = self.insecure {
            registry.insecure = insecure;
        }
        if let Some(ca) = &self.ca_certificate {
            registry.ca_certificate = Some(ca.clone()).filter(|c| !c.is_empty());
        }
        let touches_credential = self.credential_type.is_some()
            || self.access_key.is_some()
            || self.access_secret.is_some()
            || url_changed;
        if touches_credential {
            let mut credential = registry.credential.clone().unwrap_or_default();
            if let Some(kind) = self.credential_type {
                credential.kind = kind;
            }
            if let Some(key) = &self.access_key {
                credential.access_key = key.clone();
            }
            match &self.access_secret {
                Some(secret) if secret != SECRET_MASK => {
                    credential.access_secret = Some(secret.clone())
                }
                _ if url_changed => credential.access_secret = None,
                _ => {}
            }
            registry.credential = (!credential.is_empty()).then_some(credential);
        }
    }
}

fn check_supported(registry: &Registry) -> Result<(), ApiError> {
    match registry.kind {
        Some(kind) if SUPPORTED_TYPES.contains(&kind) => Ok(()),
        Some(kind) => Err(ApiError::bad_request(format!(
            "type: {} is not supported by Ferry yet; supported: {}",
            kind.as_str(),
            SUPPORTED_TYPES.map(RegistryType::as_str).join(", ")
        ))),
        None => Err(ApiError::bad_request("type: is required")),
    }
}

impl Api {
    /// Checks the endpoint answers the `/v2/` API with the credential; 400 when it does not.
    async fn health_check(&self, registry: &Registry) -> Result<(), ApiError> {
        let client =
            (self.connect)(registry).map_err(|e| ApiError::bad_request(format!("url: {e}")))?;
        client.check().await.map_err(|e| {
            ApiError::bad_request(format!(
                "url: the registry at {} is unhealthy: {e}",
                registry.url
            ))
        })
    }

    pub(super) async fn list_registries(
        &self,
        query: Option<&str>,
        path: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let params = params(query);
        let paging = Paging::from(&params)?;
        let q = Query::parse(params.get("q").map(String::as_str), QUERY_FIELDS)?;
        let sort = Sort::parse(params.get("sort").map(String::as_str), SORT_FIELDS, "id")?;
        let name = params.get("name").cloned().unwrap_or_default();
        let mut items: Vec<serde_json::Value> = self
            .all_registries()
            .await?
            .into_iter()
            .filter(|r| r.name.contains(&name))
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .filter(|v| q.matches(v))
            .collect();
        sort.apply(&mut items);
        Ok(page_response(items, paging, path, &params))
    }

    pub(super) async fn all_registries(&self) -> Result<Vec<Registry>, ApiError> {
        super::collect_all(|cursor| async move {
            self.store.list_registries(cursor.as_deref(), 1000).await
        })
        .await
    }

    pub(super) async fn create_registry(&self, body: &Bytes) -> Result<Response<Bytes>, ApiError> {
        let mut registry: Registry = parse_body(body)?;
        registry.validate()?;
        check_supported(&registry)?;
        self.health_check(&registry).await?;
        registry.status = RegistryStatus::Healthy;
        let created_registry = self.store.create_registry(&registry).await?;
        Ok(created(&format!("/registries/{}", created_registry.id)))
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
        let mut effective = self.store.get_registry_with_secret(id).await?;
        update.apply(&mut effective);
        effective.validate()?;
        check_supported(&effective)?;
        self.health_check(&effective).await?;
        self.store
            .update_registry(id, &|registry: &mut Registry| {
                update.apply(registry);
                registry.status = RegistryStatus::Healthy;
                registry.validate()
            })
            .await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    pub(super) async fn delete_registry(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        self.store.delete_registry(id).await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    pub(super) async fn ping_registry(&self, body: &Bytes) -> Result<Response<Bytes>, ApiError> {
        let ping: RegistryPing = parse_body(body)?;
        let mut registry = match ping.id.filter(|id| *id != 0) {
            Some(id) => self.store.get_registry_with_secret(id).await?,
            None => Registry {
                name: "ping".into(),
                kind: ping.kind,
                ..Registry::default()
            },
        };
        if ping.kind.is_some() {
            registry.kind = ping.kind;
        }
        let update = RegistryUpdate {
            url: ping.url,
            credential_type: ping.credential_type,
            access_key: ping.access_key,
            access_secret: ping.access_secret,
            insecure: ping.insecure,
            ca_certificate: ping.ca_certificate,
            ..RegistryUpdate::default()
        };
        update.apply(&mut registry);
        registry.validate()?;
        check_supported(&registry)?;
        self.health_check(&registry).await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    pub(super) async fn registry_webhook(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        self.store.get_registry(id).await?;
        let token = self
            .admin
            .webhook_token(id)
            .ok_or_else(|| ApiError::internal("no admin password is configured".to_string()))?;
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({
                "url": format!("{}/replication/webhooks/{id}", super::BASE_PATH),
                "authorization": format!("Bearer {token}"),
            }),
        ))
    }

    /// A source's notifications: each push or delete starts the event-based policies it
    /// concerns, for exactly that artifact.
    pub(super) async fn receive_webhook(
        &self,
        id: i64,
        body: &Bytes,
    ) -> Result<Response<Bytes>, ApiError> {
        self.store.get_registry(id).await?;
        let events = crate::replication::events::parse_webhook(body)
            .map_err(|reason| ApiError::bad_request(format!("body: {reason}")))?;
        let policies = super::collect_all(|cursor| async move {
            self.store.list_policies(cursor.as_deref(), 1000).await
        })
        .await?;
        let started = crate::replication::events::start_for_events(
            self.store.as_ref(),
            self.queue.as_ref(),
            &policies,
            id,
            &events,
        )
        .await
        .map_err(|e| match e {
            crate::replication::start::StartError::Store(e) => ApiError::from(e),
            other => ApiError::internal(other.to_string()),
        })?;
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({ "executions": started }),
        ))
    }

    pub(super) async fn registry_info(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        let registry = self.store.get_registry(id).await?;
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({
                "type": registry.kind.map(RegistryType::as_str),
                "description": registry.description,
                "supported_resource_filters": [
                    {"type": "name", "style": "input"},
                    {"type": "tag", "style": "input"},
                    {"type": "label", "style": "list"},
                    {"type": "resource", "style": "radio", "values": ["image", "chart", "artifact"]},
                ],
                "supported_triggers": ["manual", "scheduled", "event_based"],
                "supported_copy_by_chunk": true,
            }),
        ))
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
                    serde_json::json!({
                        "endpoint_pattern": {"endpoint_type": "EndpointPatternTypeStandard"},
                        "credential_pattern": {
                            "access_key_type": "AccessKeyTypeStandard",
                            "access_secret_type": "AccessSecretTypeStandard",
                        },
                    }),
                )
            })
            .collect();
        json(StatusCode::OK, &infos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Credential;

    fn stored() -> Registry {
        Registry {
            name: "r".into(),
            kind: Some(RegistryType::Harbor),
            url: "https://old.example".into(),
            credential: Some(Credential {
                kind: CredentialType::Basic,
                access_key: "u".into(),
                access_secret: Some(SECRET_MASK.into()),
            }),
            ..Registry::default()
        }
    }

    #[test]
    fn a_new_url_without_a_new_secret_clears_the_secret() {
        let mut r = stored();
        RegistryUpdate {
            url: Some("https://new.example".into()),
            ..RegistryUpdate::default()
        }
        .apply(&mut r);
        assert_eq!(
            r.credential.as_ref().and_then(|c| c.access_secret.clone()),
            None
        );

        let mut r = stored();
        RegistryUpdate {
            description: Some("d".into()),
            ..RegistryUpdate::default()
        }
        .apply(&mut r);
        assert_eq!(
            r.credential.and_then(|c| c.access_secret).as_deref(),
            Some(SECRET_MASK),
            "kept"
        );

        let mut r = stored();
        RegistryUpdate {
            url: Some("https://new.example".into()),
            access_secret: Some("fresh".into()),
            ..RegistryUpdate::default()
        }
        .apply(&mut r);
        assert_eq!(
            r.credential.and_then(|c| c.access_secret).as_deref(),
            Some("fresh")
        );
    }
}
