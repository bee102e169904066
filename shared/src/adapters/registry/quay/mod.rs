//! Quay (quay.io and Red Hat Quay): blobs and manifests through the distribution API with a robot
//! account; listing and organisations through Quay's REST API with an OAuth token
//! (https://docs.quay.io/api/swagger/): `GET /api/v1/repository?namespace=` (paged by
//! `next_page`), `GET /api/v1/repository/{ns}/{repo}/tag/` (paged by `page`, `has_additional`),
//! `GET`/`POST /api/v1/organization/`. The credential is the robot (`org+name`) and, as Harbor's
//! Quay adapter takes it, a secret that is either the robot's token alone or a JSON object
//! `{"docker_cli_password": ..., "oauth2_token": ...}` carrying the API's token too.

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::json_api::{JsonApi, Page};
use crate::model::Registry;
use crate::oci::{Digest, Repository};
use crate::ports::registry::{Namespaces, RegistryError, Visibility};
use crate::ports::source::{
    names_page, tagged_window, ArtifactPage, SourceAdapter, TagWindow, Wanted,
};

/// The registry password and the API token a Quay secret carries.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct QuaySecret {
    pub registry_password: String,
    pub api_token: String,
}

impl QuaySecret {
    pub fn of(secret: &str) -> Self {
        #[derive(Deserialize)]
        struct Both {
            docker_cli_password: String,
            #[serde(default)]
            oauth2_token: String,
        }
        match serde_json::from_str::<Both>(secret) {
            Ok(both) => Self {
                api_token: if both.oauth2_token.is_empty() {
                    both.docker_cli_password.clone()
                } else {
                    both.oauth2_token
                },
                registry_password: both.docker_cli_password,
            },
            Err(_) => Self {
                registry_password: secret.to_string(),
                api_token: secret.to_string(),
            },
        }
    }
}

/// The registry record as its registry sees it: the robot and its password.
pub fn registry_endpoint(registry: &Registry) -> Registry {
    let mut out = registry.clone();
    if let Some(credential) = out.credential.as_mut() {
        let secret = QuaySecret::of(credential.access_secret.as_deref().unwrap_or_default());
        credential.access_secret = Some(secret.registry_password);
    }
    out
}

/// The API token of a Quay record.
pub fn api_token(registry: &Registry) -> Option<String> {
    let secret = registry.credential.as_ref()?.access_secret.as_deref()?;
    Some(QuaySecret::of(secret).api_token).filter(|t| !t.is_empty())
}

#[derive(Deserialize)]
struct Repositories {
    #[serde(default)]
    repositories: Vec<QuayRepository>,
    #[serde(default)]
    next_page: Option<String>,
}

#[derive(Deserialize)]
struct QuayRepository {
    namespace: String,
    name: String,
}

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    tags: Vec<QuayTag>,
    #[serde(default)]
    has_additional: bool,
    #[serde(default)]
    page: Option<u32>,
}

#[derive(Deserialize)]
struct QuayTag {
    name: String,
    #[serde(default)]
    manifest_digest: Option<String>,
}

pub struct QuayApi {
    pub(crate) api: JsonApi,
}

#[async_trait]
impl SourceAdapter for QuayApi {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let namespace = within.ok_or_else(|| {
            self.api.t.invalid(
                "Quay lists one namespace at a time: give the policy a name filter that starts \
                 with the organisation (myorg/**)"
                    .into(),
            )
        })?;
        let first = format!("/api/v1/repository?namespace={namespace}");
        let found = self
            .api
            .all(first.clone(), |page: Page<Repositories>| {
                let next = page.body.next_page.as_ref().map(|token| {
                    let token: String =
                        url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
                    format!("{first}&next_page={token}")
                });
                (page.body.repositories, next)
            })
            .await?
            .unwrap_or_default();
        let names = found
            .into_iter()
            .map(|r| format!("{}/{}", r.namespace, r.name))
            .collect();
        Ok(names_page(names, after, page_size))
    }

    async fn artifacts(
        &self,
        repository: &Repository,
        window: TagWindow<'_>,
        keep: &(dyn for<'t> Fn(&'t str) -> bool + Send + Sync),
        _wanted: Wanted<'_>,
    ) -> Result<ArtifactPage, RegistryError> {
        let path = format!("/api/v1/repository/{repository}/tag/");
        let Some(tags) = self
            .api
            .all(
                format!("{path}?onlyActiveTags=true&limit=100&page=1"),
                |page: Page<Tags>| {
                    let number = page.body.page.unwrap_or(1);
                    let next = page.body.has_additional.then(|| {
                        format!("{path}?onlyActiveTags=true&limit=100&page={}", number + 1)
                    });
                    (page.body.tags, next)
                },
            )
            .await?
        else {
            return Ok(ArtifactPage::default());
        };
        let tagged = tags
            .into_iter()
            .map(|t| {
                let digest = t
                    .manifest_digest
                    .as_deref()
                    .and_then(|d| Digest::parse(d).ok());
                (t.name, digest)
            })
            .collect();
        Ok(tagged_window(tagged, keep, window))
    }
}

#[async_trait]
impl Namespaces for QuayApi {
    async fn ensure(
        &self,
        organisation: &str,
        _visibility: Visibility,
    ) -> Result<bool, RegistryError> {
        let path = format!("/api/v1/organization/{organisation}");
        if self.api.get::<serde_json::Value>(&path).await?.is_some() {
            return Ok(false);
        }
        let body = serde_json::json!({"name": organisation});
        let (status, answer) = self
            .api
            .send_json(Method::POST, "/api/v1/organization/", Some(&body))
            .await?;
        match status {
            s if s.is_success() => Ok(true),
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => Err(self.api.t.invalid(format!(
                "Quay has no organisation {organisation:?} and the OAuth token may not create \
                 it: create it, or give a token with the org:admin scope"
            ))),
            other => Err(self.api.t.invalid(format!(
                "POST /api/v1/organization/ answered {other}: {}",
                String::from_utf8_lossy(&answer)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_a_token_or_harbors_json() {
        assert_eq!(
            QuaySecret::of("robot-token"),
            QuaySecret {
                registry_password: "robot-token".into(),
                api_token: "robot-token".into()
            }
        );
        assert_eq!(
            QuaySecret::of(r#"{"docker_cli_password":"p","oauth2_token":"o"}"#),
            QuaySecret {
                registry_password: "p".into(),
                api_token: "o".into()
            }
        );
    }
}
