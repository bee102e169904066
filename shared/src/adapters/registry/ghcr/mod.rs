//! GitHub Container Registry: ghcr.io for blobs and manifests (token auth with a user and a
//! personal access token), GitHub's REST API (api.github.com) for listing, since ghcr.io has no
//! `_catalog`: an owner's container packages and their versions with tags
//! (https://docs.github.com/en/rest/packages/packages). A URL that is not ghcr.io serves both
//! at one origin (GitHub Enterprise's `/api/v3` is not covered; a test's fake is).

mod namespaces;
mod source;

pub use namespaces::GhcrNamespaces;
pub use source::GhcrSource;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::json_api::JsonApi;
use super::transport::Transport;
use crate::model::kinds::{is_ghcr, GITHUB_API};
use crate::model::Registry;
use crate::ports::registry::RegistryError;

/// Whose packages an owner's are, as GitHub's routes tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The token's own user: `/user/packages`.
    Me,
    Org,
    User,
}

impl Owner {
    /// The route prefix of `name`'s packages.
    fn packages(self, name: &str) -> String {
        match self {
            Self::Me => "/user/packages".into(),
            Self::Org => format!("/orgs/{name}/packages"),
            Self::User => format!("/users/{name}/packages"),
        }
    }
}

/// GitHub's REST API with the registry's token, and what it learnt of owners.
pub(crate) struct GithubApi {
    pub api: JsonApi,
    user: Option<String>,
    owners: Mutex<HashMap<String, Option<Owner>>>,
}

/// Where GitHub's API is for a registry record.
pub fn api_base(registry: &Registry) -> &str {
    if is_ghcr(&registry.url) {
        GITHUB_API
    } else {
        registry.url.as_str()
    }
}

impl GithubApi {
    /// GitHub's API over `t` (a transport to [`api_base`]).
    pub fn new(registry: &Registry, t: Transport) -> Result<Arc<Self>, RegistryError> {
        let mut api = JsonApi::new(t);
        let credential = registry.credential.as_ref().filter(|c| !c.is_empty());
        if let Some(token) = credential.and_then(|c| c.access_secret.as_deref()) {
            api = api.authorized(&format!("Bearer {token}"))?;
        }
        Ok(Arc::new(Self {
            api,
            user: credential.map(|c| c.access_key.to_ascii_lowercase()),
            owners: Mutex::new(HashMap::new()),
        }))
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether `name` is the token's user, an organisation or another user; None when GitHub
    /// knows no such owner (`GET /orgs/{org}`, `GET /users/{username}`).
    pub async fn owner(&self, name: &str) -> Result<Option<Owner>, RegistryError> {
        if self.user.as_deref() == Some(name) {
            return Ok(Some(Owner::Me));
        }
        if let Some(known) = self.owners.lock().await.get(name) {
            return Ok(*known);
        }
        let found = if self
            .api
            .get::<serde_json::Value>(&format!("/orgs/{name}"))
            .await?
            .is_some()
        {
            Some(Owner::Org)
        } else if self
            .api
            .get::<serde_json::Value>(&format!("/users/{name}"))
            .await?
            .is_some()
        {
            Some(Owner::User)
        } else {
            None
        };
        self.owners.lock().await.insert(name.to_string(), found);
        Ok(found)
    }
}
