//! A chart repository as a source: its charts are the repositories, their versions the tags
//! (filtered by name and tag like any other), each listed with the digest of the artifact Ferry
//! builds from its package, so a version the destination holds costs no task. Only the window's
//! versions are built, a few at a time.

use async_trait::async_trait;
use futures::StreamExt;

use super::index::Entry;
use super::ChartRepository;
use crate::model::ResourceType;
use crate::oci::{Repository, Tag};
use crate::ports::registry::{Catalog, RegistryError};
use crate::ports::source::{ArtifactPage, ListedArtifact, SourceAdapter, TagWindow, Wanted};

/// Versions built at once (each reads its package).
const BUILD_PARALLELISM: usize = 8;

#[async_trait]
impl SourceAdapter for ChartRepository {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        _within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        self.list_repositories(page_size, after).await
    }

    async fn artifacts(
        &self,
        repository: &Repository,
        window: TagWindow<'_>,
        keep: &(dyn for<'t> Fn(&'t str) -> bool + Send + Sync),
        wanted: Wanted,
    ) -> Result<ArtifactPage, RegistryError> {
        let index = self.index().await?;
        let mut entries: Vec<Entry> = index
            .versions(repository.as_str())
            .iter()
            .filter(|e| keep(&e.tag()) && window.after.is_none_or(|after| e.tag().as_str() > after))
            .cloned()
            .collect();
        entries.sort_by_key(|e| e.tag());
        let limit = window.limit.max(1);
        let next = (entries.len() > limit).then(|| entries[limit - 1].tag());
        entries.truncate(limit);
        let described: Vec<Result<ListedArtifact, RegistryError>> = futures::stream::iter(entries)
            .map(|entry: Entry| async move {
                let tag = entry.tag();
                // A version that is no tag cannot be looked at: its task fails, saying so.
                if Tag::parse(&tag).is_err() {
                    return Ok(ListedArtifact {
                        tag,
                        digest: None,
                        resource_type: ResourceType::Chart,
                        labels: Vec::new(),
                        referrer_tags: false,
                    });
                }
                // A version whose package cannot be read or built is listed without a digest:
                // its task fails with the reason, the other versions go on.
                let built = match self.build(&entry).await {
                    Ok(built) => built,
                    Err(e) => {
                        tracing::warn!(error = %e, chart = %entry.name, version = %entry.version, "chart not built while listing");
                        return Ok(ListedArtifact {
                            tag,
                            digest: None,
                            resource_type: ResourceType::Chart,
                            labels: Vec::new(),
                            referrer_tags: false,
                        });
                    }
                };
                let labels = if wanted.labels {
                    let mut labels: Vec<String> = (built.artifact.annotations().into_iter())
                        .flat_map(|(k, v)| [format!("{k}={v}"), k])
                        .collect();
                    labels.sort();
                    labels.dedup();
                    labels
                } else {
                    Vec::new()
                };
                Ok(ListedArtifact {
                    tag,
                    digest: Some(built.manifest.digest.clone()),
                    resource_type: ResourceType::Chart,
                    labels,
                    referrer_tags: false,
                })
            })
            .buffered(BUILD_PARALLELISM)
            .collect()
            .await;
        Ok(ArtifactPage {
            artifacts: described.into_iter().collect::<Result<_, _>>()?,
            next,
        })
    }
}
