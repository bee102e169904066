//! A fake Quay (quay.io, Red Hat Quay): the REST API Ferry uses (a namespace's repositories,
//! a repository's tags, organizations) behind an OAuth token, and the registry behind Quay's
//! token flow for a robot account (`org+name`), in front of a real distribution registry whose
//! content the API tells.
//!
//! The API: https://docs.quay.io/api/swagger/ and https://docs.projectquay.io/api_quay.html
//! (endpoints cited below). Robot accounts: https://docs.quay.io/glossary/robot-accounts.html .
//! The registry's tokens: https://distribution.github.io/distribution/spec/auth/token/.

// A refusal ends a request early with `?`: the whole answer is the error.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, Response, StatusCode};
use base64::Engine as _;
use serde_json::{json, Value};

use super::{basic_of, bearer_of, param, percent_decode, query_of, Calls, Grants, Server};

/// Quay's page of repositories (`REPOS_PER_PAGE`).
const REPOS_PER_PAGE: usize = 100;
/// The tags' page: `limit` defaults to 50, at most 100.
const TAGS_DEFAULT: usize = 50;
const TAGS_MOST: usize = 100;

/// An answer, or the refusal that ended the request early.
type Answer = Result<Response<Body>, Response<Body>>;

#[derive(Default)]
struct Inner {
    /// The largest page answered (0: Quay's own).
    max_page: usize,
    orgs: Vec<String>,
    deny_org_create: bool,
}

#[derive(Clone)]
struct Shared {
    url: String,
    /// The registry's name as the challenge gives it (`host:port`).
    service: String,
    upstream: String,
    http: reqwest::Client,
    robot: (String, String),
    oauth_token: String,
    /// Quay's `last_modified` format (RFC 1123 with `-0000`), the time it started.
    started: String,
    calls: Calls,
    grants: Grants,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn with<T: Default>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.inner.lock().map(|mut i| f(&mut i)).unwrap_or_default()
    }

    /// The organizations: the added ones, the robot's own, and the first component of every
    /// repository of the registry behind; sorted.
    async fn orgs(&self) -> Result<Vec<String>, Response<Body>> {
        let catalog = super::catalog(&self.http, &self.upstream).await;
        let catalog = catalog.map_err(internal)?;
        let robot_org = self.robot.0.split_once('+').map(|(org, _)| org.to_string());
        let mut orgs: Vec<String> = (catalog.iter())
            .filter_map(|r| r.split_once('/').map(|(first, _)| first.to_string()))
            .chain(robot_org)
            .chain(self.with(|i| i.orgs.clone()))
            .collect();
        orgs.sort();
        orgs.dedup();
        Ok(orgs)
    }

    fn page(&self, most: usize) -> usize {
        super::page_cap(self.with(|i| i.max_page), most)
    }
}

pub struct FakeQuay {
    url: String,
    shared: Shared,
    _server: Server,
}

impl FakeQuay {
    /// A Quay where the robot account `robot.0` (`org+name`) logs in to the registry with the
    /// token `robot.1`, and `oauth_token` (an OAuth application's token) calls the REST API;
    /// in front of the registry at `upstream`.
    pub async fn start(upstream: &str, robot: (&str, &str), oauth_token: &str) -> FakeQuay {
        let (listener, url) = Server::bind().await;
        let started = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] -0000"
            ))
            .unwrap_or_default();
        let shared = Shared {
            url: url.clone(),
            service: url.trim_start_matches("http://").to_string(),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            robot: (robot.0.to_string(), robot.1.to_string()),
            oauth_token: oauth_token.to_string(),
            started,
            calls: Calls::default(),
            grants: Grants::default(),
            inner: Arc::default(),
        };
        let router = axum::Router::new().fallback(handle);
        let _server = Server::serve(listener, router.with_state(shared.clone()));
        FakeQuay {
            url,
            shared,
            _server,
        }
    }

    /// The base URL of the registry and of the API alike.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn calls(&self) -> Calls {
        self.shared.calls.clone()
    }

    /// An organization that exists even with no repository.
    pub fn add_org(&self, name: &str) {
        self.shared.with(|i| i.orgs.push(name.to_string()));
    }

    /// `POST /api/v1/organization/` is refused from now on: the token lacks the scope.
    pub fn deny_org_create(&self) {
        self.shared.with(|i| i.deny_org_create = true);
    }

    /// Pages hold at most `n` items, whatever the client asks: listings take several pages.
    pub fn set_max_page_size(&self, n: usize) {
        self.shared.with(|i| i.max_page = n);
    }
}

