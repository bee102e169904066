//! A fake JFrog Artifactory: the REST API Ferry uses (Docker repositories, listed, read and
//! created; a repository's images and an image's tags through the Docker API) and the Docker
//! registry by the repository path method (`/v2/<repo-key>/<image>/...`) behind a token flow,
//! in front of a real distribution registry whose content the API tells: its repository
//! `docker-local/team/app` is the image `team/app` of the Docker repository `docker-local`.
//!
//! The REST API: https://jfrog.com/help/r/jfrog-rest-apis/get-repositories ,
//! https://jfrog.com/help/r/jfrog-rest-apis/repository-configuration ,
//! https://jfrog.com/help/r/jfrog-rest-apis/create-repository ,
//! https://jfrog.com/help/r/jfrog-artifactory-documentation/docker-registry-api (list Docker
//! repositories, list Docker tags). The repository path method:
//! https://jfrog.com/help/r/jfrog-artifactory-documentation/the-repository-path-method-for-docker .

// A refusal ends a request early with `?`: the whole answer is the error.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::{basic_of, bearer_of, param, percent_decode, query_of, with_header, Calls, Grants};

/// An answer, or the refusal that ended the request early.
type Answer = Result<Response<Body>, Response<Body>>;

#[derive(Default)]
struct Inner {
    /// The largest page answered (0: no limit but the client's `n`).
    max_page: usize,
    /// Repositories added or created: key and package type (lower case).
    repositories: Vec<(String, String)>,
    deny_create: bool,
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
    calls: Calls,
    grants: Grants,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn with<T: Default>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.inner.lock().map(|mut i| f(&mut i)).unwrap_or_default()
    }

    /// Every repository (key, package type), sorted by key: the added and created ones, and a
    /// Docker one for the first component of every repository of the registry behind.
    async fn repositories(&self) -> Result<Vec<(String, String)>, Response<Body>> {
        let catalog = super::catalog(&self.http, &self.upstream).await;
        let catalog = catalog.map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
        let mut all: Vec<(String, String)> = (catalog.iter())
            .filter_map(|r| {
                r.split_once('/')
                    .map(|(key, _)| (key.to_string(), "docker".into()))
            })
            .chain(self.with(|i| i.repositories.clone()))
            .collect();
        all.sort();
        all.dedup_by(|a, b| a.0 == b.0);
        Ok(all)
    }

    /// Whether `key` is a Docker repository.
    async fn docker(&self, key: &str) -> Result<bool, Response<Body>> {
        let all = self.repositories().await?;
        Ok(all.iter().any(|(k, kind)| k == key && kind == "docker"))
    }
}

pub struct FakeArtifactory {
    url: String,
    shared: Shared,
    _server: super::Server,
}

impl FakeArtifactory {
    /// An Artifactory where `user` signs in with `password` (Basic, or the password as an
    /// access token: `Authorization: Bearer <password>`), in front of the registry at
    /// `upstream`.
    pub async fn start(upstream: &str, user: &str, password: &str) -> FakeArtifactory {
        let (listener, url) = super::Server::bind().await;
        let shared = Shared {
            url: url.clone(),
            service: url.trim_start_matches("http://").to_string(),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            user: user.to_string(),
            password: password.to_string(),
            calls: Calls::default(),
            grants: Grants::default(),
            inner: Arc::default(),
        };
        let router = axum::Router::new().fallback(handle);
        let _server = super::Server::serve(listener, router.with_state(shared.clone()));
        FakeArtifactory {
            url,
            shared,
            _server,
        }
    }

    /// The base URL of the registry and of the REST API (under `/artifactory/`) alike.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn calls(&self) -> Calls {
        self.shared.calls.clone()
    }

    /// A local Docker repository that exists even with no image.
    pub fn add_repository(&self, key: &str) {
        let added = (key.to_string(), "docker".to_string());
        self.shared.with(|i| i.repositories.push(added));
    }

    /// The keys of the Docker repositories (added, created, and the registry's), sorted.
    pub async fn repositories(&self) -> Vec<String> {
        let all = self.shared.repositories().await.unwrap_or_default();
        let docker = all.into_iter().filter(|(_, kind)| kind == "docker");
        docker.map(|(key, _)| key).collect()
    }

    /// `PUT /artifactory/api/repositories/{key}` is refused from now on (403).
    pub fn deny_create(&self) {
        self.shared.with(|i| i.deny_create = true);
    }

    /// Pages hold at most `n` items, whatever the client asks: listings take several pages.
    pub fn set_max_page_size(&self, n: usize) {
        self.shared.with(|i| i.max_page = n);
    }
}

