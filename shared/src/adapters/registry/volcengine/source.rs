//! Volcengine CR as a source (`ListRepositories`, `ListTags`: tags with digests) and as a
//! destination: a push needs its namespace and its repository made first (`CreateNamespace`,
//! `CreateRepository`), as Harbor's adapter makes them.

use std::collections::HashSet;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::{VolcApi, PAGE};
use crate::adapters::registry::cloud::numbered_pages;
use crate::oci::{Digest, Repository};
use crate::ports::registry::{Namespaces, RegistryError, Visibility};
use crate::ports::source::{
    names_page, tagged_window, ArtifactPage, SourceAdapter, TagWindow, Wanted,
};

/// A page of items, as every list call of CR answers it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Items<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    #[serde(default)]
    total_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CrRepository {
    /// Within its namespace.
    name: String,
    namespace: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CrTag {
    name: String,
    #[serde(default)]
    digest: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CrNamespace {
    name: String,
}

impl VolcApi {
    /// Every page of `action` with `body` (`PageNumber` from 1); None when the first answers
    /// that the namespace or repository listed does not exist (`NotFound.Registry`, say, is an
    /// error).
    async fn pages<T: serde::de::DeserializeOwned>(
        &self,
        action: &str,
        body: Value,
    ) -> Result<Option<Vec<T>>, RegistryError> {
        numbered_pages(&self.api, PAGE, |number, _read| {
            let mut body = body.clone();
            body["PageNumber"] = json!(number);
            body["PageSize"] = json!(PAGE);
            async move {
                match self.call::<Items<T>>(action, body).await? {
                    Ok(page) => Ok(Some((page.items, page.total_count))),
                    Err(e) if e.is("NotFound.Namespace") || e.is("NotFound.Repository") => Ok(None),
                    Err(e) => Err(self.refusal(action, &e)),
                }
            }
        })
        .await
    }

    /// Whether `action`'s list, filtered by `filter`, holds an item named `name`.
    async fn holds<T: serde::de::DeserializeOwned>(
        &self,
        action: &str,
        filter: Value,
        name: impl Fn(&T) -> bool,
    ) -> Result<bool, RegistryError> {
        let found: Vec<T> = self
            .pages(action, json!({"Filter": filter}))
            .await?
            .unwrap_or_default();
        Ok(found.iter().any(name))
    }

    /// Creates with `action`; true when made now, false when it exists already.
    async fn create(&self, action: &str, body: Value, what: &str) -> Result<bool, RegistryError> {
        match self.call::<Value>(action, body).await? {
            Ok(_) => Ok(true),
            Err(e) if e.is("AlreadyExists") => Ok(false),
            Err(e) if e.is("AccessDenied") => Err(self.api.t.invalid(format!(
                "Volcengine CR has no {what} and the key may not create it ({}: {}): create \
                 it, or allow cr:{action}",
                e.code, e.message
            ))),
            Err(e) => Err(self.refusal(action, &e)),
        }
    }
}

#[async_trait]
impl SourceAdapter for VolcApi {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let body = match within {
            Some(namespace) => json!({"Filter": {"Namespaces": [namespace]}}),
            None => json!({}),
        };
        let found: Vec<CrRepository> = self
            .pages("ListRepositories", body)
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
        let body = json!({"Namespace": namespace, "Repository": name});
        let Some(tags) = self.pages::<CrTag>("ListTags", body).await? else {
            return Ok(ArtifactPage::default());
        };
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

/// The destination side: namespaces made once per process, repositories before their push.
pub struct VolcNamespaces {
    pub(crate) api: VolcApi,
    /// Namespaces known to exist.
    known: Mutex<HashSet<String>>,
}

impl VolcNamespaces {
    pub fn new(api: VolcApi) -> Self {
        Self {
            api,
            known: Mutex::new(HashSet::new()),
        }
    }

    async fn ensure_namespace(&self, namespace: &str) -> Result<bool, RegistryError> {
        if self.known.lock().await.contains(namespace) {
            return Ok(false);
        }
        let filter = json!({"Names": [namespace]});
        let exists = self
            .api
            .holds("ListNamespaces", filter, |n: &CrNamespace| {
                n.name == namespace
            })
            .await?;
        let created = !exists
            && self
                .api
                .create(
                    "CreateNamespace",
                    json!({"Name": namespace}),
                    &format!("namespace {namespace:?}"),
                )
                .await?;
        self.known.lock().await.insert(namespace.to_string());
        Ok(created)
    }
}

#[async_trait]
impl Namespaces for VolcNamespaces {
    /// A repository is made before its push: the whole name.
    fn namespace_of(&self, repository: &str) -> Option<String> {
        Some(repository.to_string())
    }

    fn refuse_name(&self, repository: &str) -> Option<String> {
        (!repository.contains('/')).then(|| {
            format!(
                "{repository:?} cannot go to Volcengine CR: its repositories are \
                 <namespace>/<name>"
            )
        })
    }

    async fn ensure(
        &self,
        repository: &str,
        visibility: Visibility,
    ) -> Result<bool, RegistryError> {
        let Some((namespace, name)) = repository.split_once('/') else {
            return Err(self
                .api
                .api
                .t
                .invalid(format!("{repository:?} names no namespace")));
        };
        let namespace_made = self.ensure_namespace(namespace).await?;
        let filter = json!({"Namespaces": [namespace], "Names": [name]});
        let exists = self
            .api
            .holds("ListRepositories", filter, |r: &CrRepository| {
                r.namespace == namespace && r.name == name
            })
            .await?;
        if exists {
            return Ok(namespace_made);
        }
        let body = json!({"Namespace": namespace, "Name": name, "AccessLevel": if visibility.is_public() { "Public" } else { "Private" }});
        let made = self
            .api
            .create(
                "CreateRepository",
                body,
                &format!("repository {repository:?}"),
            )
            .await?;
        Ok(made || namespace_made)
    }
}
