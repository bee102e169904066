//! `/v2/_catalog` and `/v2/<name>/tags/list`, paged with `n` and `last` as long as the
//! registry sends a `Link`.

use async_trait::async_trait;
use reqwest::header::LINK;
use reqwest::{Method, StatusCode};

use super::{pull, HttpRegistryClient};
use crate::adapters::registry::transport::Call;
use crate::oci::Repository;
use crate::ports::registry::{Catalog, RegistryError};

/// Tags asked for per page.
const TAGS_PAGE: &str = "1000";
/// The largest page body read.
const PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Tags of one repository beyond which the list is refused: no registry holds that many.
const MAX_TAGS: usize = 100_000;

#[derive(serde::Deserialize)]
struct CatalogPage {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[async_trait]
impl Catalog for HttpRegistryClient {
    async fn list_repositories(
        &self,
        page_size: usize,
        last: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let path = "/v2/_catalog";
        let mut url = self.t.url(path)?;
        url.query_pairs_mut()
            .append_pair("n", &page_size.to_string());
        if let Some(last) = last {
            url.query_pairs_mut().append_pair("last", last);
        }
        let call = Call::new(Method::GET, url, path, "registry:catalog:*");
        self.t
            .send(&call, |response| async move {
                if !response.status().is_success() {
                    return Err(self.t.unexpected("GET", path, response).await);
                }
                let more = response.headers().contains_key(LINK);
                let page: CatalogPage = self
                    .t
                    .read_json("GET", path, response, PAGE_BYTES, "catalog page")
                    .await?;
                let repositories = page.repositories.unwrap_or_default();
                let next = if more {
                    repositories.last().cloned()
                } else {
                    None
                };
                // A next page must start after this one, or paging would go round for ever.
                if let (Some(next), Some(last)) = (&next, last) {
                    if next.as_str() <= last {
                        return Err(self.t.invalid(format!(
                            "GET {path}: the catalog does not advance after {last:?}"
                        )));
                    }
                }
                Ok((repositories, next))
            })
            .await
    }

    async fn list_tags(&self, repository: &Repository) -> Result<Vec<String>, RegistryError> {
        let path = format!("/v2/{repository}/tags/list");
        let scope = pull(repository);
        let mut tags = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let mut url = self.t.url(&path)?;
            url.query_pairs_mut().append_pair("n", TAGS_PAGE);
            if let Some(last) = &last {
                url.query_pairs_mut().append_pair("last", last);
            }
            let call = Call::new(Method::GET, url, &path, &scope);
            let page = self
                .t
                .send(&call, |response| async {
                    if response.status() == StatusCode::NOT_FOUND {
                        return Ok(None);
                    }
                    if !response.status().is_success() {
                        return Err(self.t.unexpected("GET", &path, response).await);
                    }
                    let more = response.headers().contains_key(LINK);
                    let page: TagPage = self
                        .t
                        .read_json("GET", &path, response, PAGE_BYTES, "tag list page")
                        .await?;
                    Ok(Some((page.tags.unwrap_or_default(), more)))
                })
                .await?;
            let Some((page, more)) = page else {
                return Ok(tags);
            };
            let previous = last.take();
            last = page.last().cloned();
            if more
                && last
                    .as_ref()
                    .is_some_and(|l| previous.as_ref().is_some_and(|p| l <= p))
            {
                return Err(self.t.invalid(format!(
                    "GET {path}: the tag list does not advance after {previous:?}"
                )));
            }
            tags.extend(page);
            if tags.len() > MAX_TAGS {
                return Err(self.t.invalid(format!(
                    "GET {path}: over {MAX_TAGS} tags; Ferry stops reading an endless list"
                )));
            }
            if !more || last.is_none() {
                return Ok(tags);
            }
        }
    }
}
