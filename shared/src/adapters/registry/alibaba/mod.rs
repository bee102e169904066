//! Alibaba Cloud Container Registry (ACR): blobs and manifests through the distribution API with
//! a temporary login; the login, listing, namespaces and repositories through ACR's API at
//! `cr.<region>.aliyuncs.com`, signed with the AccessKey pair, in one of two editions:
//!
//! - personal (`registry.<region>.aliyuncs.com`): API 2016-06-07, ROA style (`personal.rs`);
//! - enterprise (`<instance>-registry.<region>.cr.aliyuncs.com`, or `options.instance`): API
//!   2018-12-01, RPC style, calls about one instance (`enterprise.rs`).
//!
//! What Ferry does with either is the same, here: repositories are `<namespace>/<name>`; a
//! namespace Ferry makes creates its repositories on push; in a namespace that does not, Ferry
//! makes the repository first.

mod enterprise;
mod personal;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::auth::{Login, Minted};
use super::cloud::{self, SignedApi};
use super::transport::Transport;
use crate::model::kinds::{alibaba_endpoint, CloudApi};
use crate::model::Registry;
use crate::oci::{Digest, Repository};
use crate::ports::registry::{Namespaces, RegistryError, Visibility};
use crate::ports::source::{
    names_page, tagged_window, ArtifactPage, SourceAdapter, TagWindow, Wanted,
};

const PAGE: usize = 100;

/// A temporary registry login.
pub(crate) struct Token {
    pub user: String,
    pub password: String,
    /// Milliseconds since the epoch.
    pub expires_ms: Option<u64>,
}