/// Artifactory's REST error: `{"errors": [{"status", "message"}]}`.
fn error(status: StatusCode, message: &str) -> Response<Body> {
    let body = json!({"errors": [{"status": status.as_u16(), "message": message}]});
    super::json(status, &body)
}

/// The registry's (and the Docker API's) 404 for an unknown repository.
fn name_unknown(name: &str) -> Response<Body> {
    let message = format!("Repository \"{name}\" not found");
    let body = json!({"errors": [{"code": "NAME_UNKNOWN", "message": message}]});
    super::json(StatusCode::NOT_FOUND, &body)
}

async fn handle(State(shared): State<Shared>, request: Request<Body>) -> Response<Body> {
    shared.calls.record(&request);
    let path = request.uri().path().to_string();
    let answer = if path == "/v2/token" {
        Ok(token(&shared, &request))
    } else if path == "/v2" || path.starts_with("/v2/") {
        registry(&shared, request).await
    } else if let Some(rest) = path.strip_prefix("/artifactory/api/") {
        let signed = basic_of(&request) == Some((shared.user.clone(), shared.password.clone()))
            || bearer_of(&request).is_some_and(|t| t == shared.password);
        match signed {
            true => api(&shared, request, rest).await,
            false => Err(error(StatusCode::UNAUTHORIZED, "Bad credentials")),
        }
    } else {
        Err(error(StatusCode::NOT_FOUND, "Not Found"))
    };
    answer.unwrap_or_else(|refused| refused)
}

