//! Azure Container Registry's token service in front of a distribution registry: the admin
//! user's Basic credential or an ACR refresh token (from an AAD access token, by
//! `/oauth2/exchange`) buys scoped access tokens at `/oauth2/token`; the registry asks for
//! them. Documented in https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md and
//! https://github.com/Azure/acr/blob/main/docs/Token-BasicAuth.md .

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::{
    basic_of, bearer_of, challenge, field, form_of, json, new_token, pass_through, query_pairs,
    scopes_cover, Calls,
};

/// The user name that says the password is an ACR refresh token.
pub const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";

const CATALOG_SCOPE: &str = "registry:catalog:*";

pub struct FakeAcr {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    url: String,
    /// The registry's name as the challenge gives it (`host:port`).
    service: String,
    upstream: String,
    admin: (String, String),
    aad_token: String,
    http: reqwest::Client,
    calls: Calls,
    tokens: Mutex<Tokens>,
}

#[derive(Default)]
struct Tokens {
    /// Access tokens and the scopes they grant.
    access: HashMap<String, Vec<String>>,
    refresh: HashSet<String>,
}

impl FakeAcr {
    pub async fn start(upstream: &str, admin: (&str, &str), aad_token: &str) -> Self {
        let mut shared = None;
        let (url, task) = super::serve(|url| {
            let state = Arc::new(Shared {
                url: url.to_string(),
                service: url.trim_start_matches("http://").to_string(),
                upstream: upstream.trim_end_matches('/').to_string(),
                admin: (admin.0.to_string(), admin.1.to_string()),
                aad_token: aad_token.to_string(),
                http: reqwest::Client::new(),
                calls: Calls::default(),
                tokens: Mutex::new(Tokens::default()),
            });
            shared = Some(state.clone());
            axum::Router::new().fallback(handle).with_state(state)
        })
        .await;
        let shared = shared.expect("state");
        Self { url, shared, task }
    }

    /// The login server's base URL (registry and token service alike).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn calls(&self) -> Calls {
        self.shared.calls.clone()
    }

    /// Every access token issued so far stops working (they expire); refresh tokens still
    /// buy new ones.
    pub fn expire_tokens(&self) {
        if let Ok(mut tokens) = self.shared.tokens.lock() {
            tokens.access.clear();
        }
    }

    /// How many refresh tokens `/oauth2/exchange` has issued.
    pub fn refresh_tokens_issued(&self) -> usize {
        self.shared
            .tokens
            .lock()
            .map(|t| t.refresh.len())
            .unwrap_or_default()
    }
}

impl Drop for FakeAcr {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn acr_error(status: StatusCode, message: &str) -> Response<Body> {
    let code = match status {
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        _ => "BAD_REQUEST",
    };
    json(
        status,
        &json!({"errors": [{"code": code, "message": message}]}),
    )
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request<Body>) -> Response<Body> {
    shared.calls.record(&request);
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "/oauth2/token") => {
            let query = query_pairs(request.uri().query());
            let basic = basic_of(&request);
            token_by_basic(&shared, &query, basic)
        }
        (Method::POST, "/oauth2/token") => match form_of(request).await {
            Some(form) => token_by_form(&shared, &form),
            None => acr_error(StatusCode::BAD_REQUEST, "a form body is expected"),
        },
        (Method::POST, "/oauth2/exchange") => match form_of(request).await {
            Some(form) => exchange(&shared, &form),
            None => acr_error(StatusCode::BAD_REQUEST, "a form body is expected"),
        },
        (_, path) if path == "/v2" || path.starts_with("/v2/") => registry(&shared, request).await,
        _ => acr_error(StatusCode::NOT_FOUND, "not found"),
    }
}

/// The scopes of a token request, once its `service` names this registry; else the refusal.
fn scopes_asked(
    shared: &Shared,
    pairs: &[(String, String)],
) -> Result<Vec<String>, Box<Response<Body>>> {
    match field(pairs, "service") {
        None => Err(Box::new(acr_error(
            StatusCode::BAD_REQUEST,
            "service is required",
        ))),
        Some(service) if service != shared.service => Err(Box::new(acr_error(
            StatusCode::UNAUTHORIZED,
            &format!("service {service} is not this registry"),
        ))),
        Some(_) => Ok(pairs
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').filter(|s| !s.is_empty()).map(String::from))
            .collect()),
    }
}

fn issue_access(shared: &Shared, scopes: Vec<String>) -> Response<Body> {
    let token = new_token("acr-access");
    if let Ok(mut tokens) = shared.tokens.lock() {
        tokens.access.insert(token.clone(), scopes);
    }
    json(StatusCode::OK, &json!({"access_token": token}))
}