/// Quay's API error (`endpoints/exception.py`): `error` as the contract has it, with Quay's
/// own `error_message`, `error_type` and `status`.
fn error(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    let body = json!({"error": message, "error_message": message, "error_type": error_type,
        "status": status.as_u16(), "title": error_type, "detail": message});
    super::json(status, &body)
}

fn not_found() -> Response<Body> {
    let body = json!({"detail": "Not Found", "status": 404});
    super::json(StatusCode::NOT_FOUND, &body)
}

fn internal(e: String) -> Response<Body> {
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", &e)
}

async fn handle(State(shared): State<Shared>, request: Request<Body>) -> Response<Body> {
    shared.calls.record(&request);
    let path = request.uri().path().to_string();
    let answer = if path == "/v2/auth" {
        Ok(token(&shared, &request))
    } else if path == "/v2" || path.starts_with("/v2/") {
        Ok(registry(&shared, request).await)
    } else if let Some(rest) = path.strip_prefix("/api/v1/") {
        api(&shared, request, rest).await
    } else {
        Err(not_found())
    };
    answer.unwrap_or_else(|refused| refused)
}

/// `GET /v2/auth?service=<host:port>&scope=...` with the robot's Basic credential: a registry
/// token for the scopes asked (https://docs.quay.io/glossary/robot-accounts.html , the token
/// flow of https://distribution.github.io/distribution/spec/auth/token/).
fn token(shared: &Shared, request: &Request<Body>) -> Response<Body> {
    if basic_of(request).as_ref() != Some(&shared.robot) {
        let message = "Invalid Username or Password";
        let body = json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]});
        return super::json(StatusCode::UNAUTHORIZED, &body);
    }
    let scopes = super::scopes_in(request.uri().query().unwrap_or_default());
    shared.grants.issue("quay", scopes)
}

/// The registry behind Quay's tokens; everything else passes through (`/v2/_catalog` too).
async fn registry(shared: &Shared, request: Request<Body>) -> Response<Body> {
    if shared.grants.cover(&request) != Some(true) {
        let realm = format!("{}/v2/auth", shared.url);
        return super::challenge(&request, &realm, &shared.service);
    }
    super::pass_through(&shared.http, &shared.upstream, request).await
}

/// The REST API under `/api/v1/`, behind `Authorization: Bearer <OAuth token>`.
async fn api(shared: &Shared, request: Request<Body>, rest: &str) -> Answer {
    if bearer_of(&request).as_deref() != Some(shared.oauth_token.as_str()) {
        let message = "The access token is missing or invalid";
        return Err(error(StatusCode::UNAUTHORIZED, "invalid_token", message));
    }
    let query = query_of(&request);
    let method = request.method().clone();
    if method == Method::GET && rest == "repository" {
        return repositories(shared, &query).await;
    }
    let tag_list = (rest.strip_prefix("repository/"))
        .and_then(|r| r.strip_suffix("/tag/").or_else(|| r.strip_suffix("/tag")));
    if let (&Method::GET, Some(repository)) = (&method, tag_list) {
        let repository = percent_decode(repository).ok_or_else(not_found)?;
        return tags(shared, &query, &repository).await;
    }
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        // GET /api/v1/organization/{orgname}: getOrganization.
        (Method::GET, ["organization", org]) => {
            let org = percent_decode(org).ok_or_else(not_found)?;
            match shared.orgs().await?.contains(&org) {
                true => Ok(super::json(StatusCode::OK, &json!({"name": org}))),
                false => Err(not_found()),
            }
        }
        // POST /api/v1/organization/: createOrganization.
        (Method::POST, ["organization"]) => create_org(shared, request.into_body()).await,
        _ => Err(not_found()),
    }
}

