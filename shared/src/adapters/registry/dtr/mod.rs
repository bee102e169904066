//! Mirantis Secure Registry (DTR): blobs and manifests through the distribution API; listing and
//! repository creation through its `/api/v0/` API, paged by `pageSize`/`pageStart` with
//! `X-Next-Page-Start` (https://docs.mirantis.com/msr/2.9/ API reference). Repositories are
//! exactly `<namespace>/<name>` and must exist before a push: Ferry creates them.

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::json_api::{JsonApi, Page};
use crate::oci::{Digest, Repository};
use crate::ports::registry::{Namespaces, RegistryError, Visibility};
use crate::ports::source::{
    names_page, tagged_window, ArtifactPage, SourceAdapter, TagWindow, Wanted,
};

const PAGE: usize = 100;

#[derive(Deserialize)]
struct Repositories {
    #[serde(default)]
    repositories: Vec<DtrRepository>,
}

#[derive(Deserialize)]
struct DtrRepository {
    namespace: String,
    name: String,
}

#[derive(Deserialize)]
struct DtrTag {
    name: String,
    #[serde(default)]
    digest: Option<String>,
}

/// The next page's URL: the same path from the name `X-Next-Page-Start` gives.
fn next_start<B>(path: &str, page: &Page<B>) -> Option<String> {
    page.header("x-next-page-start").map(|start| {
        let start: String = url::form_urlencoded::byte_serialize(start.as_bytes()).collect();
        format!("{path}?pageSize={PAGE}&pageStart={start}")
    })
}

pub struct DtrApi {
    pub(crate) api: JsonApi,
}

#[async_trait]
impl SourceAdapter for DtrApi {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let path = match within {
            Some(namespace) => format!("/api/v0/repositories/{namespace}"),
            None => "/api/v0/repositories".to_string(),
        };
        let found = self
            .api
            .all(
                format!("{path}?pageSize={PAGE}"),
                |page: Page<Repositories>| {
                    let next = next_start(&path, &page);
                    (page.body.repositories, next)
                },
            )
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
        let path = format!("/api/v0/repositories/{repository}/tags");
        let Some(tags) = self
            .api
            .all(
                format!("{path}?pageSize={PAGE}"),
                |page: Page<Vec<DtrTag>>| {
                    let next = next_start(&path, &page);
                    (page.body, next)
                },
            )
            .await?
        else {
            return Ok(ArtifactPage::default());
        };
        let tagged = tags
            .into_iter()
            .map(|t| {
                (
                    t.name,
                    t.digest.as_deref().and_then(|d| Digest::parse(d).ok()),
                )
            })
            .collect();
        Ok(tagged_window(tagged, keep, window))
    }
}

#[async_trait]
impl Namespaces for DtrApi {
    /// A DTR repository is made before a push: the whole name.
    fn namespace_of(&self, repository: &str) -> Option<String> {
        Some(repository.to_string())
    }

    fn refuse_name(&self, repository: &str) -> Option<String> {
        (repository.split('/').count() != 2).then(|| {
            format!("{repository:?} cannot go to DTR: its repositories are <namespace>/<name>")
        })
    }

    async fn ensure(
        &self,
        repository: &str,
        visibility: Visibility,
    ) -> Result<bool, RegistryError> {
        let Some((namespace, name)) = repository.split_once('/') else {
            return Err(self
                .api
                .t
                .invalid(format!("{repository:?} names no namespace")));
        };
        let path = format!("/api/v0/repositories/{namespace}/{name}");
        if self.api.get::<serde_json::Value>(&path).await?.is_some() {
            return Ok(false);
        }
        let body = serde_json::json!({"name": name, "visibility": if visibility.is_public() { "public" } else { "private" }});
        let (status, answer) = self
            .api
            .send_json(
                Method::POST,
                &format!("/api/v0/repositories/{namespace}"),
                Some(&body),
            )
            .await?;
        let text = String::from_utf8_lossy(&answer);
        match status {
            s if s.is_success() => Ok(true),
            StatusCode::BAD_REQUEST if text.contains("REPOSITORY_EXISTS") => Ok(false),
            StatusCode::NOT_FOUND => Err(self.api.t.invalid(format!(
                "DTR has no namespace {namespace:?}: create the organisation or user first"
            ))),
            other => Err(self.api.t.invalid(format!(
                "POST /api/v0/repositories/{namespace} answered {other}: {}",
                text.chars().take(300).collect::<String>()
            ))),
        }
    }
}
