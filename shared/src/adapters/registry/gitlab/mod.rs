//! GitLab's container registry: blobs, manifests and tags through the distribution API (its
//! token service is GitLab's `/jwt/auth`, answered for a user and a personal or deploy token);
//! repositories through GitLab's API, since the registry's `_catalog` is off: the projects the
//! token is a member of, and each one's registry repositories
//! (https://docs.gitlab.com/api/container_registry/, paged by `X-Next-Page`). A destination
//! path must belong to an existing project. registry.gitlab.com's API is gitlab.com's; any
//! other URL serves both at one origin.

use async_trait::async_trait;
use serde::Deserialize;

use super::distribution::DistributionSource;
use super::json_api::{JsonApi, Page};
use crate::model::Registry;
use crate::oci::Repository;
use crate::ports::registry::{Namespaces, RegistryError, Visibility};
use crate::ports::source::{names_page, ArtifactPage, SourceAdapter, TagWindow, Wanted};

const PER_PAGE: usize = 100;

/// Where GitLab's API is for a registry record.
pub fn api_base(registry: &Registry) -> String {
    let gitlab_com = url::Url::parse(&registry.url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h == "registry.gitlab.com"))
        .unwrap_or(false);
    if gitlab_com {
        "https://gitlab.com".into()
    } else {
        registry.url.clone()
    }
}

#[derive(Deserialize)]
struct Project {
    id: i64,
    path_with_namespace: String,
}

#[derive(Deserialize)]
struct RegistryRepository {
    path: String,
}

/// The next page of a GitLab listing, from `X-Next-Page` (empty on the last).
fn next_page<B>(path: &str, page: &Page<B>) -> Option<String> {
    page.header("x-next-page")
        .map(|n| format!("{path}{}per_page={PER_PAGE}&page={n}", separator(path)))
}

fn separator(path: &str) -> &'static str {
    if path.contains('?') {
        "&"
    } else {
        "?"
    }
}

pub struct GitlabApi {
    pub(crate) api: JsonApi,
    /// Tags and digests are the registry's.
    pub(crate) registry: DistributionSource,
}

impl GitlabApi {
    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<Vec<T>>, RegistryError> {
        let first = format!("{path}{}per_page={PER_PAGE}&page=1", separator(path));
        self.api
            .all(first, |page: Page<Vec<T>>| {
                let next = next_page(path, &page);
                (page.body, next)
            })
            .await
    }
}

#[async_trait]
impl SourceAdapter for GitlabApi {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let projects: Vec<Project> = self
            .all("/api/v4/projects?membership=true&simple=true")
            .await?
            .unwrap_or_default();
        let mut names = Vec::new();
        for project in projects
            .iter()
            .filter(|p| within.is_none_or(|w| p.path_with_namespace.split('/').next() == Some(w)))
        {
            let repositories: Vec<RegistryRepository> = self
                .all(&format!(
                    "/api/v4/projects/{}/registry/repositories",
                    project.id
                ))
                .await?
                .unwrap_or_default();
            names.extend(repositories.into_iter().map(|r| r.path));
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
        self.registry
            .artifacts(repository, window, keep, wanted)
            .await
    }
}

#[async_trait]
impl Namespaces for GitlabApi {
    /// The project is some leading part of the path (groups nest): the whole path is checked.
    fn namespace_of(&self, repository: &str) -> Option<String> {
        Some(repository.to_string())
    }

    fn refuse_name(&self, repository: &str) -> Option<String> {
        (repository.split('/').count() < 2).then(|| {
            format!("{repository:?} cannot go to GitLab: its images live under <group>/<project>")
        })
    }

    async fn ensure(
        &self,
        repository: &str,
        _visibility: Visibility,
    ) -> Result<bool, RegistryError> {
        let parts: Vec<&str> = repository.split('/').collect();
        // The longest leading path that is a project (an image may be the project itself).
        for end in (2..=parts.len()).rev() {
            let path = parts[..end].join("/");
            let encoded: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
            if self
                .api
                .get::<serde_json::Value>(&format!("/api/v4/projects/{encoded}"))
                .await?
                .is_some()
            {
                return Ok(false);
            }
        }
        Err(self.api.t.invalid(format!(
            "GitLab has no project {repository:?} could live in: create the project \
             (e.g. {}) first; Ferry does not create GitLab projects",
            parts[..2.min(parts.len())].join("/")
        )))
    }
}