fn is_refresh_token(shared: &Shared, token: &str) -> bool {
    shared
        .tokens
        .lock()
        .map(|t| t.refresh.contains(token))
        .unwrap_or(false)
}

/// `GET /oauth2/token?service=...&scope=...` with Basic: the admin user, or the null GUID
/// with an ACR refresh token (Token-BasicAuth.md, "Catalog listing using Admin Keys with
/// Bearer Auth"; AAD-OAuth.md, "Authenticating docker with an ACR refresh token").
fn token_by_basic(
    shared: &Shared,
    query: &[(String, String)],
    basic: Option<(String, String)>,
) -> Response<Body> {
    let scopes = match scopes_asked(shared, query) {
        Ok(scopes) => scopes,
        Err(refused) => return *refused,
    };
    let admitted = match &basic {
        Some((user, token)) if user == NULL_GUID => is_refresh_token(shared, token),
        Some(credential) => *credential == shared.admin,
        None => false,
    };
    if !admitted {
        return acr_error(StatusCode::UNAUTHORIZED, "authentication required");
    }
    issue_access(shared, scopes)
}

/// `POST /oauth2/token`, `grant_type=refresh_token&service=&scope=&refresh_token=` (AAD-OAuth.md,
/// "Calling POST /oauth2/token to get an ACR access token"), or `grant_type=password` with
/// `username` and `password`.
fn token_by_form(shared: &Shared, form: &[(String, String)]) -> Response<Body> {
    let scopes = match scopes_asked(shared, form) {
        Ok(scopes) => scopes,
        Err(refused) => return *refused,
    };
    let admitted = match field(form, "grant_type") {
        Some("refresh_token") => {
            field(form, "refresh_token").is_some_and(|token| is_refresh_token(shared, token))
        }
        Some("password") => {
            field(form, "username") == Some(shared.admin.0.as_str())
                && field(form, "password") == Some(shared.admin.1.as_str())
        }
        _ => return acr_error(StatusCode::BAD_REQUEST, "unsupported grant_type"),
    };
    if !admitted {
        return acr_error(StatusCode::UNAUTHORIZED, "invalid credentials");
    }
    issue_access(shared, scopes)
}

/// `POST /oauth2/exchange`, `grant_type=access_token&service=&tenant=&access_token=` (AAD-OAuth.md,
/// "Calling POST /oauth2/exchange to get an ACR refresh token"); `tenant` is taken as given.
fn exchange(shared: &Shared, form: &[(String, String)]) -> Response<Body> {
    if field(form, "grant_type") != Some("access_token") {
        return acr_error(StatusCode::BAD_REQUEST, "grant_type must be access_token");
    }
    let Some(aad_token) = field(form, "access_token") else {
        return acr_error(StatusCode::BAD_REQUEST, "access_token is required");
    };
    if let Err(refused) = scopes_asked(shared, form) {
        return *refused;
    }
    if aad_token != shared.aad_token {
        return acr_error(
            StatusCode::UNAUTHORIZED,
            "the AAD access token is not valid",
        );
    }
    let token = new_token("acr-refresh");
    if let Ok(mut tokens) = shared.tokens.lock() {
        tokens.refresh.insert(token.clone());
    }
    json(StatusCode::OK, &json!({"refresh_token": token}))
}

/// The registry behind the token gate, catalog included (scope `registry:catalog:*`; see
/// https://learn.microsoft.com/en-us/azure/container-registry/container-registry-authentication).
async fn registry(shared: &Shared, request: Request<Body>) -> Response<Body> {
    let catalog = request.uri().path() == "/v2/_catalog";
    let admitted = bearer_of(&request)
        .and_then(|t| shared.tokens.lock().ok()?.access.get(&t).cloned())
        .is_some_and(|scopes| {
            if catalog {
                scopes.iter().any(|s| s == CATALOG_SCOPE)
            } else {
                scopes_cover(&scopes, &request)
            }
        });
    if admitted {
        return pass_through(&shared.http, &shared.upstream, request).await;
    }
    let realm = format!("{}/oauth2/token", shared.url);
    let mut refused = challenge(&request, &realm, &shared.service);
    if catalog {
        let value = format!(
            "Bearer realm=\"{realm}\",service=\"{}\",scope=\"{CATALOG_SCOPE}\"",
            shared.service
        );
        if let Ok(value) = value.parse() {
            refused.headers_mut().insert("www-authenticate", value);
        }
    }
    refused
}

#[cfg(test)]
mod tests;