/// What each edition's API answers, in Ferry's terms.
#[async_trait]
pub(crate) trait Edition: Send + Sync {
    fn api(&self) -> &SignedApi;
    async fn token(&self) -> Result<Token, RegistryError>;
    /// Every repository, `(namespace, name)`, of `within` or of all namespaces.
    async fn repositories(
        &self,
        within: Option<&str>,
    ) -> Result<Vec<(String, String)>, RegistryError>;
    /// The tags and digests of a repository; None when it does not exist.
    async fn tags(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Vec<(String, String)>>, RegistryError>;
    /// Whether the namespace creates repositories on push; None when it does not exist.
    async fn namespace(&self, namespace: &str) -> Result<Option<bool>, RegistryError>;
    /// Makes a namespace that creates its repositories on push.
    async fn create_namespace(
        &self,
        namespace: &str,
        visibility: Visibility,
    ) -> Result<(), RegistryError>;
    async fn repository_exists(&self, namespace: &str, name: &str) -> Result<bool, RegistryError>;
    async fn create_repository(
        &self,
        namespace: &str,
        name: &str,
        visibility: Visibility,
    ) -> Result<(), RegistryError>;
}

/// A registry's edition, from its URL or `options.instance`.
pub fn edition(
    registry: &Registry,
    api: &CloudApi,
    t: Transport,
) -> Result<Arc<dyn Edition>, RegistryError> {
    let key = cloud::ApiKey::of(registry, "ali-acr")?;
    let region = api.region.clone().ok_or_else(|| RegistryError::Invalid {
        registry: registry.name.clone(),
        what: "an ali-acr registry needs its region (options.region)".into(),
    })?;
    let api = SignedApi::new(t, key)?;
    let instance = alibaba_endpoint(&registry.url)
        .and_then(|(_, instance)| instance)
        .or_else(|| registry.options.instance.clone());
    Ok(match instance {
        Some(named) => Arc::new(enterprise::EnterpriseApi::new(api, region, named)),
        None => Arc::new(personal::PersonalApi { api, region }),
    })
}

/// A text field of an answer (empty when absent).
fn text(value: &serde_json::Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

/// What an error of either edition means: busy codes heal; the key's and the account's say what
/// to check.
fn refusal(
    api: &SignedApi,
    method: &'static str,
    shown: &str,
    error: &cloud::ApiError,
) -> RegistryError {
    let heals = error.code.contains("Throttling") || error.is("ServiceUnavailable");
    let refused = api.refusal(method, shown, error, heals);
    let credential = [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "SignatureNonceUsed",
    ];
    if credential.iter().any(|c| error.is(c)) {
        return api
            .t
            .invalid(format!("{refused}; check the AccessKey ID and secret"));
    }
    if error.code == "USER_NOT_EXIST" {
        return api.t.invalid(format!(
            "{refused}; the account has not set up Container Registry (set its registry \
             password in the console once)"
        ));
    }
    refused
}

/// `sha256:<hex>` of a digest ACR may write without its algorithm.
fn digest_of(text: &str) -> Option<Digest> {
    if text.contains(':') {
        Digest::parse(text).ok()
    } else {
        Digest::parse(&format!("sha256:{text}")).ok()
    }
}

/// The edition's registry login.
pub struct AcrLogin(pub(crate) Arc<dyn Edition>);

#[async_trait]
impl Login for AcrLogin {
    async fn login(&self) -> Result<Minted, RegistryError> {
        let token = self.0.token().await?;
        Ok(Minted {
            user: token.user,
            password: token.password,
            expires_at: token
                .expires_ms
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
                .filter(|at| *at > UNIX_EPOCH),
        })
    }
}

pub struct AcrSource(pub(crate) Arc<dyn Edition>);

#[async_trait]
impl SourceAdapter for AcrSource {
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let names = (self.0.repositories(within).await?.into_iter())
            .map(|(namespace, name)| format!("{namespace}/{name}"))
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
        let Some(tags) = self.0.tags(namespace, name).await? else {
            return Ok(ArtifactPage::default());
        };
        let tagged = (tags.into_iter())
            .map(|(tag, digest)| (tag, digest_of(&digest)))
            .collect();
        Ok(tagged_window(tagged, keep, window))
    }
}

/// The destination side: each namespace looked at once per process (whether it creates
/// repositories on push), repositories made where it does not.
pub struct AcrNamespaces {
    edition: Arc<dyn Edition>,
    auto_create: Mutex<HashMap<String, bool>>,
}

impl AcrNamespaces {
    pub fn new(edition: Arc<dyn Edition>) -> Self {
        Self {
            edition,
            auto_create: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the namespace creates repositories on push (made now if missing, so it does);
    /// and whether it was made now.
    async fn namespace(
        &self,
        namespace: &str,
        visibility: Visibility,
    ) -> Result<(bool, bool), RegistryError> {
        if let Some(auto) = self.auto_create.lock().await.get(namespace) {
            return Ok((*auto, false));
        }
        let (auto, made) = match self.edition.namespace(namespace).await? {
            Some(auto) => (auto, false),
            None => {
                self.edition.create_namespace(namespace, visibility).await?;
                (true, true)
            }
        };
        self.auto_create
            .lock()
            .await
            .insert(namespace.to_string(), auto);
        Ok((auto, made))
    }
}

#[async_trait]
impl Namespaces for AcrNamespaces {
    /// The whole name: a namespace that does not create repositories on push needs each made.
    fn namespace_of(&self, repository: &str) -> Option<String> {
        Some(repository.to_string())
    }

    fn refuse_name(&self, repository: &str) -> Option<String> {
        (repository.split('/').count() != 2).then(|| {
            format!("{repository:?} cannot go to ACR: its repositories are <namespace>/<name>")
        })
    }

    async fn ensure(
        &self,
        repository: &str,
        visibility: Visibility,
    ) -> Result<bool, RegistryError> {
        let Some((namespace, name)) = repository.split_once('/') else {
            return Err(self
                .edition
                .api()
                .t
                .invalid(format!("{repository:?} names no namespace")));
        };
        let (auto, made) = self.namespace(namespace, visibility).await?;
        if auto || self.edition.repository_exists(namespace, name).await? {
            return Ok(made);
        }
        self.edition
            .create_repository(namespace, name, visibility)
            .await?;
        Ok(true)
    }
}
