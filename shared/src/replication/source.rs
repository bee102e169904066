//! What the lister asks of a source registry, behind one trait because registries list
//! differently: CNCF distribution has `_catalog` and `tags/list` and nothing about an artifact
//! but its manifest; Harbor lists artifacts with their tags, types and labels in one call;
//! ECR has `DescribeRepositories` and `DescribeImages`. Each kind answers the same questions.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;

use crate::model::ResourceType;
use crate::ports::registry::{RegistryClient, RegistryError};
use crate::registry::media;

/// One tagged artifact of a repository, as far as the lister needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedArtifact {
    pub tag: String,
    pub digest: String,
    /// Known when [`Wanted::kind`] was asked for; otherwise `Image`.
    pub resource_type: ResourceType,
    /// The artifact's labels when [`Wanted::labels`] was asked for.
    pub labels: Vec<String>,
    /// Referrers of it live under tags (cosign's `.sig` and the like): they may have changed
    /// though the artifact did not.
    pub referrer_tags: bool,
}

/// What the policy's filters need beyond tag and digest; each costs requests on some kinds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanted {
    pub kind: bool,
    pub labels: bool,
}

#[async_trait]
pub trait SourceAdapter: Send + Sync {
    /// Up to `page_size` repositories after `after`, and where the next page starts.
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError>;
    /// The tagged artifacts of `repository` whose tag `keep` accepts (none when the repository
    /// does not exist). Tags that only carry referrers of another artifact (cosign's
    /// `sha256-<hex>.sig` and the like) are left out: they follow their subject.
    async fn artifacts(
        &self,
        repository: &str,
        keep: &(dyn for<'t> Fn(&'t str) -> bool + Send + Sync),
        wanted: Wanted,
    ) -> Result<Vec<ListedArtifact>, RegistryError>;
}

/// Whether a tag names referrers of an artifact rather than an artifact: `sha256-<hex>` (the OCI
/// referrers tag schema) with or without cosign's `.sig`, `.att`, `.sbom` suffixes.
pub fn is_referrer_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-").is_some_and(|rest| {
        let hex = rest.split('.').next().unwrap_or_default();
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The kind of artifact a manifest is, from its media types, as Harbor's resource filter sees
/// it: Helm charts by their config, images (and multi-arch indexes of them), and the rest.
pub fn resource_kind(manifest: &[u8], media_type: &str) -> ResourceType {
    let parsed: serde_json::Value = serde_json::from_slice(manifest).unwrap_or_default();
    let artifact_type = parsed["artifactType"].as_str();
    let config = parsed["config"]["mediaType"].as_str().unwrap_or_default();
    if config == media::HELM_CONFIG {
        return ResourceType::Chart;
    }
    if artifact_type.is_some() {
        return ResourceType::Artifact;
    }
    if media::is_index(media_type) || media::is_image_config(config) {
        ResourceType::Image
    } else {
        ResourceType::Artifact
    }
}

/// Artifacts described at once per repository.
const DESCRIBE_PARALLELISM: usize = 8;
/// Largest image config read for its labels.
const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// CNCF distribution and anything speaking only the distribution API: the catalog, tag lists,
/// and the manifests (and image configs, for labels) themselves.
pub struct DistributionSource {
    pub client: Arc<dyn RegistryClient>,
}

