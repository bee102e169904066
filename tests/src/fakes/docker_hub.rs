//! A fake Docker Hub: the Hub API Ferry uses (sign-in, a namespace's repositories, a
//! repository's tags, orgs and users), and the registry with Docker Hub's token flow, official
//! images under `library/` and pull rate limits, both on one port (hub.docker.com and
//! registry-1.docker.io in production), in front of a real distribution registry whose content
//! the API tells.
//!
//! The Hub API: https://docs.docker.com/reference/api/hub/latest/ (paging is Django REST
//! framework's page numbers: `count`, absolute `next` and `previous`, 404 `Invalid page.`).
//! The registry's tokens: https://distribution.github.io/distribution/spec/auth/token/.
//! Rate limits: https://docs.docker.com/docker-hub/usage/pulls/.

// A refusal ends a request early with `?`: the whole answer is the error.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::{basic_of, bearer_of, param, query_of, with_header, Calls, Server};

const SERVICE: &str = "registry.docker.io";
const LAST_UPDATED: &str = "2026-01-01T00:00:00.000000Z";
const PULL_LIMIT: usize = 100;

/// An answer, or the refusal that ended the request early.
type Answer = Result<Response<Body>, Response<Body>>;

#[derive(Default)]
struct Inner {
    /// The largest page answered (0: Hub's 100).
    max_page: usize,
    orgs: Vec<String>,
    /// The Hub API's tokens (from a sign-in).
    hub_tokens: Vec<String>,
    /// The registry's tokens: true for any scope, false for pulls of `library/*` only.
    registry_tokens: HashMap<String, bool>,
    throttle: usize,
    pulls: usize,
}

#[derive(Clone)]
struct Shared {
    url: String,
    upstream: String,
    http: reqwest::Client,
    user: String,
    password: String,
    calls: Calls,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn with<T: Default>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.inner.lock().map(|mut i| f(&mut i)).unwrap_or_default()
    }
}

pub struct FakeHub {
    url: String,
    shared: Shared,
    _server: Server,
}

impl FakeHub {
    /// A Docker Hub where `user` signs in with `password`, in front of the registry at
    /// `upstream` (whose `namespace/name` repositories it has).
    pub async fn start(upstream: &str, user: &str, password: &str) -> FakeHub {
        let (listener, url) = Server::bind().await;
        let shared = Shared {
            url: url.clone(),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            user: user.to_string(),
            password: password.to_string(),
            calls: Calls::default(),
            inner: Arc::default(),
        };
        let router = axum::Router::new().fallback(handle);
        let _server = Server::serve(listener, router.with_state(shared.clone()));
        FakeHub {
            url,
            shared,
            _server,
        }
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn calls(&self) -> Calls {
        self.shared.calls.clone()
    }

    pub fn add_org(&self, name: &str) {
        self.shared.with(|i| i.orgs.push(name.to_string()));
    }

    /// The next `n` manifest GETs under `/v2/` answer 429 `TOOMANYREQUESTS`, `Retry-After: 1`.
    pub fn throttle_next(&self, n: usize) {
        self.shared.with(|i| i.throttle = n);
    }

    /// Pages hold at most `n` items, whatever the client asks: listings take several pages.
    pub fn set_max_page_size(&self, n: usize) {
        self.shared.with(|i| i.max_page = n);
    }

    /// The manifest GETs answered so far: the pulls the rate limit counts.
    pub fn pulls(&self) -> usize {
        self.shared.with(|i| i.pulls)
    }
}

fn detail(status: StatusCode, message: &str) -> Response<Body> {
    super::json(status, &json!({"detail": message}))
}

fn not_found() -> Response<Body> {
    let body = json!({"message": "object not found", "errinfo": {}});
    super::json(StatusCode::NOT_FOUND, &body)
}

/// What a Hub API request asked: its path as sent, its query and its `Authorization`.
struct Asked {
    path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
}

async fn handle(State(shared): State<Shared>, request: Request<Body>) -> Response<Body> {
    shared.calls.record(&request);
    let path = request.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let asked = Asked {
        path: path.clone(),
        query: query_of(&request),
        authorization: (request.headers().get("authorization"))
            .and_then(|v| v.to_str().ok().map(String::from)),
    };
    let answer = match (request.method().clone(), segments.as_slice()) {
        // POST /v2/users/login (the older sign-in) and POST /v2/auth/token (the newer one).
        (Method::POST, ["v2", "users", "login"]) => {
            let fields = ("username", "password", "token");
            sign_in(&shared, request.into_body(), fields).await
        }
        (Method::POST, ["v2", "auth", "token"]) => {
            let fields = ("identifier", "secret", "access_token");
            sign_in(&shared, request.into_body(), fields).await
        }
        (
            Method::GET,
            ["v2", "repositories", namespace] | ["v2", "namespaces", namespace, "repositories"],
        ) => repositories(&shared, &asked, namespace).await,
        (
            Method::GET,
            ["v2", "repositories", namespace, name, "tags"]
            | ["v2", "namespaces", namespace, "repositories", name, "tags"],
        ) => tags(&shared, &asked, namespace, name).await,
        // GET /v2/orgs/{org}/ and GET /v2/users/{name}/.
        (Method::GET, ["v2", "orgs", org]) => {
            match shared.with(|i| i.orgs.contains(&org.to_string())) {
                true => Ok(super::json(StatusCode::OK, &json!({"orgname": org}))),
                false => Err(not_found()),
            }
        }
        (Method::GET, ["v2", "users", name]) => match *name == shared.user {
            true => Ok(super::json(StatusCode::OK, &json!({"username": name}))),
            false => Err(not_found()),
        },
        (Method::GET, ["token"]) => Ok(registry_token(&shared, &request)),
        _ if path == "/v2" || path.starts_with("/v2/") => Ok(registry(&shared, request).await),
        _ => Err(not_found()),
    };
    answer.unwrap_or_else(|refused| refused)
}

/// A sign-in: `{user, secret}` fields in, a Hub API token out under `token_field`.
async fn sign_in(
    shared: &Shared,
    body: Body,
    (user, secret, token_field): (&str, &str, &str),
) -> Answer {
    let body = axum::body::to_bytes(body, 64 * 1024).await;
    let value = (body
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok()))
    .ok_or_else(|| detail(StatusCode::BAD_REQUEST, "the body is not JSON"))?;
    if value[user] != shared.user.as_str() || value[secret] != shared.password.as_str() {
        return Err(detail(
            StatusCode::UNAUTHORIZED,
            "Incorrect authentication credentials",
        ));
    }
    let token = super::new_token("hub");
    shared.with(|i| i.hub_tokens.push(token.clone()));
    Ok(super::json(StatusCode::OK, &json!({ token_field: token })))
}

