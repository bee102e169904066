//! A registry's credential as requests carry it: anonymous, Basic, or the Bearer token flow
//! a `WWW-Authenticate` challenge asks for, with tokens cached by scope. Some kinds mint their
//! Basic credential from the one the user gave ([`Login`]: ECR's `GetAuthorizationToken`, a
//! Google access token from a service account key, an ACR refresh token from an Azure AD
//! token); it is kept until shortly before it expires, and minted again when refused.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use reqwest::RequestBuilder;
use tokio::sync::Mutex;

use crate::model::Registry;
use crate::ports::registry::RegistryError;

/// A Basic credential minted for a while.
#[derive(Clone)]
pub(crate) struct Minted {
    pub user: String,
    pub password: String,
    /// None: until refused.
    pub expires_at: Option<SystemTime>,
}

/// Mints a registry's Basic credential from the one the user gave.
#[async_trait]
pub(crate) trait Login: Send + Sync {
    async fn login(&self) -> Result<Minted, RegistryError>;
}

/// How long before its expiry a minted credential is replaced: five minutes, or a quarter of
/// its life when it lives shorter.
/// A credential said to expire already when it is minted (a skewed clock, an emulator) is kept
/// until refused rather than minted again for every request.
fn refresh_at(minted: &Minted, now: SystemTime) -> Option<SystemTime> {
    let expires = minted.expires_at.filter(|at| *at > now)?;
    let life = expires.duration_since(now).unwrap_or_default();
    Some(expires - (life / 4).min(Duration::from_secs(300)))
}

pub(crate) struct Auth {
    basic: Option<(String, String)>,
    login: Option<Arc<dyn Login>>,
    /// The minted credential and when to mint it again.
    minted: Mutex<Option<(Minted, Option<SystemTime>)>>,
    /// Bearer tokens by the scope they were asked for.
    tokens: Mutex<HashMap<String, String>>,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// What a token service is asked for, from a registry's `Bearer` challenge.
pub(crate) struct Challenge {
    pub realm: String,
    service: Option<String>,
    scope: Option<String>,
}

impl Challenge {
    /// The `Bearer` challenge of a 401, if it is one.
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(WWW_AUTHENTICATE)?.to_str().ok()?;
        let rest = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        // key="value" pairs; values may contain commas (scopes).
        static PAIR: OnceLock<Option<regex::Regex>> = OnceLock::new();
        let pair = PAIR
            .get_or_init(|| regex::Regex::new(r#"(\w+)="([^"]*)""#).ok())
            .as_ref()?;
        let mut params: HashMap<String, String> = pair
            .captures_iter(rest)
            .map(|cap| (cap[1].to_string(), cap[2].to_string()))
            .collect();
        Some(Self {
            realm: params.remove("realm")?,
            service: params.remove("service"),
            scope: params.remove("scope"),
        })
    }

    /// The token request: the challenge's service, and each scope as its own parameter (the
    /// request's own scopes, which a mount needs two of, and the one the challenge names).
    pub fn query<'a>(&'a self, scope: &'a str) -> Vec<(&'static str, &'a str)> {
        let mut query = Vec::new();
        if let Some(service) = &self.service {
            query.push(("service", service.as_str()));
        }
        let mut scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
        if let Some(asked) = &self.scope {
            if !scopes.contains(&asked.as_str()) {
                scopes.push(asked);
            }
        }
        query.extend(scopes.into_iter().map(|s| ("scope", s)));
        query
    }
}

impl Auth {
    pub fn new(registry: &Registry) -> Self {
        Self {
            basic: basic_credential(registry),
            login: None,
            minted: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// No credential at all: a kind's own API sends its own `Authorization` per call.
    pub fn anonymous() -> Self {
        Self {
            basic: None,
            login: None,
            minted: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The Basic credential minted by `login` instead of the one given.
    pub fn with_login(mut self, login: Arc<dyn Login>) -> Self {
        self.basic = None;
        self.login = Some(login);
        self
    }

    /// Whether requests carry a credential of the registry's (Basic, or for a token).
    pub fn has_credential(&self) -> bool {
        self.basic.is_some() || self.login.is_some()
    }

    /// Whether the credential is minted, so a refusal may be healed by minting it again.
    pub fn is_minted(&self) -> bool {
        self.login.is_some()
    }

    /// The Basic credential: the one given, or the minted one (minted again when due).
    pub async fn basic(&self) -> Result<Option<(String, String)>, RegistryError> {
        let Some(login) = &self.login else {
            return Ok(self.basic.clone());
        };
        let mut minted = self.minted.lock().await;
        let now = SystemTime::now();
        let due = minted
            .as_ref()
            .is_none_or(|(_, refresh)| refresh.is_some_and(|at| at <= now));
        if due {
            let fresh = login.login().await?;
            let refresh = refresh_at(&fresh, now);
            *minted = Some((fresh, refresh));
        }
        Ok(minted
            .as_ref()
            .map(|(m, _)| (m.user.clone(), m.password.clone())))
    }

    /// Drops the minted credential and the tokens obtained with it: the registry refused it.
    pub async fn forget_login(&self) {
        *self.minted.lock().await = None;
        self.tokens.lock().await.clear();
    }

    pub async fn cached(&self, scope: &str) -> Option<String> {
        self.tokens.lock().await.get(scope).cloned()
    }

    pub async fn remember(&self, scope: &str, token: String) {
        self.tokens.lock().await.insert(scope.to_string(), token);
    }

    /// The request with the token when there is one, else the Basic credential, else as is.
    pub async fn authorize(
        &self,
        request: RequestBuilder,
        token: Option<&str>,
    ) -> Result<RequestBuilder, RegistryError> {
        if let Some(token) = token {
            return Ok(request.bearer_auth(token));
        }
        Ok(match self.basic().await? {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        })
    }

    /// The token from a token service's JSON answer (`token` or `access_token`).
    pub fn token_of(body: &[u8]) -> Option<String> {
        let answer: TokenAnswer = serde_json::from_slice(body).ok()?;
        answer.token.or(answer.access_token)
    }
}

/// The registry's Basic credential (user, secret), when it has one.
fn basic_credential(registry: &Registry) -> Option<(String, String)> {
    registry
        .credential
        .as_ref()
        .filter(|c| !c.access_key.is_empty())
        .map(|c| {
            (
                c.access_key.clone(),
                c.access_secret.clone().unwrap_or_default(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn parses_bearer_challenges_with_commas_in_scope() {
        let mut headers = HeaderMap::new();
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
            ),
        );
        let challenge = Challenge::of(&headers).expect("bearer");
        assert_eq!(challenge.realm, "https://auth.example/token");
        assert_eq!(
            challenge.query("repository:a/b:pull,push repository:c:pull"),
            vec![
                ("service", "registry.example"),
                ("scope", "repository:a/b:pull,push"),
                ("scope", "repository:c:pull"),
            ]
        );
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="x""#),
        );
        assert!(Challenge::of(&headers).is_none());
    }
}
