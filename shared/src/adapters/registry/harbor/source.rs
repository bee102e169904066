//! Harbor as a source, through its v2.0 API rather than `_catalog`: robot accounts may not
//! list the catalog, and the API gives each artifact's tags, type, labels and accessories in
//! one call. `GET /api/v2.0/projects`, `GET /api/v2.0/projects/{project}/repositories` and
//! `GET /api/v2.0/projects/{project}/repositories/{repository}/artifacts?with_tag=true&with_label=true&with_accessory=true`,
//! paged by `page`/`page_size` and `Link` (Harbor's swagger, reference/harbor-v2.0-swagger.yaml).

use async_trait::async_trait;
use serde::Deserialize;

use crate::adapters::registry::json_api::{JsonApi, Page};
use crate::model::artifact_types::{ArtifactTypes, ManifestFacts, TypedBy};
use crate::model::ResourceType;
use crate::oci::{Digest, Repository};
use crate::ports::registry::RegistryError;
use crate::ports::source::{
    artifacts_window, names_page, ArtifactPage, ListedArtifact, SourceAdapter, TagWindow, Wanted,
};

const PAGE_SIZE: usize = 100;

pub struct HarborSource {
    pub(crate) api: JsonApi,
}

#[derive(Clone, Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct Artifact {
    digest: String,
    #[serde(rename = "type", default)]
    kind: String,
    /// The config's media type.
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    manifest_media_type: String,
    /// When the artifact was pushed: Harbor's listing has no creation time.
    #[serde(default)]
    push_time: Option<String>,
    #[serde(default)]
    tags: Option<Vec<Named>>,
    #[serde(default)]
    labels: Option<Vec<Named>>,
    #[serde(default)]
    accessories: Option<Vec<serde_json::Value>>,
}

/// An artifact's type: one registered here for its config media type, else the type Harbor
/// gave it (its own processors and extenders know types Ferry may not), `UNKNOWN` being
/// Harbor's `artifact`.
fn resource_type(types: &ArtifactTypes, artifact: &Artifact) -> ResourceType {
    let facts = ManifestFacts {
        media_type: artifact.manifest_media_type.clone(),
        config_media_type: Some(artifact.media_type.clone()).filter(|m| !m.is_empty()),
        ..ManifestFacts::default()
    };
    let classified = types.classify(&facts, None);
    if classified.by == TypedBy::Registered || artifact.kind.is_empty() {
        return classified.resource_type;
    }
    match artifact.kind.as_str() {
        "UNKNOWN" => ResourceType::ARTIFACT,
        kind => ResourceType::named(kind).unwrap_or(ResourceType::ARTIFACT),
    }
}

/// A repository's name without its project, as the artifacts route takes it: a `/` in it is
/// URL-encoded twice (`a/b` is `a%252Fb`), as Harbor's API asks.
fn encoded_twice(rest: &str) -> String {
    rest.replace('/', "%252F")
}

impl HarborSource {
    /// Every page of `first`, a JSON array each (none when it answers 404).
    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        first: String,
    ) -> Result<Vec<T>, RegistryError> {
        Ok(self
            .api
            .all(first, |page: Page<Vec<T>>| (page.body, page.next))
            .await?
            .unwrap_or_default())
    }

    async fn projects(&self) -> Result<Vec<String>, RegistryError> {
        let projects: Vec<Named> = self
            .all(format!("/api/v2.0/projects?page=1&page_size={PAGE_SIZE}"))
            .await?;
        let mut names: Vec<String> = projects.into_iter().map(|p| p.name).collect();
        names.sort();
        Ok(names)
    }

    async fn project_repositories(&self, project: &str) -> Result<Vec<String>, RegistryError> {
        let repositories: Vec<Named> = self
            .all(format!(
                "/api/v2.0/projects/{project}/repositories?page=1&page_size={PAGE_SIZE}"
            ))
            .await?;
        Ok(repositories.into_iter().map(|r| r.name).collect())
    }
}

#[async_trait]
impl SourceAdapter for HarborSource {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let projects = match within {
            Some(project) => vec![project.to_string()],
            None => self.projects().await?,
        };
        // Every project is read: names do not sort as their projects do (`a-b/x` < `a/x`),
        // so no project can be skipped for being before `after`'s.
        let mut names = Vec::new();
        for project in &projects {
            names.extend(self.project_repositories(project).await?);
        }
        Ok(names_page(names, after, page_size))
    }

    async fn artifacts(
        &self,
        repository: &Repository,
        window: TagWindow<'_>,
        keep: &(dyn for<'t> Fn(&'t str) -> bool + Send + Sync),
        wanted: Wanted<'_>,
    ) -> Result<ArtifactPage, RegistryError> {
        let name = repository.to_string();
        let Some((project, rest)) = name.split_once('/') else {
            // A Harbor repository always lives in a project.
            return Ok(ArtifactPage::default());
        };
        let artifacts: Vec<Artifact> = self
            .all(format!(
                "/api/v2.0/projects/{project}/repositories/{}/artifacts?with_tag=true&with_label=true&with_accessory=true&page=1&page_size={PAGE_SIZE}",
                encoded_twice(rest)
            ))
            .await?;
        let mut listed = Vec::new();
        for artifact in artifacts {
            let digest = Digest::parse(&artifact.digest).map_err(|e| {
                self.api
                    .t
                    .invalid(format!("{repository}: Harbor lists an artifact whose {e}"))
            })?;
            let labels: Vec<String> = artifact
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|l| l.name)
                .collect();
            let accessories = artifact.accessories.as_ref().is_some_and(|a| !a.is_empty());
            let kind = resource_type(wanted.types(), &artifact);
            let created = artifact
                .push_time
                .as_deref()
                .and_then(crate::model::newest::created_at);
            for tag in artifact.tags.unwrap_or_default() {
                if keep(&tag.name) {
                    listed.push(ListedArtifact {
                        tag: tag.name,
                        digest: Some(digest.clone()),
                        resource_type: kind.clone(),
                        labels: labels.clone(),
                        referrer_tags: accessories,
                        created,
                    });
                }
            }
        }
        Ok(artifacts_window(listed, window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harbor_names_map_to_ferry_names() {
        assert_eq!(encoded_twice("a/b/c"), "a%252Fb%252Fc");
        let artifact = |kind: &str, media_type: &str| Artifact {
            digest: String::new(),
            kind: kind.into(),
            media_type: media_type.into(),
            manifest_media_type: crate::oci::media::OCI_MANIFEST.into(),
            push_time: None,
            tags: None,
            labels: None,
            accessories: None,
        };
        let types = ArtifactTypes::built_in();
        let kind = |a: &Artifact| resource_type(&types, a);
        assert_eq!(kind(&artifact("CHART", "")), ResourceType::CHART);
        assert_eq!(kind(&artifact("IMAGE", "")), ResourceType::IMAGE);
        assert_eq!(kind(&artifact("CNAB", "")), ResourceType::CNAB);
        assert_eq!(kind(&artifact("UNKNOWN", "")), ResourceType::ARTIFACT);
        let registered = ArtifactTypes::from_yaml(
            "processors:\n  - type: model\n    config_media_types: [application/x.model+json]\n",
            &|_| None,
        )
        .expect("types");
        let model = artifact("MODEL_BY_HARBOR", "application/x.model+json");
        assert_eq!(resource_type(&registered, &model).as_str(), "model");
    }
}
