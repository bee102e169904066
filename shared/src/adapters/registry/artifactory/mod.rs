//! JFrog Artifactory, by the repository path method: an image's first path component is the key
//! of a local Docker repository (`docker-local/team/app`). Blobs, manifests and tags through the
//! distribution API; repositories through Artifactory's REST API (the local Docker repositories,
//! then each one's catalog under `/artifactory/api/docker/<key>/v2/`); a missing local Docker
//! repository created when the user may (https://jfrog.com/help/r/jfrog-rest-apis/get-repositories,
//! .../create-repository, .../docker-registry-api).

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::distribution::DistributionSource;
use super::json_api::{JsonApi, Page};
use crate::oci::Repository;
use crate::ports::registry::{Namespaces, RegistryError, Visibility};
use crate::ports::source::{names_page, ArtifactPage, SourceAdapter, TagWindow, Wanted};

#[derive(Deserialize)]
struct LocalRepository {
    key: String,
}

#[derive(Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

pub struct ArtifactoryApi {
    pub(crate) api: JsonApi,
    pub(crate) registry: DistributionSource,
}

#[async_trait]
impl SourceAdapter for ArtifactoryApi {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let keys: Vec<String> = match within {
            Some(key) => vec![key.to_string()],
            None => self
                .api
                .get::<Vec<LocalRepository>>(
                    "/artifactory/api/repositories?type=local&packageType=docker",
                )
                .await?
                .map(|page| page.body.into_iter().map(|r| r.key).collect())
                .unwrap_or_default(),
        };
        // Every key is read: names do not sort as their keys do (`a-b/x` < `a/x` < `a` ...).
        let mut names = Vec::new();
        for key in &keys {
            let first = format!("/artifactory/api/docker/{key}/v2/_catalog?n=1000");
            let images = self
                .api
                .all(first, |page: Page<Catalog>| {
                    (page.body.repositories.unwrap_or_default(), page.next)
                })
                .await?
                .unwrap_or_default();
            names.extend(images.into_iter().map(|image| format!("{key}/{image}")));
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
impl Namespaces for ArtifactoryApi {
    fn refuse_name(&self, repository: &str) -> Option<String> {
        (!repository.contains('/')).then(|| {
            format!(
                "{repository:?} cannot go to Artifactory: the first path component is the \
                 Docker repository's key (<key>/<image>); set the policy's dest_namespace to it"
            )
        })
    }

    async fn ensure(&self, key: &str, _visibility: Visibility) -> Result<bool, RegistryError> {
        let path = format!("/artifactory/api/repositories/{key}");
        let (status, _) = self.api.send_json(Method::GET, &path, None).await?;
        if status.is_success() {
            return Ok(false);
        }
        let body = serde_json::json!({"key": key, "rclass": "local", "packageType": "docker"});
        let (status, answer) = self.api.send_json(Method::PUT, &path, Some(&body)).await?;
        match status {
            s if s.is_success() => Ok(true),
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => Err(self.api.t.invalid(format!(
                "Artifactory has no Docker repository {key:?} and the user may not create it: \
                 create a local Docker repository with that key"
            ))),
            other => Err(self.api.t.invalid(format!(
                "PUT {path} answered {other}: {}",
                String::from_utf8_lossy(&answer)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ))),
        }
    }
}
