//! [`FakeRegistries`]: registry ids connected to [`MemoryRegistry`]s, with a source adapter
//! over each and namespaces for the ones that need them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::registry::MemoryRegistry;
use super::{lock, Faults, Injected};
use crate::model::{Registry, ResourceType};
use crate::oci::referrers::is_referrer_tag;
use crate::oci::{Reference, Repository, Tag};
use crate::ports::connect::Connect;
use crate::ports::registry::{
    Catalog, Manifests, Namespaces, RegistryClient, RegistryError, Visibility,
};
use crate::ports::source::{ArtifactPage, ListedArtifact, SourceAdapter, TagWindow, Wanted};

/// A source over a [`MemoryRegistry`]: its catalog, its tags (referrer tags left out), a HEAD
/// per tag, and the manifest for the kind and the annotations as labels when they are asked for.
struct MemorySource(MemoryRegistry);

#[async_trait]
impl SourceAdapter for MemorySource {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        _within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        self.0.list_repositories(page_size, after).await
    }

    async fn artifacts(
        &self,
        repository: &Repository,
        window: TagWindow<'_>,
        keep: &(dyn for<'t> Fn(&'t str) -> bool + Send + Sync),
        wanted: Wanted<'_>,
    ) -> Result<ArtifactPage, RegistryError> {
        let mut tags: Vec<String> = self
            .0
            .list_tags(repository)
            .await?
            .into_iter()
            .filter(|t| !is_referrer_tag(t) && keep(t))
            .filter(|t| window.after.is_none_or(|after| t.as_str() > after))
            .collect();
        tags.sort();
        let limit = window.limit.max(1);
        let next = (tags.len() > limit).then(|| tags[limit - 1].clone());
        tags.truncate(limit);
        let mut listed = Vec::new();
        for tag in tags {
            let Ok(reference) = Tag::parse(&tag).map(Reference::Tag) else {
                listed.push(ListedArtifact {
                    tag,
                    digest: None,
                    resource_type: ResourceType::IMAGE,
                    labels: Vec::new(),
                    referrer_tags: false,
                    created: None,
                });
                continue;
            };
            let manifest = self.0.get_manifest(repository, &reference).await?;
            let created = serde_json::from_slice::<serde_json::Value>(&manifest.bytes)
                .unwrap_or_default()["annotations"]["org.opencontainers.image.created"]
                .as_str()
                .and_then(crate::model::newest::created_at)
                .filter(|_| wanted.created);
            let annotations: serde_json::Value =
                serde_json::from_slice::<serde_json::Value>(&manifest.bytes).unwrap_or_default()
                    ["annotations"]
                    .clone();
            listed.push(ListedArtifact {
                tag,
                resource_type: if wanted.kind {
                    let facts = crate::model::artifact_types::ManifestFacts::read(
                        &manifest.bytes,
                        &manifest.media_type,
                    );
                    wanted.types().classify(&facts, None).resource_type
                } else {
                    ResourceType::IMAGE
                },
                labels: annotations
                    .as_object()
                    .filter(|_| wanted.labels)
                    .map(|map| map.keys().cloned().collect())
                    .unwrap_or_default(),
                digest: Some(manifest.digest),
                referrer_tags: false,
                created,
            });
        }
        Ok(ArtifactPage {
            artifacts: listed,
            next,
        })
    }
}

/// A destination's namespaces in memory: the ones made, and failures to inject.
#[derive(Default)]
pub struct MemoryNamespaces {
    made: Mutex<Vec<String>>,
    public: Mutex<Vec<String>>,
    pub faults: Faults,
}

impl MemoryNamespaces {
    pub fn made(&self) -> Vec<String> {
        lock(&self.made).clone()
    }

    /// The namespaces made public.
    pub fn public(&self) -> Vec<String> {
        lock(&self.public).clone()
    }
}

struct SharedNamespaces(Arc<MemoryNamespaces>);

#[async_trait]
impl Namespaces for SharedNamespaces {
    async fn ensure(&self, namespace: &str, visibility: Visibility) -> Result<bool, RegistryError> {
        if let Some(how) = self.0.faults.take("ensure") {
            let path = "/api/v2.0/projects".to_string();
            return Err(match how {
                Injected::Transient => RegistryError::Transient {
                    registry: "namespaces".into(),
                    method: "POST",
                    path,
                    message: "503: injected".into(),
                    retry_after: None,
                },
                Injected::Refused(status) => RegistryError::Refused {
                    registry: "namespaces".into(),
                    method: "POST",
                    path,
                    status,
                    code: None,
                    message: "refused".into(),
                },
            });
        }
        let mut made = lock(&self.0.made);
        if made.iter().any(|n| n == namespace) {
            return Ok(false);
        }
        made.push(namespace.to_string());
        if visibility.is_public() {
            lock(&self.0.public).push(namespace.to_string());
        }
        Ok(true)
    }
}

/// Registries by id: each a [`MemoryRegistry`], some with namespaces to make.
#[derive(Default)]
pub struct FakeRegistries {
    registries: Mutex<HashMap<i64, MemoryRegistry>>,
    namespaces: Mutex<HashMap<i64, Arc<MemoryNamespaces>>>,
}

impl FakeRegistries {
    pub fn add(&self, id: i64, registry: MemoryRegistry) {
        lock(&self.registries).insert(id, registry);
    }

    pub fn add_namespaces(&self, id: i64) -> Arc<MemoryNamespaces> {
        let namespaces = Arc::new(MemoryNamespaces::default());
        lock(&self.namespaces).insert(id, Arc::clone(&namespaces));
        namespaces
    }

    fn registry(&self, registry: &Registry) -> Result<MemoryRegistry, RegistryError> {
        lock(&self.registries)
            .get(&registry.id)
            .cloned()
            .ok_or_else(|| RegistryError::Invalid {
                registry: registry.name.clone(),
                what: format!("no fake registry {}", registry.id),
            })
    }
}

impl Connect for FakeRegistries {
    fn client(&self, registry: &Registry) -> Result<Box<dyn RegistryClient>, RegistryError> {
        let login = registry.credential.as_ref().map(|c| {
            (
                c.access_key.clone(),
                c.access_secret.clone().unwrap_or_default(),
            )
        });
        Ok(Box::new(self.registry(registry)?.presenting(login)))
    }

    fn source(&self, registry: &Registry) -> Result<Box<dyn SourceAdapter>, RegistryError> {
        Ok(Box::new(MemorySource(self.registry(registry)?)))
    }

    fn namespaces(
        &self,
        registry: &Registry,
    ) -> Result<Option<Box<dyn Namespaces>>, RegistryError> {
        Ok(lock(&self.namespaces)
            .get(&registry.id)
            .map(|n| Box::new(SharedNamespaces(Arc::clone(n))) as Box<dyn Namespaces>))
    }
}
