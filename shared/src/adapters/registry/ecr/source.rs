//! ECR as a source: `DescribeRepositories` and `DescribeImages` (tagged images, with their
//! tags, digest and artifact media type), paged by the SDK's paginators
//! (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImages.html).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecr::types::{DescribeImagesFilter, TagStatus};

use super::{code_of, EcrApi};
use crate::model::artifact_types::{ArtifactTypes, ManifestFacts};
use crate::model::ResourceType;
use crate::oci::{media, Digest, Repository};
use crate::ports::registry::RegistryError;
use crate::ports::source::{
    artifacts_window, names_page, ArtifactPage, ListedArtifact, SourceAdapter, TagWindow, Wanted,
};

/// Repositories ECR describes per call (its maximum).
const REPOSITORIES_PER_CALL: i32 = 1000;

pub struct EcrSource {
    pub(crate) api: Arc<EcrApi>,
}

/// An image's type from what `DescribeImages` tells of it: its manifest's media type and its
/// `artifactMediaType` (the config's). An image without a config media type is an image.
fn resource_type(
    types: &ArtifactTypes,
    manifest_media_type: Option<&str>,
    config_media_type: Option<&str>,
) -> ResourceType {
    let Some(config) = config_media_type.filter(|c| !c.is_empty()) else {
        return ResourceType::IMAGE;
    };
    let facts = ManifestFacts {
        media_type: manifest_media_type
            .unwrap_or(media::OCI_MANIFEST)
            .to_string(),
        config_media_type: Some(config.to_string()),
        ..ManifestFacts::default()
    };
    types.classify(&facts, None).resource_type
}

#[async_trait]
impl SourceAdapter for EcrSource {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let client = self.api.client().await;
        let mut pages = client
            .describe_repositories()
            .set_registry_id(self.api.registry_id.clone())
            .max_results(REPOSITORIES_PER_CALL)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.api.error("DescribeRepositories", e))?;
            names.extend(
                page.repositories()
                    .iter()
                    .filter_map(|r| r.repository_name())
                    .filter(|n| within.is_none_or(|w| n.starts_with(&format!("{w}/"))))
                    .map(str::to_string),
            );
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
        let client = self.api.client().await;
        let mut pages = client
            .describe_images()
            .set_registry_id(self.api.registry_id.clone())
            .repository_name(repository.to_string())
            .filter(
                DescribeImagesFilter::builder()
                    .tag_status(TagStatus::Tagged)
                    .build(),
            )
            .into_paginator()
            .send();
        let mut listed = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) if code_of(&e) == "RepositoryNotFoundException" => {
                    return Ok(ArtifactPage::default())
                }
                Err(e) => return Err(self.api.error("DescribeImages", e)),
            };
            for image in page.image_details() {
                let digest = image.image_digest().and_then(|d| Digest::parse(d).ok());
                let kind = resource_type(
                    wanted.types(),
                    image.image_manifest_media_type(),
                    image.artifact_media_type(),
                );
                // ECR keeps when an image was pushed, not when it was made.
                let pushed_at = image.image_pushed_at().and_then(|t| {
                    time::OffsetDateTime::from_unix_timestamp_nanos(
                        i128::from(t.secs()) * 1_000_000_000 + i128::from(t.subsec_nanos()),
                    )
                    .ok()
                });
                for tag in image.image_tags() {
                    if keep(tag) {
                        listed.push(ListedArtifact {
                            tag: tag.clone(),
                            digest: digest.clone(),
                            resource_type: kind.clone(),
                            labels: Vec::new(),
                            referrer_tags: false,
                            created: pushed_at,
                        });
                    }
                }
            }
        }
        Ok(artifacts_window(listed, window))
    }
}
