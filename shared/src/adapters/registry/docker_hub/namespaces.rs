//! Docker Hub as a destination: a repository is created by its first push, but only in a
//! namespace that exists (the user's own, or an organisation), and Hub's API cannot create an
//! organisation; so Ferry checks it before any task is written and says what to create
//! (`GET /v2/orgs/{org}/`: https://docs.docker.com/reference/api/hub/latest/#tag/orgs).

use std::sync::Arc;

use async_trait::async_trait;

use super::HubApi;
use crate::ports::registry::{Namespaces, RegistryError, Visibility};

pub struct HubNamespaces {
    pub(crate) hub: Arc<HubApi>,
}

#[async_trait]
impl Namespaces for HubNamespaces {
    async fn ensure(
        &self,
        namespace: &str,
        _visibility: Visibility,
    ) -> Result<bool, RegistryError> {
        if self.hub.user() == Some(namespace) {
            return Ok(false);
        }
        let api = self.hub.api().await?;
        match api
            .get::<serde_json::Value>(&format!("/v2/orgs/{namespace}/"))
            .await?
        {
            Some(_) => Ok(false),
            None => Err(RegistryError::Invalid {
                registry: api.t.name().to_string(),
                what: format!(
                    "Docker Hub has no organisation {namespace:?} (and it is not the user's own \
                     namespace): create it on Docker Hub first; Ferry cannot"
                ),
            }),
        }
    }
}
