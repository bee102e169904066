//! A registry's credential as requests carry it: anonymous, Basic, or the Bearer token flow
//! a `WWW-Authenticate` challenge asks for, with tokens cached by scope.

use std::collections::HashMap;
use std::sync::OnceLock;

use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use reqwest::RequestBuilder;
use tokio::sync::Mutex;

use crate::model::Registry;

pub(crate) struct Auth {
    basic: Option<(String, String)>,
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
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Whether requests carry a credential of the registry's (Basic, or for a token).
    pub fn has_credential(&self) -> bool {
        self.basic.is_some()
    }

    pub async fn cached(&self, scope: &str) -> Option<String> {
        self.tokens.lock().await.get(scope).cloned()
    }

    pub async fn remember(&self, scope: &str, token: String) {
        self.tokens.lock().await.insert(scope.to_string(), token);
    }

    /// The request with the token when there is one, else the Basic credential, else as is.
    pub fn authorize(&self, request: RequestBuilder, token: Option<&str>) -> RequestBuilder {
        match (token, &self.basic) {
            (Some(token), _) => request.bearer_auth(token),
            (None, Some((user, password))) => request.basic_auth(user, Some(password)),
            (None, None) => request,
        }
    }

    /// The token service's request, with the Basic credential when there is one.
    pub fn token_request(&self, request: RequestBuilder) -> RequestBuilder {
        self.authorize(request, None)
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
