//! GHCR as a destination: a package is created by its first push, under an owner that must
//! exist (the token's user or an organisation it may publish to); Ferry checks the owner before
//! any task is written (`GET /orgs/{org}`, `GET /users/{username}`).

use std::sync::Arc;

use async_trait::async_trait;

use super::{GithubApi, Owner};
use crate::ports::registry::{Namespaces, RegistryError, Visibility};

pub struct GhcrNamespaces {
    pub(crate) github: Arc<GithubApi>,
}

#[async_trait]
impl Namespaces for GhcrNamespaces {
    async fn ensure(&self, owner: &str, _visibility: Visibility) -> Result<bool, RegistryError> {
        let refused = |what: String| RegistryError::Invalid {
            registry: self.github.api.t.name().to_string(),
            what,
        };
        match self.github.owner(owner).await? {
            Some(Owner::Me | Owner::Org) => Ok(false),
            Some(Owner::User) => Err(refused(format!(
                "{owner:?} is another GitHub user: a token can publish only under its own user \
                 ({}) or an organisation",
                self.github.user().unwrap_or("none given")
            ))),
            None => Err(refused(format!(
                "GitHub has no user or organisation {owner:?}: create the organisation first"
            ))),
        }
    }
}
