//! Docker Hub: its registry (registry-1.docker.io, token auth at auth.docker.io) for blobs and
//! manifests, and Hub's own API (hub.docker.com) for listing and for namespaces, since the
//! registry has no `_catalog`. Official images live under `library/`: `nginx` is `library/nginx`.
//! A URL that is not Docker's own serves both at one origin (a Hub-compatible mirror, a test).

mod namespaces;
mod source;

pub use namespaces::HubNamespaces;
pub use source::HubSource;

use std::sync::Arc;

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use tokio::sync::Mutex;

use super::json_api::JsonApi;
use super::transport::Transport;
use crate::model::kinds::{is_docker_hub, DOCKER_HUB_API, DOCKER_HUB_REGISTRY};
use crate::model::Registry;
use crate::ports::registry::RegistryError;

/// The registry endpoint of a Docker Hub registry record.
pub fn registry_endpoint(registry: &Registry) -> Registry {
    if is_docker_hub(&registry.url) {
        Registry {
            url: DOCKER_HUB_REGISTRY.to_string(),
            ..registry.clone()
        }
    } else {
        registry.clone()
    }
}

/// Hub's API, logged in with the registry's credential (when it has one) on first use.
/// `POST /v2/users/login` {"username","password"} answers {"token"}, sent as `Bearer`
/// (https://docs.docker.com/reference/api/hub/latest/#tag/authentication-api).
pub(crate) struct HubApi {
    api: Mutex<JsonApi>,
    credential: Option<(String, String)>,
    logged_in: Mutex<bool>,
}

/// Where Hub's API is for a registry record.
pub fn api_base(registry: &Registry) -> &str {
    if is_docker_hub(&registry.url) {
        DOCKER_HUB_API
    } else {
        registry.url.as_str()
    }
}

impl HubApi {
    /// Hub's API over `t` (a transport to [`api_base`]).
    pub fn new(registry: &Registry, t: Transport) -> Arc<Self> {
        let credential = registry
            .credential
            .as_ref()
            .filter(|c| !c.access_key.is_empty())
            .map(|c| {
                (
                    c.access_key.clone(),
                    c.access_secret.clone().unwrap_or_default(),
                )
            });
        Arc::new(Self {
            api: Mutex::new(JsonApi::new(t)),
            credential,
            logged_in: Mutex::new(false),
        })
    }

    /// The user the credential names, whose own namespace needs no organisation.
    pub fn user(&self) -> Option<&str> {
        self.credential.as_ref().map(|(user, _)| user.as_str())
    }

    /// The API, logged in when there is a credential.
    pub async fn api(&self) -> Result<tokio::sync::MutexGuard<'_, JsonApi>, RegistryError> {
        let mut logged_in = self.logged_in.lock().await;
        let mut api = self.api.lock().await;
        if let (false, Some((user, password))) = (*logged_in, &self.credential) {
            let body = serde_json::json!({"username": user, "password": password});
            let (status, answer) = api
                .send_json(Method::POST, "/v2/users/login", Some(&body))
                .await?;
            if status != StatusCode::OK {
                return Err(RegistryError::Refused {
                    registry: api.t.name().to_string(),
                    method: "POST",
                    path: "/v2/users/login".into(),
                    status: status.as_u16(),
                    code: None,
                    message: format!(
                        "Docker Hub refused the login of {user}: {}",
                        String::from_utf8_lossy(&answer)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    ),
                });
            }
            let token = serde_json::from_slice::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| v["token"].as_str().map(str::to_string))
                .ok_or_else(|| {
                    api.t
                        .invalid("Docker Hub's login answered without a token".into())
                })?;
            let mut header = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                api.t
                    .invalid("Docker Hub's token is not a header value".into())
            })?;
            header.set_sensitive(true);
            api.set_authorization(header);
            *logged_in = true;
        }
        Ok(api)
    }
}
