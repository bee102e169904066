//! A fake Mirantis Secure Registry (Docker Trusted Registry): the API v0 Ferry uses
//! (namespaces' repositories, a repository's tags, creating a repository) behind HTTP Basic,
//! and the registry behind DTR's token flow, in front of a real distribution registry whose
//! content the API tells. DTR repositories are `namespace/name`, two components; a push goes
//! only to a repository the API knows (DTR does not create repositories on push by default).
//!
//! The API: https://docs.mirantis.com/msr/2.9/ (the API reference, `/api/v0/`: repositories,
//! tags, accounts); paging by `pageSize` and `pageStart`, the next page's start in the
//! `X-Next-Page-Start` header. The registry's tokens:
//! https://distribution.github.io/distribution/spec/auth/token/ (realm `/auth/token`).

// A refusal ends a request early with `?`: the whole answer is the error.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::{basic_of, param, percent_decode, query_of, with_header, Calls, Grants};

/// DTR's default `pageSize`.
const PAGE_SIZE: usize = 10;

/// An answer, or the refusal that ended the request early.
type Answer = Result<Response<Body>, Response<Body>>;

#[derive(Default)]
struct Inner {
    /// The largest page answered (0: no limit but the client's `pageSize`).
    max_page: usize,
    namespaces: Vec<String>,
    /// Repositories created through the API (`namespace/name`) and their visibility.
    created: Vec<(String, String)>,
    /// Repositories' ids.
    ids: HashMap<String, String>,
}

#[derive(Clone)]
struct Shared {
    url: String,
    /// The registry's name as the challenge gives it (`host:port`).
    service: String,
    upstream: String,
    http: reqwest::Client,
    user: String,
    password: String,
    started: String,
    calls: Calls,
    grants: Grants,
    inner: Arc<Mutex<Inner>>,
}

/// What DTR holds: namespaces (sorted) and repositories (`namespace/name`) with visibility.
struct World {
    namespaces: Vec<String>,
    repositories: BTreeMap<String, String>,
}

impl Shared {
    fn with<T: Default>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.inner.lock().map(|mut i| f(&mut i)).unwrap_or_default()
    }

    async fn world(&self) -> Result<World, Response<Body>> {
        let catalog = super::catalog(&self.http, &self.upstream).await;
        let catalog = catalog.map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "", &e))?;
        let (mut namespaces, created) = self.with(|i| (i.namespaces.clone(), i.created.clone()));
        namespaces.extend(
            catalog
                .iter()
                .filter_map(|r| Some(r.split_once('/')?.0.to_string())),
        );
        namespaces.sort();
        namespaces.dedup();
        let two = (catalog.into_iter()).filter(|r| r.split('/').count() == 2);
        let mut repositories: BTreeMap<String, String> =
            two.map(|r| (r, "private".to_string())).collect();
        repositories.extend(created);
        Ok(World {
            namespaces,
            repositories,
        })
    }

    /// A repository as the API answers it.
    fn repository(&self, full: &str, visibility: &str) -> Value {
        let (namespace, name) = full.split_once('/').unwrap_or(("", full));
        let id = self.with(|i| {
            let id = i.ids.entry(full.to_string());
            id.or_insert_with(|| uuid::Uuid::new_v4().to_string())
                .clone()
        });
        json!({"id": id, "namespace": namespace, "namespaceType": "organization", "name": name,
               "shortDescription": "", "visibility": visibility, "scanOnPush": false,
               "immutableTags": false, "enableManifestLists": false, "pulls": 0, "pushes": 0,
               "tagLimit": 0})
    }
}

pub struct FakeDtr {
    url: String,
    shared: Shared,
    _server: super::Server,
}

impl FakeDtr {
    /// A DTR where `user` signs in with `password` (to the API and to the registry's token
    /// service alike), in front of the registry at `upstream`.
    pub async fn start(upstream: &str, user: &str, password: &str) -> FakeDtr {
        let (listener, url) = super::Server::bind().await;
        let shared = Shared {
            url: url.clone(),
            service: url.trim_start_matches("http://").to_string(),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            user: user.to_string(),
            password: password.to_string(),
            started: super::now_rfc3339(),
            calls: Calls::default(),
            grants: Grants::default(),
            inner: Arc::default(),
        };
        let router = axum::Router::new().fallback(handle);
        let _server = super::Server::serve(listener, router.with_state(shared.clone()));
        FakeDtr {
            url,
            shared,
            _server,
        }
    }