/// Whether the request carries a Hub token (`Bearer <token>`, or `JWT <token>` as the older
/// docs have it); a 401 when it carries one the Hub did not issue.
fn signed_in(shared: &Shared, asked: &Asked) -> Result<bool, Response<Body>> {
    let Some(value) = &asked.authorization else {
        return Ok(false);
    };
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("JWT "));
    let token = token.unwrap_or_default().trim();
    match shared.with(|i| i.hub_tokens.iter().any(|t| t == token)) {
        true => Ok(true),
        false => Err(detail(
            StatusCode::UNAUTHORIZED,
            "Given token not valid for any token type",
        )),
    }
}

fn internal(e: String) -> Response<Body> {
    detail(StatusCode::INTERNAL_SERVER_ERROR, &e)
}

/// A page of `items`, as Django REST framework's page-number pagination answers it: `page`
/// (default 1; past the end or not a number: 404 `Invalid page.`), `page_size` (default 10,
/// at most 100), absolute `next` and `previous` (the query sorted, `page` left out for the
/// first page).
fn page(shared: &Shared, asked: &Asked, items: Vec<Value>) -> Answer {
    let invalid = || detail(StatusCode::NOT_FOUND, "Invalid page.");
    let page = match param(&asked.query, "page") {
        None => 1,
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(invalid)?,
    };
    let size = (param(&asked.query, "page_size").and_then(|s| s.parse::<usize>().ok()))
        .filter(|s| *s >= 1)
        .map_or(10, |s| {
            s.min(match shared.with(|i| i.max_page) {
                0 => 100,
                n => n,
            })
        });
    let count = items.len();
    if page > 1 && (page - 1) * size >= count {
        return Err(invalid());
    }
    let link = |page: usize| {
        let mut query: Vec<_> = (asked.query.iter())
            .filter(|(k, _)| k != "page")
            .cloned()
            .collect();
        if page > 1 {
            query.push(("page".into(), page.to_string()));
        }
        query.sort();
        let mut encoded = url::form_urlencoded::Serializer::new(String::new());
        let encoded = encoded.extend_pairs(query).finish();
        let separator = if encoded.is_empty() { "" } else { "?" };
        json!(format!("{}{}{separator}{encoded}", shared.url, asked.path))
    };
    let next = if page * size < count {
        link(page + 1)
    } else {
        Value::Null
    };
    let previous = if page > 1 {
        link(page - 1)
    } else {
        Value::Null
    };
    let results: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    let body = json!({"count": count, "next": next, "previous": previous, "results": results});
    Ok(super::json(StatusCode::OK, &body))
}

