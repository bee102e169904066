//! CNCF distribution and anything speaking only the distribution API, as a source: the
//! catalog, tag lists, and the manifests (and image configs, for labels) themselves.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;

use crate::model::artifact_types::ManifestFacts;
use crate::model::newest::created_at;
use crate::model::ResourceType;
use crate::oci::referrers::{is_referrer_tag, referred_hex};
use crate::oci::{media, Digest, Reference, Repository, Tag};
use crate::ports::registry::{RegistryClient, RegistryError};
use crate::ports::source::{ArtifactPage, ListedArtifact, SourceAdapter, TagWindow, Wanted};

/// Artifacts described at once per repository.
const DESCRIBE_PARALLELISM: usize = 8;
/// Largest image config read for its labels.
const MAX_CONFIG_BYTES: usize = 1024 * 1024;

pub struct DistributionSource {
    pub client: Arc<dyn RegistryClient>,
}

impl DistributionSource {
    /// What the source says of one tag: its digest, and its kind and labels when asked for.
    /// A tag that is not a valid name is listed without a digest, for its task to fail.
    async fn describe(
        &self,
        repository: &Repository,
        listed: String,
        wanted: Wanted<'_>,
    ) -> Result<Option<ListedArtifact>, RegistryError> {
        let artifact = |digest, resource_type, labels| ListedArtifact {
            tag: listed.clone(),
            digest,
            resource_type,
            labels,
            referrer_tags: false,
            created: None,
        };
        let Ok(tag) = Tag::parse(&listed) else {
            return Ok(Some(artifact(None, ResourceType::IMAGE, Vec::new())));
        };
        let reference = Reference::Tag(tag);
        if !wanted.kind && !wanted.labels && !wanted.created {
            return Ok(self
                .client
                .head_manifest(repository, &reference)
                .await?
                .map(|(digest, _)| artifact(Some(digest), ResourceType::IMAGE, Vec::new())));
        }
        let manifest = match self.client.get_manifest(repository, &reference).await {
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
        let types = wanted.types();
        let facts = ManifestFacts::read(&manifest.bytes, &manifest.media_type);
        let config = match facts.config_digest.as_deref() {
            Some(digest) if wanted.kind && types.needs_config(&facts) => {
                Some(self.config(repository, digest).await?)
            }
            _ => None,
        };
        let kind = types.classify(&facts, config.as_ref()).resource_type;
        let created = if wanted.created {
            self.created(repository, &manifest.bytes, config.as_ref())
                .await?
        } else {
            None
        };
        Ok(Some(ListedArtifact {
            created,
            ..artifact(Some(manifest.digest), kind, labels)
        }))
    }

    /// When an artifact was made: the manifest's `org.opencontainers.image.created`
    /// annotation, else an image config's `created`; an index's is its first child's.
    async fn created(
        &self,
        repository: &Repository,
        manifest: &[u8],
        config: Option<&serde_json::Value>,
    ) -> Result<Option<time::OffsetDateTime>, RegistryError> {
        let parsed: serde_json::Value = serde_json::from_slice(manifest).unwrap_or_default();
        if let Some(at) = parsed["annotations"]["org.opencontainers.image.created"]
            .as_str()
            .and_then(created_at)
        {
            return Ok(Some(at));
        }
        if let Some(child) = parsed["manifests"][0]["digest"]
            .as_str()
            .and_then(|d| Digest::parse(d).ok())
        {
            let child = match self
                .client
                .get_manifest(repository, &Reference::Digest(child))
                .await
            {
                Ok(child) => child,
                Err(RegistryError::Refused { status: 404, .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let child: serde_json::Value = serde_json::from_slice(&child.bytes).unwrap_or_default();
            return self.image_created(repository, &child, None).await;
        }
        self.image_created(repository, &parsed, config).await
    }

    async fn image_created(
        &self,
        repository: &Repository,
        manifest: &serde_json::Value,
        config: Option<&serde_json::Value>,
    ) -> Result<Option<time::OffsetDateTime>, RegistryError> {
        let config_media_type = manifest["config"]["mediaType"].as_str().unwrap_or_default();
        let Some(digest) = manifest["config"]["digest"].as_str() else {
            return Ok(None);
        };
        let read;
        let config = match config {
            Some(config) => config,
            None if media::is_image_config(config_media_type) => {
                read = self.config(repository, digest).await?;
                &read
            }
            None => return Ok(None),
        };
        Ok(config["created"].as_str().and_then(created_at))
    }

    /// A config blob as JSON (null when it is not JSON), refused over [`MAX_CONFIG_BYTES`].
    async fn config(
        &self,
        repository: &Repository,
        digest: &str,
    ) -> Result<serde_json::Value, RegistryError> {
        let digest = Digest::parse(digest).map_err(|e| RegistryError::Invalid {
            registry: self.client.name().to_string(),
            what: format!("{repository}: the manifest's config {e}"),
        })?;
        let mut stream = self.client.get_blob_from(repository, &digest, 0).await?;
        let mut bytes = Vec::new();
        while let Some(piece) = stream.next().await {
            bytes.extend_from_slice(&piece?);
            if bytes.len() > MAX_CONFIG_BYTES {
                return Err(RegistryError::Invalid {
                    registry: self.client.name().to_string(),
                    what: format!("{repository}@{digest}: config over 1 MiB"),
                });
            }
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or_default())
    }

    /// The manifest's annotations and the image config's labels, as `key=value` and `key`.
    async fn labels(
        &self,
        repository: &Repository,
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
        let image_config = media::is_image_config(config["mediaType"].as_str().unwrap_or_default());
        if let (Some(digest), true) = (config["digest"].as_str(), image_config) {
            let config = self.config(repository, digest).await?;
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
        _within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        self.client.list_repositories(page_size, after).await
    }

    async fn artifacts(
        &self,
        repository: &Repository,
        window: TagWindow<'_>,
        keep: &(dyn for<'t> Fn(&'t str) -> bool + Send + Sync),
        wanted: Wanted<'_>,
    ) -> Result<ArtifactPage, RegistryError> {
        let (referrer_tags, mut tags): (Vec<String>, Vec<String>) = self
            .client
            .list_tags(repository)
            .await?
            .into_iter()
            .partition(|t| is_referrer_tag(t));
        tags.retain(|t| keep(t) && window.after.is_none_or(|after| t.as_str() > after));
        tags.sort();
        let limit = window.limit.max(1);
        let next = (tags.len() > limit).then(|| tags[limit - 1].clone());
        tags.truncate(limit);
        let referred: HashSet<&str> = referrer_tags
            .iter()
            .filter_map(|t| referred_hex(t))
            .collect();
        let described: Vec<Result<Option<ListedArtifact>, RegistryError>> =
            futures::stream::iter(tags)
                .map(|tag| self.describe(repository, tag, wanted))
                .buffered(DESCRIBE_PARALLELISM)
                .collect()
                .await;
        let artifacts = described
            .into_iter()
            .filter_map(Result::transpose)
            .map(|artifact| {
                artifact.map(|mut a| {
                    a.referrer_tags = a.digest.as_ref().is_some_and(|d| {
                        d.algorithm() == "sha256" && referred.contains(d.encoded())
                    });
                    a
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ArtifactPage { artifacts, next })
    }
}
