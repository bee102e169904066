//! A GAR destination's repositories (`<project>/<repository>/<image...>`): read with
//! `GET /v1/projects/{project}/locations/{location}/repositories/{repository}` and created with
//! `POST .../repositories?repositoryId=` (format DOCKER) when missing and the key may
//! (https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories).

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};

use super::GoogleOAuth;
use crate::adapters::registry::json_api::JsonApi;
use crate::ports::registry::{Namespaces, RegistryError, Visibility};

pub struct GarRepositories {
    pub(crate) api: tokio::sync::Mutex<JsonApi>,
    pub(crate) oauth: Arc<GoogleOAuth>,
    pub(crate) location: String,
}

#[async_trait]
impl Namespaces for GarRepositories {
    /// `<project>/<repository>`: the Artifact Registry repository an image path lives in.
    fn namespace_of(&self, repository: &str) -> Option<String> {
        let mut parts = repository.splitn(3, '/');
        let (project, repo) = (parts.next()?, parts.next()?);
        Some(format!("{project}/{repo}"))
    }

    fn refuse_name(&self, repository: &str) -> Option<String> {
        (repository.split('/').count() < 3).then(|| {
            format!(
                "{repository:?} cannot go to Artifact Registry: its paths are \
                 <project>/<repository>/<image>; set the policy's dest_namespace to \
                 <project>/<repository>"
            )
        })
    }

    async fn ensure(
        &self,
        namespace: &str,
        _visibility: Visibility,
    ) -> Result<bool, RegistryError> {
        let (token, _) = self.oauth.token().await?;
        let mut api = self.api.lock().await;
        let mut header = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            api.t
                .invalid("the access token is not a header value".into())
        })?;
        header.set_sensitive(true);
        api.set_authorization(header);
        let name = api.t.name().to_string();
        let Some((project, repository)) = namespace.split_once('/') else {
            return Err(api.t.invalid(format!(
                "{namespace:?} names no Artifact Registry repository: GAR paths are \
                     <project>/<repository>/<image>"
            )));
        };
        let location = &self.location;
        let base = format!("/v1/projects/{project}/locations/{location}/repositories");
        if api
            .get::<serde_json::Value>(&format!("{base}/{repository}"))
            .await?
            .is_some()
        {
            return Ok(false);
        }
        let (status, body) = api
            .send_json(
                Method::POST,
                &format!("{base}?repositoryId={repository}"),
                Some(&serde_json::json!({"format": "DOCKER"})),
            )
            .await?;
        match status {
            s if s.is_success() => Ok(true),
            StatusCode::CONFLICT => Ok(false),
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => Err(api.t.invalid(format!(
                "Artifact Registry has no repository {repository:?} in project {project:?} \
                     ({location}) and the key may not create it: create it (gcloud artifacts \
                     repositories create {repository} --repository-format=docker \
                     --location={location} --project={project}) or grant the key \
                     artifactregistry.repositories.create"
            ))),
            other => Err(RegistryError::Refused {
                registry: name,
                method: "POST",
                path: base,
                status: other.as_u16(),
                code: None,
                message: String::from_utf8_lossy(&body).chars().take(300).collect(),
            }),
        }
    }
}
