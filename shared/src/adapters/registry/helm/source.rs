//! A chart repository as a source: its charts are the repositories, their versions the tags
//! (filtered by name and tag like any other), each listed with the digest of the artifact Ferry
//! builds from its package, so a version the destination holds costs no task. Only the window's
//! versions are built, a few at a time.

use async_trait::async_trait;
use futures::StreamExt;

use super::index::Entry;
use super::{ChartRepository, IndexRead};
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
        wanted: Wanted<'_>,
    ) -> Result<ArtifactPage, RegistryError> {
        let read = self.index().await?;
        let mut entries: Vec<Entry> = (read.index.versions(repository.as_str()).iter())
            .filter(|e| keep(&e.tag()) && window.after.is_none_or(|after| e.tag().as_str() > after))
            .cloned()
            .collect();
        entries.sort_by_key(Entry::tag);
        let limit = window.limit.max(1);
        let next = (entries.len() > limit).then(|| entries[limit - 1].tag());
        entries.truncate(limit);
        let read = &read;
        let artifacts = futures::stream::iter(entries)
            .map(|entry| async move { self.describe(&entry, read, wanted).await })
            .buffered(BUILD_PARALLELISM)
            .collect()
            .await;
        Ok(ArtifactPage { artifacts, next })
    }
}

impl ChartRepository {
    /// One version as listed: with the digest of the artifact it builds to, and its annotations
    /// as labels when asked. A version that is no tag, or whose package cannot be read or built,
    /// is listed without a digest: its task fails with the reason, the other versions go on.
    async fn describe(
        &self,
        entry: &Entry,
        read: &IndexRead,
        wanted: Wanted<'_>,
    ) -> ListedArtifact {
        let mut listed = ListedArtifact {
            tag: entry.tag(),
            digest: None,
            resource_type: ResourceType::CHART,
            labels: Vec::new(),
            referrer_tags: false,
            created: None,
        };
        if Tag::parse(&listed.tag).is_err() {
            return listed;
        }
        let built = match self.build(entry, read).await {
            Ok(built) => built,
            Err(e) => {
                tracing::warn!(error = %e, chart = %entry.name, version = %entry.version, "chart not built while listing");
                return listed;
            }
        };
        if wanted.labels {
            listed.labels = (built.artifact.annotations().into_iter())
                .flat_map(|(k, v)| [format!("{k}={v}"), k])
                .collect();
            listed.labels.sort();
            listed.labels.dedup();
        }
        listed.digest = Some(built.manifest.digest.clone());
        listed
    }
}