/// GET /v2/repositories/{namespace}/ and /v2/namespaces/{namespace}/repositories: a Hub token
/// but for `library`; the registry's `namespace/name` repositories (Hub names have two
/// components), sorted by name.
async fn repositories(shared: &Shared, asked: &Asked, namespace: &str) -> Answer {
    if !signed_in(shared, asked)? && namespace != "library" {
        let message = "Authentication credentials were not provided.";
        return Err(detail(StatusCode::UNAUTHORIZED, message));
    }
    let catalog = super::catalog(&shared.http, &shared.upstream)
        .await
        .map_err(internal)?;
    let known = namespace == "library"
        || namespace == shared.user
        || shared.with(|i| i.orgs.iter().any(|o| o == namespace))
        || catalog
            .iter()
            .any(|r| r.split('/').next() == Some(namespace));
    if !known {
        return Err(not_found());
    }
    let prefix = format!("{namespace}/");
    let mut names: Vec<&str> = (catalog.iter())
        .filter_map(|r| r.strip_prefix(&prefix).filter(|name| !name.contains('/')))
        .collect();
    names.sort();
    let results = names.iter().map(|name| {
        json!({"name": name, "namespace": namespace, "repository_type": "image",
               "is_private": false, "last_updated": LAST_UPDATED})
    });
    page(shared, asked, results.collect())
}

/// GET /v2/repositories/{namespace}/{repository}/tags (and under /v2/namespaces/): each tag
/// with the digest and media type the registry answers a HEAD of it with, sorted by name.
async fn tags(shared: &Shared, asked: &Asked, namespace: &str, name: &str) -> Answer {
    signed_in(shared, asked)?;
    let repository = format!("{namespace}/{name}");
    let tagged = super::tagged(&shared.http, &shared.upstream, &repository, Method::HEAD).await;
    let tagged = tagged.map_err(internal)?.ok_or_else(not_found)?;
    let results = tagged.iter().map(|(tag, manifest)| {
        json!({"name": tag, "digest": manifest.digest, "media_type": manifest.media_type,
               "last_updated": LAST_UPDATED, "tag_status": "active"})
    });
    page(shared, asked, results.collect())
}

/// GET /token?service=registry.docker.io&scope=...: HTTP Basic of the user gives a token for
/// any scope; none gives an anonymous one, for pulls of `library/*`.
fn registry_token(shared: &Shared, request: &Request<Body>) -> Response<Body> {
    let full = match basic_of(request) {
        Some((user, password)) if user == shared.user && password == shared.password => true,
        Some(_) => {
            let body = json!({"details": "incorrect username or password"});
            return super::json(StatusCode::UNAUTHORIZED, &body);
        }
        None => false,
    };
    let token = super::new_token("registry");
    shared.with(|i| i.registry_tokens.insert(token.clone(), full));
    let issued_at = super::now_rfc3339();
    let body =
        json!({"token": token, "access_token": token, "expires_in": 300, "issued_at": issued_at});
    super::json(StatusCode::OK, &body)
}

/// The registry (https://distribution.github.io/distribution/spec/api/) behind Docker Hub's
/// tokens: a one-component name is unknown (clients add `library/`), an anonymous token only
/// pulls `library/*`, and a manifest answer carries the rate limit's headers.
async fn registry(shared: &Shared, request: Request<Body>) -> Response<Body> {
    let grant =
        bearer_of(&request).and_then(|t| shared.with(|i| i.registry_tokens.get(&t).copied()));
    let realm = format!("{}/token", shared.url);
    let Some(full) = grant else {
        return super::challenge(&request, &realm, SERVICE);
    };
    if let Some((repository, action)) = super::repository_scope(&request) {
        if !repository.contains('/') {
            let message = "repository name not known to registry";
            let body = json!({"errors": [{"code": "NAME_UNKNOWN", "message": message}]});
            return super::json(StatusCode::NOT_FOUND, &body);
        }
        if !full && (action != "pull" || !repository.starts_with("library/")) {
            return super::challenge(&request, &realm, SERVICE);
        }
    }
    if !request.uri().path().contains("/manifests/") {
        return super::pass_through(&shared.http, &shared.upstream, request).await;
    }
    let source = (request.extensions().get::<ConnectInfo<SocketAddr>>())
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let get = request.method() == Method::GET;
    let answer =
        if get && shared.with(|i| i.throttle.checked_sub(1).map(|n| i.throttle = n).is_some()) {
            let message = "You have reached your pull rate limit. You may increase the limit by \
            authenticating and upgrading: https://www.docker.com/increase-rate-limit";
            let body = json!({"errors": [{"code": "TOOMANYREQUESTS", "message": message}]});
            with_header(
                super::json(StatusCode::TOO_MANY_REQUESTS, &body),
                "retry-after",
                1,
            )
        } else {
            let answer = super::pass_through(&shared.http, &shared.upstream, request).await;
            if get && answer.status().is_success() {
                shared.with(|i| i.pulls += 1);
            }
            answer
        };
    let remaining = PULL_LIMIT.saturating_sub(shared.with(|i| i.pulls));
    let answer = with_header(answer, "ratelimit-limit", format!("{PULL_LIMIT};w=21600"));
    let answer = with_header(
        answer,
        "ratelimit-remaining",
        format!("{remaining};w=21600"),
    );
    with_header(answer, "docker-ratelimit-source", source)
}

#[cfg(test)]
mod tests;
