//! Docker Hub as a source: repositories of a namespace and their tags (with digests) through
//! Hub's API, so listing costs no pull against the rate limit
//! (`GET /v2/repositories/{namespace}/`, `GET /v2/repositories/{namespace}/{repository}/tags`,
//! paged by `page`/`page_size` with a JSON `next`:
//! https://docs.docker.com/reference/api/hub/latest/#tag/repositories). Kinds and labels, when a
//! filter needs them, are read from the registry like any distribution source.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::HubApi;
use crate::adapters::registry::distribution::DistributionSource;
use crate::adapters::registry::json_api::Page;
use crate::oci::{Digest, Repository};
use crate::ports::registry::RegistryError;
use crate::ports::source::{
    names_page, tagged_window, ArtifactPage, SourceAdapter, TagWindow, Wanted,
};

pub struct HubSource {
    pub(crate) hub: Arc<HubApi>,
    pub(crate) registry: DistributionSource,
}

#[derive(Deserialize)]
struct HubPage<T> {
    #[serde(default)]
    next: Option<String>,
    #[serde(default = "Vec::new")]
    results: Vec<T>,
}

#[derive(Deserialize)]
struct HubRepository {
    name: String,
}

#[derive(Deserialize)]
struct HubTag {
    name: String,
    #[serde(default)]
    digest: Option<String>,
}

impl HubSource {
    /// Every page from `first` on; None when the namespace or repository does not exist.
    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        first: String,
    ) -> Result<Option<Vec<T>>, RegistryError> {
        let api = self.hub.api().await?;
        api.all(first, |page: Page<HubPage<T>>| {
            (page.body.results, page.body.next.filter(|n| !n.is_empty()))
        })
        .await
    }
}

#[async_trait]
impl SourceAdapter for HubSource {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let namespace = within
            .or(self.hub.user())
            .ok_or_else(|| RegistryError::Invalid {
                registry: self.registry.client.name().to_string(),
                what: "Docker Hub lists one namespace at a time: give the policy a name filter \
                   that starts with it (library/*, myorg/**) or the registry a credential"
                    .into(),
            })?;
        let found: Vec<HubRepository> = self
            .all(format!(
                "/v2/repositories/{namespace}/?page=1&page_size=100"
            ))
            .await?
            .ok_or_else(|| RegistryError::Invalid {
                registry: self.registry.client.name().to_string(),
                what: format!("Docker Hub has no namespace {namespace:?}"),
            })?;
        let names = found
            .into_iter()
            .map(|r| format!("{namespace}/{}", r.name))
            .collect();
        Ok(names_page(names, after, page_size))
    }

    fn canonical_name(&self, name: &str) -> String {
        if name.contains('/') {
            name.to_string()
        } else {
            format!("library/{name}")
        }
    }

    async fn artifacts(
        &self,
        repository: &Repository,
        window: TagWindow<'_>,
        keep: &(dyn for<'t> Fn(&'t str) -> bool + Send + Sync),
        wanted: Wanted<'_>,
    ) -> Result<ArtifactPage, RegistryError> {
        if wanted.kind || wanted.labels || wanted.created {
            return self
                .registry
                .artifacts(repository, window, keep, wanted)
                .await;
        }
        let name = repository.to_string();
        let Some((namespace, rest)) = name.split_once('/') else {
            return Ok(ArtifactPage::default());
        };
        let Some(tags) = self
            .all::<HubTag>(format!(
                "/v2/repositories/{namespace}/{rest}/tags?page=1&page_size=100"
            ))
            .await?
        else {
            return Ok(ArtifactPage::default());
        };
        // A tag Hub lists without a valid digest is read from the registry by its task.
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