    /// The base URL of the registry, its token service and the API alike.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn calls(&self) -> Calls {
        self.shared.calls.clone()
    }

    /// A namespace (an organization) that exists even with no repository.
    pub fn add_namespace(&self, name: &str) {
        self.shared.with(|i| i.namespaces.push(name.to_string()));
    }

    /// Pages hold at most `n` items, whatever the client asks: listings take several pages.
    pub fn set_max_page_size(&self, n: usize) {
        self.shared.with(|i| i.max_page = n);
    }
}

/// DTR's error: `{"errors": [{"code", "message"}]}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = json!({"errors": [{"code": code, "message": message}]});
    super::json(status, &body)
}

fn no_such_repository() -> Response<Body> {
    let message = "A repository with the given name does not exist";
    error(StatusCode::NOT_FOUND, "NO_SUCH_REPOSITORY", message)
}

fn no_such_account() -> Response<Body> {
    let message = "An account with the given name does not exist";
    error(StatusCode::NOT_FOUND, "NO_SUCH_ACCOUNT", message)
}

async fn handle(State(shared): State<Shared>, request: Request<Body>) -> Response<Body> {
    shared.calls.record(&request);
    let path = request.uri().path().to_string();
    let signed = basic_of(&request) == Some((shared.user.clone(), shared.password.clone()));
    let answer = if path == "/auth/token" {
        Ok(token(&shared, &request, signed))
    } else if path == "/v2" || path.starts_with("/v2/") {
        registry(&shared, request).await
    } else if let Some(rest) = path.strip_prefix("/api/v0/") {
        match signed {
            true => api(&shared, request, rest).await,
            false => {
                let message = "The client is not authenticated.";
                Err(error(
                    StatusCode::UNAUTHORIZED,
                    "NOT_AUTHENTICATED",
                    message,
                ))
            }
        }
    } else {
        Err(error(StatusCode::NOT_FOUND, "NOT_FOUND", "Not Found"))
    };
    answer.unwrap_or_else(|refused| refused)
}

/// `GET /auth/token?service=<host:port>&scope=...` with Basic: a registry token for the
/// scopes asked.
fn token(shared: &Shared, request: &Request<Body>, signed: bool) -> Response<Body> {
    if !signed {
        let message = "authentication required";
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message);
    }
    let scopes = super::scopes_in(request.uri().query().unwrap_or_default());
    shared.grants.issue("dtr", scopes)
}