/// GET /api/v1/repository?namespace={ns}&next_page={token}: listRepos. A namespace (or
/// `public`/`starred`) is required; pages of Quay's 100 repositories, sorted by name, with an
/// opaque `next_page` while more remain; an unknown namespace lists nothing.
async fn repositories(shared: &Shared, query: &[(String, String)]) -> Answer {
    let Some(namespace) = param(query, "namespace") else {
        let message = "namespace, starred or public are required for this API call";
        return Err(error(StatusCode::BAD_REQUEST, "invalid_request", message));
    };
    let catalog = super::catalog(&shared.http, &shared.upstream).await;
    let prefix = format!("{namespace}/");
    let mut names: Vec<String> = (catalog.map_err(internal)?.iter())
        .filter_map(|r| r.strip_prefix(&prefix).map(String::from))
        .collect();
    names.sort();
    let after = param(query, "next_page")
        .and_then(|t| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let rest: Vec<&String> = (names.iter())
        .filter(|n| after.as_ref().is_none_or(|after| *n > after))
        .collect();
    let size = shared.page(REPOS_PER_PAGE);
    let shown = &rest[..rest.len().min(size)];
    let repositories: Vec<Value> = (shown.iter())
        .map(|name| {
            json!({"namespace": namespace, "name": name, "is_public": false,
                           "kind": "image", "description": null, "state": "NORMAL"})
        })
        .collect();
    let mut body = json!({"repositories": repositories});
    if let (true, Some(last)) = (rest.len() > shown.len(), shown.last()) {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last);
        body["next_page"] = json!(token);
    }
    Ok(super::json(StatusCode::OK, &body))
}

/// GET /api/v1/repository/{ns}/{repo}/tag/?onlyActiveTags=true&limit=N&page=P: listRepoTags.
/// Every tag of the registry is active; sorted by name; `has_additional` while more remain.
async fn tags(shared: &Shared, query: &[(String, String)], repository: &str) -> Answer {
    if !repository.contains('/') {
        return Err(not_found());
    }
    let tagged = super::tagged(&shared.http, &shared.upstream, repository, Method::HEAD).await;
    let tagged = tagged.map_err(internal)?.ok_or_else(not_found)?;
    let number = |key: &str| param(query, key).and_then(|v| v.parse::<usize>().ok());
    let limit = number("limit").unwrap_or(TAGS_DEFAULT).clamp(1, TAGS_MOST);
    let limit = limit.min(shared.page(TAGS_MOST));
    let page = number("page").unwrap_or(1).max(1);
    let shown = tagged.iter().skip((page - 1) * limit).take(limit);
    let tags: Vec<Value> = shown
        .map(|(name, manifest)| {
            let list = manifest.media_type.contains("index")
                || manifest.media_type.contains("manifest.list");
            json!({"name": name, "reversion": false, "manifest_digest": manifest.digest,
                   "is_manifest_list": list, "last_modified": shared.started})
        })
        .collect();
    let has_additional = page * limit < tagged.len();
    let body = json!({"tags": tags, "page": page, "has_additional": has_additional});
    Ok(super::json(StatusCode::OK, &body))
}

/// POST /api/v1/organization/ `{"name", "email"}`: createOrganization; 201 `"Created"`, 400
/// when the name is taken, 403 when the token may not create organizations.
async fn create_org(shared: &Shared, body: Body) -> Answer {
    if shared.with(|i| i.deny_org_create) {
        let message = "insufficient scope: the token may not create organizations";
        return Err(error(StatusCode::FORBIDDEN, "insufficient_scope", message));
    }
    let body = axum::body::to_bytes(body, 64 * 1024).await;
    let value = body
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let Some(name) = value.as_ref().and_then(|v| v["name"].as_str()) else {
        let message = "Missing or invalid organization name";
        return Err(error(StatusCode::BAD_REQUEST, "invalid_request", message));
    };
    if shared.orgs().await?.iter().any(|o| o == name) {
        let message = "A user or organization with this name already exists";
        return Err(error(StatusCode::BAD_REQUEST, "invalid_request", message));
    }
    shared.with(|i| i.orgs.push(name.to_string()));
    Ok(super::json(StatusCode::CREATED, &json!("Created")))
}

#[cfg(test)]
mod tests;