/// `GET /v2/token?service=<host:port>&scope=...` with Basic `user:password`: a registry token
/// for the scopes asked (Artifactory's default token realm for the Docker client).
fn token(shared: &Shared, request: &Request<Body>) -> Response<Body> {
    if basic_of(request) != Some((shared.user.clone(), shared.password.clone())) {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let scopes = super::scopes_in(request.uri().query().unwrap_or_default());
    shared.grants.issue("artifactory", scopes)
}

/// The registry by the repository path method: a repository's first component is the key of
/// a Docker repository, or the name is unknown (404 `NAME_UNKNOWN`); Artifactory does not
/// create repositories on push.
async fn registry(shared: &Shared, request: Request<Body>) -> Answer {
    if shared.grants.cover(&request) != Some(true) {
        let realm = format!("{}/v2/token", shared.url);
        return Err(super::challenge(&request, &realm, &shared.service));
    }
    if let Some((repository, _)) = super::repository_scope(&request) {
        let key = repository.split_once('/').map(|(key, _)| key);
        let key = key.ok_or_else(|| name_unknown(&repository))?;
        if !shared.docker(key).await? {
            return Err(name_unknown(key));
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
    match (request.method().clone(), segments.as_slice()) {
        // GET /api/repositories?type=local&packageType=docker: Get Repositories.
        (Method::GET, ["repositories"]) => {
            let wanted = |key: &str, value: &str| {
                param(&query, key).is_none_or(|asked| asked.eq_ignore_ascii_case(value))
            };
            let all = shared.repositories().await?;
            let listed = (all.iter())
                .filter(|(_, kind)| wanted("type", "local") && wanted("packageType", kind))
                .map(|(key, kind)| {
                    let kind = if kind == "docker" { "Docker" } else { kind };
                    json!({"key": key, "type": "LOCAL", "packageType": kind, "description": "",
                           "url": format!("{}/artifactory/{key}", shared.url)})
                });
            Ok(super::json(StatusCode::OK, &Value::Array(listed.collect())))
        }
        // GET /api/repositories/{repoKey}: Repository Configuration; 400 for an unknown key.
        (Method::GET, ["repositories", key]) => {
            let all = shared.repositories().await?;
            let found = all.iter().find(|(k, _)| k == key);
            let (key, kind) = found.ok_or_else(|| error(StatusCode::BAD_REQUEST, "Bad Request"))?;
            let body = json!({"key": key, "rclass": "local", "packageType": kind,
                              "repoLayoutRef": "simple-default"});
            Ok(super::json(StatusCode::OK, &body))
        }
        // PUT /api/repositories/{repoKey}: Create Repository.
        (Method::PUT, ["repositories", key]) => create(shared, request.into_body(), key).await,
        // GET /api/docker/{repo-key}/v2/_catalog?n=&last=: List Docker Repositories.
        (Method::GET, ["docker", key, "v2", "_catalog"]) => {
            if !shared.docker(key).await? {
                return Err(name_unknown(key));
            }
            let catalog = super::catalog(&shared.http, &shared.upstream).await;
            let catalog = catalog.map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
            let prefix = format!("{key}/");
            let mut names: Vec<String> = (catalog.iter())
                .filter_map(|r| r.strip_prefix(&prefix).map(String::from))
                .collect();
            names.sort();
            let path = format!("/artifactory/api/docker/{key}/v2/_catalog");
            Ok(listed(
                shared,
                &query,
                &path,
                names,
                |page| json!({"repositories": page}),
            ))
        }
        // GET /api/docker/{repo-key}/v2/{image}/tags/list?n=&last=: List Docker Tags.
        (Method::GET, ["docker", key, "v2", image @ .., "tags", "list"]) if !image.is_empty() => {
            let image = image.join("/");
            let repository = format!("{key}/{image}");
            let tags = super::tags(&shared.http, &shared.upstream, &repository).await;
            let tags = tags.map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
            let mut tags = tags.ok_or_else(|| name_unknown(&image))?;
            tags.sort();
            let path = format!("/artifactory/api/docker/{key}/v2/{image}/tags/list");
            Ok(listed(
                shared,
                &query,
                &path,
                tags,
                |page| json!({"name": image, "tags": page}),
            ))
        }
        _ => Err(error(StatusCode::NOT_FOUND, "Not Found")),
    }
}

/// A page of `names` (sorted) as distribution pages its lists: those after `last`, at most
/// `n` (and the fake's cap), and a `Link` to the next while more remain.
fn listed(
    shared: &Shared,
    query: &[(String, String)],
    path: &str,
    names: Vec<String>,
    body: impl FnOnce(&[String]) -> Value,
) -> Response<Body> {
    let asked = param(query, "n").and_then(|n| n.parse::<usize>().ok());
    let size = super::page_cap(shared.with(|i| i.max_page), asked.unwrap_or(usize::MAX));
    let after: Vec<String> = match param(query, "last") {
        Some(last) => names.into_iter().filter(|n| *n > last).collect(),
        None => names,
    };
    let shown = &after[..after.len().min(size.max(1))];
    let answer = super::json(StatusCode::OK, &body(shown));
    match (after.len() > shown.len(), shown.last()) {
        (true, Some(last)) => {
            let next = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("last", last)
                .append_pair("n", &asked.unwrap_or(shown.len()).to_string())
                .finish();
            with_header(answer, "link", format!("<{path}?{next}>; rel=\"next\""))
        }
        _ => answer,
    }
}

/// PUT /api/repositories/{key} `{"key", "rclass": "local", "packageType": "docker"}`: 200
/// `Successfully created repository '<key>'`; 400 when it exists or the body is not one.
async fn create(shared: &Shared, body: Body, key: &str) -> Answer {
    if shared.with(|i| i.deny_create) {
        return Err(error(StatusCode::FORBIDDEN, "Forbidden"));
    }
    let body = axum::body::to_bytes(body, 64 * 1024).await;
    let value = (body.ok()).and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let value = value.ok_or_else(|| error(StatusCode::BAD_REQUEST, "Bad Request"))?;
    let kind = value["packageType"]
        .as_str()
        .unwrap_or("generic")
        .to_lowercase();
    let consistent = value["key"].as_str().is_none_or(|k| k == key);
    if !consistent || value["rclass"].as_str().is_some_and(|c| c != "local") {
        return Err(error(StatusCode::BAD_REQUEST, "Bad Request"));
    }
    if shared.repositories().await?.iter().any(|(k, _)| k == key) {
        let message = format!("Case insensitive repository key already exists: '{key}'");
        return Err(error(StatusCode::BAD_REQUEST, &message));
    }
    shared.with(|i| i.repositories.push((key.to_string(), kind)));
    let text = format!("Successfully created repository '{key}' \n");
    Ok(with_header(
        super::status(StatusCode::OK, text),
        "content-type",
        "text/plain",
    ))
}

#[cfg(test)]
mod tests;
