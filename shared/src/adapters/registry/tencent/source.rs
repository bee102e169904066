//! TCR as a source (`DescribeRepositories`, `DescribeImages`: tags with digests, so listing
//! costs no pull) and as a destination (`DescribeNamespaces`, `CreateNamespace`; TCR is Harbor
//! underneath, so a push makes its repository once the namespace exists). Pages are numbered
//! from 1 (`Offset` is the page, not the item) and names may match fuzzily: Ferry checks them.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{TcrApi, PAGE};
use crate::adapters::registry::cloud::numbered_pages;
use crate::oci::{Digest, Repository};
use crate::ports::registry::{Namespaces, RegistryError, Visibility};
use crate::ports::source::{
    names_page, tagged_window, ArtifactPage, SourceAdapter, TagWindow, Wanted,
};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Repositories {
    #[serde(default)]
    repository_list: Vec<TcrRepository>,
    #[serde(default)]
    total_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TcrRepository {
    /// The whole path, `<namespace>/<name>`.
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Images {
    #[serde(default)]
    image_info_list: Vec<TcrImage>,
    #[serde(default)]
    total_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TcrImage {
    image_version: String,
    #[serde(default)]
    digest: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NamespaceList {
    #[serde(default)]
    namespace_list: Vec<TcrNamespace>,
    #[serde(default)]
    total_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TcrNamespace {
    name: String,
}

impl TcrApi {
    /// Every page of `action`, asked with `body` and each page's `Offset` (its number) and
    /// `Limit`; None when the first answers `ResourceNotFound`.
    async fn pages<P: serde::de::DeserializeOwned, T>(
        &self,
        action: &str,
        body: serde_json::Value,
        items: impl Fn(P) -> (Vec<T>, Option<u64>),
    ) -> Result<Option<Vec<T>>, RegistryError> {
        numbered_pages(&self.api, PAGE, |number, _read| {
            let mut body = body.clone();
            body["Offset"] = json!(number);
            body["Limit"] = json!(PAGE);
            let items = &items;
            async move {
                match self.on_instance::<P>(action, body).await? {
                    Ok(page) => Ok(Some(items(page))),
                    Err(e) if e.is("ResourceNotFound") => Ok(None),
                    Err(e) => Err(self.refusal(action, &e)),
                }
            }
        })
        .await
    }
}

#[async_trait]
impl SourceAdapter for TcrApi {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let body = match within {
            Some(namespace) => json!({"NamespaceName": namespace}),
            None => json!({}),
        };
        let found = self
            .pages("DescribeRepositories", body, |p: Repositories| {
                (p.repository_list, p.total_count)
            })
            .await?
            .unwrap_or_default();
        let names = found
            .into_iter()
            .map(|r| r.name)
            .filter(|name| within.is_none_or(|ns| name.starts_with(&format!("{ns}/"))))
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
        let body = json!({"NamespaceName": namespace, "RepositoryName": name});
        let Some(images) = self
            .pages("DescribeImages", body, |p: Images| {
                (p.image_info_list, p.total_count)
            })
            .await?
        else {
            return Ok(ArtifactPage::default());
        };
        let tagged = images
            .into_iter()
            .map(|i| {
                let digest = i.digest.as_deref().and_then(|d| Digest::parse(d).ok());
                (i.image_version, digest)
            })
            .collect();
        Ok(tagged_window(tagged, keep, window))
    }
}

#[async_trait]
impl Namespaces for TcrApi {
    async fn ensure(&self, namespace: &str, visibility: Visibility) -> Result<bool, RegistryError> {
        let listed = self
            .pages(
                "DescribeNamespaces",
                json!({"NamespaceName": namespace}),
                |p: NamespaceList| (p.namespace_list, p.total_count),
            )
            .await?
            .unwrap_or_default();
        if listed.iter().any(|n| n.name == namespace) {
            return Ok(false);
        }
        let action = "CreateNamespace";
        let body = json!({"NamespaceName": namespace, "IsPublic": visibility.is_public()});
        match self.on_instance::<serde_json::Value>(action, body).await? {
            Ok(_) => Ok(true),
            // Made meanwhile by another process.
            Err(e) if e.code.contains("ResourceConflict") => Ok(false),
            Err(e)
                if e.is("UnauthorizedOperation") || e.is("AuthFailure.UnauthorizedOperation") =>
            {
                Err(self.api.t.invalid(format!(
                    "TCR has no namespace {namespace:?} and the key may not create it \
                     ({}: {}): create it, or allow tcr:CreateNamespace",
                    e.code, e.message
                )))
            }
            Err(e) => Err(self.refusal(action, &e)),
        }
    }
}