/// The registry behind DTR's tokens: a repository the API does not know is unknown (404
/// `NAME_UNKNOWN`), to pushes too.
async fn registry(shared: &Shared, request: Request<Body>) -> Answer {
    if shared.grants.cover(&request) != Some(true) {
        let realm = format!("{}/auth/token", shared.url);
        return Err(super::challenge(&request, &realm, &shared.service));
    }
    if let Some((repository, _)) = super::repository_scope(&request) {
        if !shared.world().await?.repositories.contains_key(&repository) {
            let message = "repository name not known to registry";
            return Err(error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", message));
        }
    }
    Ok(super::pass_through(&shared.http, &shared.upstream, request).await)
}

async fn api(shared: &Shared, request: Request<Body>, rest: &str) -> Answer {
    let query = query_of(&request);
    let segments: Vec<String> = (rest.trim_end_matches('/').split('/'))
        .map(|s| percent_decode(s).unwrap_or_default())
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let world = shared.world().await?;
    let repository_of = |namespace: &str, name: &str| {
        let full = format!("{namespace}/{name}");
        let visibility = world
            .repositories
            .get(&full)
            .ok_or_else(no_such_repository)?;
        Ok::<_, Response<Body>>((full, visibility.clone()))
    };
    match (request.method().clone(), segments.as_slice()) {
        // GET /api/v0/repositories?pageSize=&pageStart=: every repository, `namespace/name`
        // the page start.
        (Method::GET, ["repositories"]) => {
            let items = (world.repositories.iter())
                .map(|(full, visibility)| (full.clone(), shared.repository(full, visibility)));
            Ok(page(shared, &query, items.collect(), true))
        }
        // GET /api/v0/repositories/{namespace}?pageSize=&pageStart=: a namespace's
        // repositories, the name the page start.
        (Method::GET, ["repositories", namespace]) => {
            if !world.namespaces.iter().any(|n| n == namespace) {
                return Err(no_such_account());
            }
            let prefix = format!("{namespace}/");
            let items = (world.repositories.iter()).filter_map(|(full, visibility)| {
                let name = full.strip_prefix(&prefix)?;
                Some((name.to_string(), shared.repository(full, visibility)))
            });
            Ok(page(shared, &query, items.collect(), true))
        }
        // POST /api/v0/repositories/{namespace} `{"name", "visibility"}`: 201 the repository.
        (Method::POST, ["repositories", namespace]) => {
            if !world.namespaces.iter().any(|n| n == namespace) {
                return Err(no_such_account());
            }
            let body = axum::body::to_bytes(request.into_body(), 64 * 1024).await;
            let value = (body.ok()).and_then(|b| serde_json::from_slice::<Value>(&b).ok());
            let name = value.as_ref().and_then(|v| v["name"].as_str());
            let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
            let Some(name) = name.filter(|n| !n.is_empty() && n.chars().all(valid)) else {
                let message = "Invalid repository name";
                return Err(error(StatusCode::BAD_REQUEST, "INVALID_JSON", message));
            };
            let visibility = value.as_ref().and_then(|v| v["visibility"].as_str());
            let visibility = visibility.unwrap_or("public").to_string();
            let full = format!("{namespace}/{name}");
            if world.repositories.contains_key(&full) {
                let message = "A repository with the same name already exists";
                return Err(error(StatusCode::BAD_REQUEST, "REPOSITORY_EXISTS", message));
            }
            let created = (full.clone(), visibility.clone());
            shared.with(|i| i.created.push(created));
            let body = shared.repository(&full, &visibility);
            Ok(super::json(StatusCode::CREATED, &body))
        }
        // GET /api/v0/repositories/{namespace}/{reponame}.
        (Method::GET, ["repositories", namespace, name]) => {
            let (full, visibility) = repository_of(namespace, name)?;
            let body = shared.repository(&full, &visibility);
            Ok(super::json(StatusCode::OK, &body))
        }
        // GET /api/v0/repositories/{namespace}/{reponame}/tags?pageSize=&pageStart=: the
        // tags, sorted by name, each with its manifest's digest.
        (Method::GET, ["repositories", namespace, name, "tags"]) => {
            let (full, _) = repository_of(namespace, name)?;
            let tagged = super::tagged(&shared.http, &shared.upstream, &full, Method::HEAD).await;
            let tagged = tagged.map_err(|e| error(StatusCode::BAD_GATEWAY, "", &e))?;
            let items = (tagged.unwrap_or_default().into_iter()).map(|(tag, manifest)| {
                let body = json!({"name": tag, "digest": manifest.digest, "author": "",
                    "createdAt": shared.started, "updatedAt": shared.started,
                    "hashMismatch": false, "inNotary": false,
                    "manifest": {"digest": manifest.digest, "mediaType": manifest.media_type}});
                (tag, body)
            });
            Ok(page(shared, &query, items.collect(), false))
        }
        // GET /api/v0/accounts/{namespace}: the namespace as an organization account.
        (Method::GET, ["accounts", namespace]) => {
            if !world.namespaces.iter().any(|n| n == namespace) {
                return Err(no_such_account());
            }
            let body = json!({"name": namespace, "isOrg": true, "fullName": namespace});
            Ok(super::json(StatusCode::OK, &body))
        }
        _ => Err(error(StatusCode::NOT_FOUND, "NOT_FOUND", "Not Found")),
    }
}

/// A page of `items` (sorted by their page-start keys): from the first at or after
/// `pageStart`, at most `pageSize` (10), with `X-Next-Page-Start` the key of the next item
/// while more remain. A repository list is `{"repositories": [...]}`, a tag list an array.
fn page(
    shared: &Shared,
    query: &[(String, String)],
    items: Vec<(String, Value)>,
    repositories: bool,
) -> Response<Body> {
    let asked = param(query, "pageSize").and_then(|n| n.parse::<usize>().ok());
    let size = asked.unwrap_or(PAGE_SIZE).max(1);
    let size = super::page_cap(shared.with(|i| i.max_page), size);
    let start = param(query, "pageStart").unwrap_or_default();
    let mut from = items.into_iter().filter(|(key, _)| *key >= start);
    let shown: Vec<Value> = from.by_ref().take(size).map(|(_, v)| v).collect();
    let next = from.next().map(|(key, _)| key);
    let body = match repositories {
        true => json!({"repositories": shown}),
        false => Value::Array(shown),
    };
    let answer = super::json(StatusCode::OK, &body);
    match next {
        Some(key) => with_header(answer, "x-next-page-start", key),
        None => answer,
    }
}

#[cfg(test)]
mod tests;
