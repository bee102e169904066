//! SWR as a source (ListReposDetails, ListRepositoryTags: tags with digests) and as a
//! destination (organisations shown and created). A `/` in a repository's name is written `$`
//! in paths, as SWR asks.

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::{SwrApi, PAGE};
use crate::adapters::registry::cloud::{numbered_pages, Answer};
use crate::oci::{Digest, Repository};
use crate::ports::registry::{Namespaces, RegistryError, Visibility};
use crate::ports::source::{
    names_page, tagged_window, ArtifactPage, SourceAdapter, TagWindow, Wanted,
};

#[derive(Deserialize)]
struct SwrRepository {
    /// Within its namespace.
    name: String,
    namespace: String,
    #[serde(default)]
    total_range: Option<u64>,
}

#[derive(Deserialize)]
struct SwrTag {
    #[serde(rename = "Tag")]
    tag: String,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    total_range: Option<u64>,
}

/// The total of `Content-Range: <offset>-<count>/<total>`.
fn total_of(answer: &Answer) -> Option<u64> {
    answer
        .header("content-range")?
        .rsplit_once('/')?
        .1
        .trim()
        .parse()
        .ok()
}

impl SwrApi {
    /// Every page of the list at `path` with `query` (and `limit`, `offset`); None on a 404.
    async fn pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        total_in: impl Fn(&[T]) -> Option<u64>,
    ) -> Result<Option<Vec<T>>, RegistryError> {
        let shown = format!("GET {path}");
        numbered_pages(&self.api, PAGE, |_number, read| {
            let (shown, total_in) = (&shown, &total_in);
            async move {
                let (limit, offset) = (PAGE.to_string(), read.to_string());
                let mut query = query.to_vec();
                query.extend([("limit", limit.as_str()), ("offset", offset.as_str())]);
                let answer = self.call(Method::GET, path, &query, None).await?;
                if answer.status == StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                if !answer.status.is_success() {
                    return Err(self.refusal(shown, &answer));
                }
                let items: Vec<T> = self.json(shown, &answer)?;
                let total = total_of(&answer).or_else(|| total_in(&items));
                Ok(Some((items, total)))
            }
        })
        .await
    }
}

#[async_trait]
impl SourceAdapter for SwrApi {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let query: Vec<(&str, &str)> = within.map(|ns| ("namespace", ns)).into_iter().collect();
        let found: Vec<SwrRepository> = self
            .pages("/v2/manage/repos", &query, |items: &[SwrRepository]| {
                items.first().and_then(|r| r.total_range)
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
        let Some((namespace, name)) = repository.as_str().split_once('/') else {
            return Ok(ArtifactPage::default());
        };
        let path = format!(
            "/v2/manage/namespaces/{}/repos/{}/tags",
            namespace,
            name.replace('/', "$")
        );
        let Some(tags) = self
            .pages(&path, &[], |items: &[SwrTag]| {
                items.first().and_then(|t| t.total_range)
            })
            .await?
        else {
            return Ok(ArtifactPage::default());
        };
        let tagged = tags
            .into_iter()
            .map(|t| {
                (
                    t.tag,
                    t.digest.as_deref().and_then(|d| Digest::parse(d).ok()),
                )
            })
            .collect();
        Ok(tagged_window(tagged, keep, window))
    }
}

#[async_trait]
impl Namespaces for SwrApi {
    async fn ensure(
        &self,
        organisation: &str,
        _visibility: Visibility,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v2/manage/namespaces/{}", organisation);
        let shown = format!("GET {path}");
        let visible = || async {
            let answer = self.call(Method::GET, &path, &[], None).await?;
            match answer.status {
                s if s.is_success() => Ok(true),
                StatusCode::NOT_FOUND => Ok(false),
                _ => Err(self.refusal(&shown, &answer)),
            }
        };
        if visible().await? {
            return Ok(false);
        }
        let body = serde_json::json!({"namespace": organisation});
        let answer = self
            .call(Method::POST, "/v2/manage/namespaces", &[], Some(body))
            .await?;
        match answer.status {
            s if s.is_success() => Ok(true),
            // Made meanwhile by another process, or taken by another account.
            StatusCode::CONFLICT if visible().await? => Ok(false),
            StatusCode::CONFLICT => Err(self.api.t.invalid(format!(
                "SWR's organisation {organisation:?} belongs to another account (organisation \
                 names are unique in a region): choose another dest_namespace"
            ))),
            StatusCode::FORBIDDEN => Err(self.api.t.invalid(format!(
                "SWR has no organisation {organisation:?} and the key may not create it: \
                 create it, or grant swr:namespace:createNamespace"
            ))),
            _ => Err(self.refusal("POST /v2/manage/namespaces", &answer)),
        }
    }
}
