//! GHCR as a source: an owner's container packages (`GET /orgs/{org}/packages?package_type=container`,
//! `/users/{username}/packages`, `/user/packages`) and each package's versions, whose
//! `metadata.container.tags` name the tags of the version's digest
//! (`GET .../packages/container/{package_name}/versions`), paged by `Link`
//! (https://docs.github.com/en/rest/packages/packages). Kinds and labels, when a filter needs
//! them, are read from the registry.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::{GithubApi, Owner};
use crate::adapters::registry::distribution::DistributionSource;
use crate::adapters::registry::json_api::Page;
use crate::oci::{Digest, Repository};
use crate::ports::registry::RegistryError;
use crate::ports::source::{
    names_page, tagged_window, ArtifactPage, SourceAdapter, TagWindow, Wanted,
};

pub struct GhcrSource {
    pub(crate) github: Arc<GithubApi>,
    pub(crate) registry: DistributionSource,
}

#[derive(Deserialize)]
struct Package {
    name: String,
}

#[derive(Deserialize)]
struct Version {
    name: String,
    #[serde(default)]
    metadata: serde_json::Value,
}

impl GhcrSource {
    /// Every page from `first` on; None when GitHub answers 404.
    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        first: String,
    ) -> Result<Option<Vec<T>>, RegistryError> {
        self.github
            .api
            .all(first, |page: Page<Vec<T>>| (page.body, page.next))
            .await
    }

    async fn owner(&self, name: &str) -> Result<Owner, RegistryError> {
        self.github.owner(name).await?.ok_or_else(|| {
            self.github
                .api
                .t
                .invalid(format!("GitHub has no user or organisation {name:?}"))
        })
    }
}

#[async_trait]
impl SourceAdapter for GhcrSource {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let owner_name = within.or(self.github.user()).ok_or_else(|| {
            self.github.api.t.invalid(
                "GHCR lists one owner at a time: give the policy a name filter that starts \
                 with the user or organisation (myorg/**) or the registry a credential"
                    .into(),
            )
        })?;
        let owner = self.owner(owner_name).await?;
        let packages: Vec<Package> = self
            .all(format!(
                "{}?package_type=container&per_page=100&page=1",
                owner.packages(owner_name)
            ))
            .await?
            .unwrap_or_default();
        let names = packages
            .into_iter()
            .map(|p| format!("{owner_name}/{}", p.name).to_ascii_lowercase())
            .collect();
        Ok(names_page(names, after, page_size))
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
        let Some((owner_name, package)) = name.split_once('/') else {
            return Ok(ArtifactPage::default());
        };
        let owner = self.owner(owner_name).await?;
        let encoded: String = url::form_urlencoded::byte_serialize(package.as_bytes()).collect();
        let Some(versions) = self
            .all::<Version>(format!(
                "{}/container/{encoded}/versions?per_page=100&page=1",
                owner.packages(owner_name)
            ))
            .await?
        else {
            return Ok(ArtifactPage::default());
        };
        let mut tagged: Vec<(String, Option<Digest>)> = Vec::new();
        for version in versions {
            let digest = Digest::parse(&version.name).ok();
            if let Some(tags) = version.metadata["container"]["tags"].as_array() {
                for tag in tags.iter().filter_map(|t| t.as_str()) {
                    tagged.push((tag.to_string(), digest.clone()));
                }
            }
        }
        Ok(tagged_window(tagged, keep, window))
    }
}