impl DistributionSource {
    async fn describe(
        &self,
        repository: &str,
        tag: String,
        wanted: Wanted,
    ) -> Result<Option<ListedArtifact>, RegistryError> {
        if !wanted.kind && !wanted.labels {
            return Ok(self
                .client
                .head_manifest(repository, &tag)
                .await?
                .map(|(digest, _)| ListedArtifact {
                    tag,
                    digest,
                    resource_type: ResourceType::Image,
                    labels: Vec::new(),
                    referrer_tags: false,
                }));
        }
        let manifest = match self.client.get_manifest(repository, &tag).await {
            Ok(m) => m,
            // Deleted between the tag list and now.
            Err(RegistryError::Refused { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let labels = if wanted.labels {
            self.labels(repository, &manifest.bytes).await?
        } else {
            Vec::new()
        };
        Ok(Some(ListedArtifact {
            resource_type: resource_kind(&manifest.bytes, &manifest.media_type),
            tag,
            digest: manifest.digest,
            labels,
            referrer_tags: false,
        }))
    }

    /// The manifest's annotations and the image config's labels, as `key=value` and `key`.
    async fn labels(
        &self,
        repository: &str,
        manifest: &[u8],
    ) -> Result<Vec<String>, RegistryError> {
        let parsed: serde_json::Value = serde_json::from_slice(manifest).unwrap_or_default();
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut take = |map: &serde_json::Value| {
            if let Some(map) = map.as_object() {
                for (key, value) in map {
                    pairs.push((key.clone(), value.as_str().unwrap_or_default().to_string()));
                }
            }
        };
        take(&parsed["annotations"]);
        let config = &parsed["config"];
        if let (Some(digest), true) = (
            config["digest"].as_str(),
            media::is_image_config(config["mediaType"].as_str().unwrap_or_default()),
        ) {
            let mut stream = self.client.get_blob_from(repository, digest, 0).await?;
            let mut bytes = Vec::new();
            while let Some(piece) = stream.next().await {
                bytes.extend_from_slice(&piece?);
                if bytes.len() > MAX_CONFIG_BYTES {
                    return Err(RegistryError::Invalid {
                        registry: self.client.name().to_string(),
                        what: format!("{repository}@{digest}: image config over 1 MiB"),
                    });
                }
            }
            let config: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            take(&config["config"]["Labels"]);
        }
        let mut labels: Vec<String> = pairs
            .into_iter()
            .flat_map(|(key, value)| [format!("{key}={value}"), key])
            .collect();
        labels.sort();
        labels.dedup();
        Ok(labels)
    }
}

#[async_trait]
impl SourceAdapter for DistributionSource {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        self.client.list_repositories(page_size, after).await
    }

    async fn artifacts(
        &self,
        repository: &str,
        keep: &(dyn for<'t> Fn(&'t str) -> bool + Send + Sync),
        wanted: Wanted,
    ) -> Result<Vec<ListedArtifact>, RegistryError> {
        let (referrer_tags, tags): (Vec<String>, Vec<String>) = self
            .client
            .list_tags(repository)
            .await?
            .into_iter()
            .partition(|t| is_referrer_tag(t));
        let tags: Vec<String> = tags.into_iter().filter(|t| keep(t)).collect();
        let referred: std::collections::HashSet<&str> = referrer_tags
            .iter()
            .filter_map(|t| t.get("sha256-".len().."sha256-".len() + 64))
            .collect();
        let described: Vec<Result<Option<ListedArtifact>, RegistryError>> =
            futures::stream::iter(tags)
                .map(|tag| self.describe(repository, tag, wanted))
                .buffered(DESCRIBE_PARALLELISM)
                .collect()
                .await;
        described
            .into_iter()
            .filter_map(Result::transpose)
            .map(|artifact| {
                artifact.map(|mut a| {
                    let hex = a.digest.strip_prefix("sha256:").unwrap_or_default();
                    a.referrer_tags = referred.contains(hex);
                    a
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrer_tags_are_told_from_artifact_tags() {
        let hex = "a".repeat(64);
        assert!(is_referrer_tag(&format!("sha256-{hex}")));
        assert!(is_referrer_tag(&format!("sha256-{hex}.sig")));
        assert!(is_referrer_tag(&format!("sha256-{hex}.sbom")));
        assert!(!is_referrer_tag("sha256-short.sig"));
        assert!(!is_referrer_tag("v1.2.3"));
        assert!(!is_referrer_tag(&format!("sha256-{}", "g".repeat(64))));
    }

    #[test]
    fn kinds_come_from_media_types() {
        let image = br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json"}}"#;
        let docker =
            br#"{"config":{"mediaType":"application/vnd.docker.container.image.v1+json"}}"#;
        let chart = br#"{"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json"}}"#;
        let sbom = br#"{"artifactType":"application/spdx+json","config":{"mediaType":"application/vnd.oci.empty.v1+json"}}"#;
        let wasm = br#"{"config":{"mediaType":"application/vnd.wasm.config.v0+json"}}"#;
        let oci = "application/vnd.oci.image.manifest.v1+json";
        assert_eq!(resource_kind(image, oci), ResourceType::Image);
        assert_eq!(
            resource_kind(docker, media::DOCKER_MANIFEST),
            ResourceType::Image
        );
        assert_eq!(resource_kind(chart, oci), ResourceType::Chart);
        assert_eq!(resource_kind(sbom, oci), ResourceType::Artifact);
        assert_eq!(resource_kind(wasm, oci), ResourceType::Artifact);
        assert_eq!(resource_kind(b"{}", media::OCI_INDEX), ResourceType::Image);
    }
}
