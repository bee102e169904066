//! A fake Harbor v2.0: the parts of its API Ferry uses (projects, repositories, artifacts with
//! their tags, labels and cosign accessories), its token service and its registry, in front of
//! a real distribution registry whose content the API tells.
//!
//! The API is Harbor's swagger (https://github.com/goharbor/harbor/blob/main/api/v2.0/swagger.yaml,
//! kept at /work/shared/reference/harbor-v2.0-swagger.yaml; operation ids cited per endpoint).
//! Paging is Harbor's `BaseAPI.Links` (src/server/v2.0/handler/base.go, src/lib/link.go): a
//! path with the query sorted by key, not an absolute URL; links joined by `" , "`.

// A refusal ends a request early with `?`: the whole answer is the error.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::{basic_of, bearer_of, param, percent_decode, query_of, with_header, Calls, Server};

const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const PUSH_TIME: &str = "2026-01-01T00:00:00.000Z";

/// An answer, or the refusal that ended the request early.
type Answer = Result<Response<Body>, Response<Body>>;

#[derive(Default)]
struct Inner {
    /// The largest page answered (0: Harbor's 100).
    max_page: usize,
    created: Vec<String>,
    requests: Vec<Value>,
    /// Label names by (repository, digest).
    labels: HashMap<(String, String), Vec<String>>,
    /// The user each token of the token service was issued to.
    tokens: HashMap<String, String>,
    throttle: usize,
    /// Stable ids by what they name (`project:x`, `artifact:repo@digest`, ...).
    ids: HashMap<String, i64>,
    /// What `POST /v2/manage/namespaces` answers, in turn (the last again); none: 404.
    prepare_answers: Vec<u16>,
    /// The prepare requests: the token's user and the body.
    prepared: Vec<(String, Value)>,
}

#[derive(Clone)]
struct Shared {
    url: String,
    upstream: String,
    http: reqwest::Client,
    users: Arc<Vec<(String, String)>>,
    calls: Calls,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn with<T: Default>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.inner.lock().map(|mut i| f(&mut i)).unwrap_or_default()
    }

    fn id(&self, key: String) -> i64 {
        self.with(|i| {
            let next = i.ids.len() as i64 + 1;
            *i.ids.entry(key).or_insert(next)
        })
    }

    /// The first component of every repository of the registry behind, and the created.
    async fn projects(&self) -> Result<Vec<String>, String> {
        let catalog = super::catalog(&self.http, &self.upstream).await?;
        let mut names: Vec<String> = (catalog.iter())
            .filter_map(|r| r.split_once('/').map(|(p, _)| p.to_string()))
            .chain(self.with(|i| i.created.clone()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Harbor's 404 for a project that does not exist.
    async fn known(&self, project: &str) -> Result<(), Response<Body>> {
        let projects = self.projects().await.map_err(internal)?;
        if projects.iter().any(|p| p == project) {
            return Ok(());
        }
        Err(not_found(&format!("project {project} not found")))
    }
}

pub struct FakeHarbor {
    url: String,
    shared: Shared,
    _server: Server,
}

impl FakeHarbor {
    /// A Harbor for `users` (name, password; `robot$...` are robot accounts, `admin` is the
    /// system admin) in front of the registry at `upstream`.
    pub async fn start(upstream: &str, users: &[(&str, &str)]) -> FakeHarbor {
        let (listener, url) = Server::bind().await;
        let users = users.iter().map(|(u, p)| (u.to_string(), p.to_string()));
        let shared = Shared {
            url: url.clone(),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            users: Arc::new(users.collect()),
            calls: Calls::default(),
            inner: Arc::default(),
        };
        let router = axum::Router::new().fallback(handle);
        let _server = Server::serve(listener, router.with_state(shared.clone()));
        FakeHarbor {
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

    /// Gives the artifact `digest` of `repository` (`project/rest`) these labels.
    pub fn set_labels(&self, repository: &str, digest: &str, labels: &[&str]) {
        let key = (repository.to_string(), digest.to_string());
        let labels = labels.iter().map(|l| l.to_string()).collect();
        self.shared.with(|i| i.labels.insert(key, labels));
    }

    /// The projects: those of the registry's repositories, and the created ones.
    pub async fn projects(&self) -> Vec<String> {
        self.shared
            .projects()
            .await
            .expect("the registry behind lists its catalog")
    }

    /// The bodies of the `POST /api/v2.0/projects` asked for, in order.
    pub fn project_requests(&self) -> Vec<Value> {
        self.shared.with(|i| i.requests.clone())
    }

    /// The next `n` requests under `/api/` answer 429 with `Retry-After: 1`.
    pub fn throttle_next(&self, n: usize) {
        self.shared.with(|i| i.throttle = n);
    }

    /// Serves the seed 000 public cloud's prepare endpoint, `POST /v2/manage/namespaces`
    /// behind the registry's own token auth (the seed's example handler), answering these
    /// statuses in turn and then the last one again.
    pub fn serve_prepare(&self, statuses: &[u16]) {
        self.shared.with(|i| i.prepare_answers = statuses.to_vec());
    }

    /// The prepare requests received: the user the registry token was issued to, and the body.
    pub fn prepare_requests(&self) -> Vec<(String, Value)> {
        self.shared.with(|i| i.prepared.clone())
    }

    /// Pages hold at most `n` items, whatever the client asks: listings take several pages.
    pub fn set_max_page_size(&self, n: usize) {
        self.shared.with(|i| i.max_page = n);
    }
}

/// Harbor's error body, its code the status's name (`NOT_FOUND`), as Harbor's `lib/errors` has.
fn error(status: StatusCode, message: &str) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("unknown");
    let code = reason.to_uppercase().replace(' ', "_");
    super::json(
        status,
        &json!({"errors": [{"code": code, "message": message}]}),
    )
}

fn not_found(message: &str) -> Response<Body> {
    error(StatusCode::NOT_FOUND, message)
}

fn bad_request(message: &str) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, message)
}

fn internal(e: String) -> Response<Body> {
    error(StatusCode::INTERNAL_SERVER_ERROR, &e)
}

async fn handle(State(shared): State<Shared>, request: Request<Body>) -> Response<Body> {
    shared.calls.record(&request);
    let path = request.uri().path().to_string();
    if path.starts_with("/api/") {
        if shared.with(|i| i.throttle.checked_sub(1).map(|n| i.throttle = n).is_some()) {
            let refused = error(StatusCode::TOO_MANY_REQUESTS, "slow down");
            return with_header(refused, "retry-after", 1);
        }
        return api(&shared, request)
            .await
            .unwrap_or_else(|refused| refused);
    }
    if path == "/service/token" {
        return token(&shared, &request);
    }
    if path == "/v2" || path.starts_with("/v2/") {
        return registry(&shared, request).await;
    }
    not_found("not found")
}

/// Harbor's token service, as distribution's token auth specifies it
/// (https://distribution.github.io/distribution/spec/auth/token/): HTTP Basic of a user.
fn token(shared: &Shared, request: &Request<Body>) -> Response<Body> {
    let Some((user, _)) = basic_of(request).filter(|c| shared.users.contains(c)) else {
        return error(StatusCode::UNAUTHORIZED, "invalid credentials");
    };
    let token = super::new_token("harbor");
    shared.with(|i| i.tokens.insert(token.clone(), user));
    let issued_at = super::now_rfc3339();
    let body =
        json!({"token": token, "access_token": token, "expires_in": 1800, "issued_at": issued_at});
    super::json(StatusCode::OK, &body)
}

/// The registry behind Harbor's tokens (https://distribution.github.io/distribution/spec/api/);
/// its `_catalog` is the system admin's only, as in Harbor (a robot is refused).
async fn registry(shared: &Shared, request: Request<Body>) -> Response<Body> {
    let user = bearer_of(&request).and_then(|t| shared.with(|i| i.tokens.get(&t).cloned()));
    let Some(user) = user else {
        let realm = format!("{}/service/token", shared.url);
        return super::challenge(&request, &realm, "harbor-registry");
    };
    if request.uri().path() == "/v2/manage/namespaces" && request.method() == Method::POST {
        return prepare(shared, user, request.into_body()).await;
    }
    if request.uri().path() == "/v2/_catalog" && user != "admin" {
        let message = "unauthorized to list catalog";
        return error(StatusCode::UNAUTHORIZED, message);
    }
    super::pass_through(&shared.http, &shared.upstream, request).await
}

/// The prepare endpoint a public cloud registry may serve for seed 000's handlers; not
/// Harbor's own API, kept here to stand for a destination that has one.
async fn prepare(shared: &Shared, user: String, body: Body) -> Response<Body> {
    let body = axum::body::to_bytes(body, 64 * 1024).await.ok();
    let value = body.and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let Some(value) = value else {
        return bad_request("the body is not JSON");
    };
    let status = shared.with(|i| {
        i.prepared.push((user, value));
        match i.prepare_answers.len() {
            0 => None,
            1 => Some(i.prepare_answers[0]),
            _ => Some(i.prepare_answers.remove(0)),
        }
    });
    let status = status.and_then(|s| StatusCode::from_u16(s).ok());
    match status {
        None => not_found("no prepare endpoint"),
        Some(status) if status.is_success() => super::status(status, ""),
        Some(status) => error(status, &format!("prepare refused with {}", status.as_u16())),
    }
}

/// What an API request asked: its path as sent, and its query.
struct Asked {
    path: String,
    query: Vec<(String, String)>,
}

async fn api(shared: &Shared, request: Request<Body>) -> Answer {
    let path = request.uri().path().to_string();
    let segments: Vec<&str> = path.split('/').skip(3).collect();
    let method = request.method().clone();
    if method == Method::GET && path == "/api/v2.0/ping" {
        // getPing: "Pong", no authentication.
        return Ok(with_header(
            super::status(StatusCode::OK, "Pong"),
            "content-type",
            "text/plain",
        ));
    }
    if !path.starts_with("/api/v2.0/") {
        return Err(not_found("no such API"));
    }
    if !basic_of(&request).is_some_and(|c| shared.users.contains(&c)) {
        return Err(error(StatusCode::UNAUTHORIZED, "unauthorized"));
    }
    let asked = Asked {
        path: path.clone(),
        query: query_of(&request),
    };
    let project = |p: &str| percent_decode(p).ok_or_else(|| bad_request("bad project name"));
    match (method, segments.as_slice()) {
        (Method::GET, ["projects"]) => list_projects(shared, &asked).await,
        (Method::HEAD, ["projects"]) => head_project(shared, &asked).await,
        (Method::POST, ["projects"]) => create_project(shared, request.into_body()).await,
        (Method::GET, ["projects", p, "repositories"]) => {
            list_repositories(shared, &asked, &project(p)?).await
        }
        (Method::GET, ["projects", p, "repositories", name, "artifacts"]) => {
            list_artifacts(shared, &asked, &project(p)?, name).await
        }
        _ => Err(not_found("no such API")),
    }
}

/// The page asked for: `page` (default 1) and `page_size` (default 10, at most 100), as the
/// swagger's `page` and `pageSize` parameters say.
fn paging(shared: &Shared, asked: &Asked) -> Result<(usize, usize), Response<Body>> {
    let number = |name: &str, default: usize| match param(&asked.query, name) {
        None => Ok(default),
        Some(v) => (v.parse::<usize>().ok().filter(|n| *n >= 1))
            .ok_or_else(|| bad_request(&format!("{name} must be a positive integer"))),
    };
    let most = match shared.with(|i| i.max_page) {
        0 => 100,
        n => n,
    };
    Ok((number("page", 1)?, number("page_size", 10)?.min(most)))
}

fn page_of<T>(items: &[T], (page, size): (usize, usize)) -> &[T] {
    let start = ((page - 1) * size).min(items.len());
    &items[start..(start + size).min(items.len())]
}

/// A page: `body` with `X-Total-Count`, and the `Link`s to the previous and next pages (the
/// path as asked, the query with `page` and `page_size` set, sorted by key, not escaped).
fn paged(asked: &Asked, total: usize, (page, size): (usize, usize), body: Vec<Value>) -> Answer {
    let link = |page: usize, rel: &str| {
        let mut query: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (k, v) in &asked.query {
            query.entry(k).or_default().push(v.clone());
        }
        query.insert("page", vec![page.to_string()]);
        query.insert("page_size", vec![size.to_string()]);
        let pairs = query
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| format!("{k}={v}")));
        format!(
            "<{}?{}>; rel=\"{rel}\"",
            asked.path,
            pairs.collect::<Vec<_>>().join("&")
        )
    };
    let mut links = Vec::new();
    if page > 1 && (page - 1) * size < total {
        links.push(link(page - 1, "prev"));
    }
    if page * size < total {
        links.push(link(page + 1, "next"));
    }
    let answer = super::json(StatusCode::OK, &Value::Array(body));
    let answer = with_header(answer, "x-total-count", total);
    Ok(match links.is_empty() {
        true => answer,
        false => with_header(answer, "link", links.join(" , ")),
    })
}

/// GET /projects (swagger: listProjects), sorted by name.
async fn list_projects(shared: &Shared, asked: &Asked) -> Answer {
    let paging = paging(shared, asked)?;
    let names = shared.projects().await.map_err(internal)?;
    let page = page_of(&names, paging).iter().map(|name| {
        let id = shared.id(format!("project:{name}"));
        json!({"project_id": id, "name": name, "metadata": {"public": "false"}})
    });
    paged(asked, names.len(), paging, page.collect())
}

/// HEAD /projects?project_name= (swagger: headProject): 200 or 404.
async fn head_project(shared: &Shared, asked: &Asked) -> Answer {
    let name = param(&asked.query, "project_name").ok_or_else(|| bad_request("no project_name"))?;
    let exists = shared.projects().await.map_err(internal)?.contains(&name);
    Ok(match exists {
        true => super::status(StatusCode::OK, ""),
        false => super::status(StatusCode::NOT_FOUND, ""),
    })
}

/// POST /projects (swagger: createProject): 201 with `Location`, 409 when it exists; a
/// project named `forbidden` is refused (403), as for a user without the right.
async fn create_project(shared: &Shared, body: Body) -> Answer {
    let body = axum::body::to_bytes(body, 64 * 1024).await;
    let value = (body
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok()))
    .ok_or_else(|| bad_request("the body is not a ProjectReq"))?;
    shared.with(|i| i.requests.push(value.clone()));
    let name = (value["project_name"].as_str().filter(|n| !n.is_empty()))
        .ok_or_else(|| bad_request("project_name is required"))?;
    if name == "forbidden" {
        return Err(error(StatusCode::FORBIDDEN, "forbidden"));
    }
    let projects = shared.projects().await.map_err(internal)?;
    if projects.iter().any(|n| n == name) {
        let message = format!("The project named {name} already exists");
        return Err(error(StatusCode::CONFLICT, &message));
    }
    shared.with(|i| i.created.push(name.to_string()));
    let location = format!(
        "/api/v2.0/projects/{}",
        shared.id(format!("project:{name}"))
    );
    Ok(with_header(
        super::status(StatusCode::CREATED, ""),
        "location",
        location,
    ))
}

/// GET /projects/{project_name}/repositories (swagger: listRepositories), sorted by name.
async fn list_repositories(shared: &Shared, asked: &Asked, project: &str) -> Answer {
    let paging = paging(shared, asked)?;
    shared.known(project).await?;
    let mut names = super::catalog(&shared.http, &shared.upstream)
        .await
        .map_err(internal)?;
    names.retain(|n| n.starts_with(&format!("{project}/")));
    names.sort();
    let mut page = Vec::new();
    for name in page_of(&names, paging) {
        let found = artifacts(shared, name).await.map_err(internal)?;
        let (id, project_id) = (
            shared.id(format!("repository:{name}")),
            shared.id(format!("project:{project}")),
        );
        let count = found.map(|f| f.len()).unwrap_or_default();
        page.push(
            json!({"id": id, "name": name, "project_id": project_id, "artifact_count": count}),
        );
    }
    paged(asked, names.len(), paging, page)
}

/// One artifact: a manifest with at least one tag, and the cosign signatures of it.
struct Found {
    digest: String,
    manifest_type: String,
    manifest: Value,
    size: u64,
    tags: Vec<String>,
    /// (digest, size) of each signature manifest.
    signatures: Vec<(String, usize)>,
}

/// The subject digest a cosign tag (`sha256-<hex>.sig`, `.att`, `.sbom`) names.
fn cosign_subject(tag: &str) -> Option<String> {
    let hex = tag.strip_prefix("sha256-")?;
    let hex = [".sig", ".att", ".sbom"]
        .iter()
        .find_map(|s| hex.strip_suffix(s))?;
    let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| format!("sha256:{hex}"))
}

/// The artifacts of `repository` in the registry behind, by digest; None when it has no such
/// repository.
async fn artifacts(shared: &Shared, repository: &str) -> Result<Option<Vec<Found>>, String> {
    let tagged = super::tagged(&shared.http, &shared.upstream, repository, Method::GET).await?;
    let Some(tagged) = tagged else {
        return Ok(None);
    };
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let mut signatures = Vec::new();
    for (tag, got) in tagged {
        if let Some(subject) = cosign_subject(&tag) {
            signatures.push((subject, got.digest, got.bytes.len()));
            continue;
        }
        let manifest: Value = serde_json::from_slice(&got.bytes).map_err(|e| e.to_string())?;
        // Harbor's size: the manifest's, and that of all it references.
        let referenced: u64 = ["layers", "manifests"]
            .iter()
            .flat_map(|f| manifest[f].as_array().into_iter().flatten())
            .chain(std::iter::once(&manifest["config"]))
            .filter_map(|d| d["size"].as_u64())
            .sum();
        let manifest_type = manifest["mediaType"]
            .as_str()
            .unwrap_or(&got.media_type)
            .to_string();
        let size = got.bytes.len() as u64 + referenced;
        let (digest, tags, signatures) = (got.digest.clone(), Vec::new(), Vec::new());
        let entry = found.entry(got.digest).or_insert(Found {
            digest,
            manifest_type,
            manifest,
            size,
            tags,
            signatures,
        });
        entry.tags.push(tag);
    }
    for (subject, digest, size) in signatures {
        if let Some(artifact) = found.get_mut(&subject) {
            artifact.signatures.push((digest, size));
        }
    }
    Ok(Some(found.into_values().collect()))
}

/// Harbor's artifact type, and `media_type` (the config's media type, or the index's own).
fn type_of(found: &Found) -> (&'static str, String) {
    if found.manifest_type.contains("index") || found.manifest_type.contains("manifest.list") {
        return ("IMAGE", found.manifest_type.clone());
    }
    let config = found.manifest["config"]["mediaType"]
        .as_str()
        .unwrap_or_default();
    let kind = match config {
        HELM_CONFIG => "CHART",
        "application/vnd.oci.image.config.v1+json"
        | "application/vnd.docker.container.image.v1+json" => "IMAGE",
        _ => "UNKNOWN",
    };
    (kind, config.to_string())
}

/// GET /projects/{project_name}/repositories/{repository_name}/artifacts (swagger:
/// listArtifacts): `repository_name` without the project, a `/` in it escaped twice (`a%252Fb`);
/// `with_tag` (default true) and `with_label` (default false) include tags and labels, else
/// null; `accessories` are the cosign signatures. An empty list is null, as Harbor's nil
/// slices (`Artifact.ToSwagger` appends to them) are.
async fn list_artifacts(shared: &Shared, asked: &Asked, project: &str, raw: &str) -> Answer {
    let paging = paging(shared, asked)?;
    // Escaped once, the `/` is a `/` to Harbor's router, which then routes nowhere.
    let once = percent_decode(raw).filter(|n| !n.contains('/'));
    let name = (once.and_then(|n| percent_decode(&n)))
        .ok_or_else(|| not_found(&format!("path {} was not found", asked.path)))?;
    shared.known(project).await?;
    let repository = format!("{project}/{name}");
    let found = (artifacts(shared, &repository).await.map_err(internal)?)
        .ok_or_else(|| not_found(&format!("repository {repository} not found")))?;
    let with_tag = param(&asked.query, "with_tag").is_none_or(|v| v == "true");
    let with_label = param(&asked.query, "with_label").is_some_and(|v| v == "true");
    let repository_id = shared.id(format!("repository:{repository}"));
    let project_id = shared.id(format!("project:{project}"));
    let mut page = Vec::new();
    for artifact in page_of(&found, paging) {
        let id = shared.id(format!("artifact:{repository}@{}", artifact.digest));
        let (kind, media_type) = type_of(artifact);
        let tags: Vec<Value> = (artifact.tags.iter())
            .map(|tag| {
                let tag_id = shared.id(format!("tag:{repository}:{tag}"));
                json!({"id": tag_id, "name": tag, "artifact_id": id, "repository_id": repository_id,
                   "push_time": PUSH_TIME, "immutable": false})
            })
            .collect();
        let key = (repository.clone(), artifact.digest.clone());
        let labels = shared
            .with(|i| i.labels.get(&key).cloned())
            .unwrap_or_default();
        let label =
            |name| json!({"id": shared.id(format!("label:{name}")), "name": name, "scope": "g"});
        let labels: Vec<Value> = labels.iter().map(label).collect();
        let accessories: Vec<Value> = (artifact.signatures.iter())
            .map(|(digest, size)| {
                let accessory_id = shared.id(format!("artifact:{repository}@{digest}"));
                json!({"id": accessory_id, "artifact_id": accessory_id, "subject_artifact_id": id,
                   "subject_artifact_digest": artifact.digest, "subject_artifact_repo": repository,
                   "type": "signature.cosign", "digest": digest, "size": size})
            })
            .collect();
        page.push(json!({
            "id": id, "digest": artifact.digest, "type": kind, "media_type": media_type,
            "manifest_media_type": artifact.manifest_type, "project_id": project_id,
            "repository_id": repository_id, "size": artifact.size, "push_time": PUSH_TIME,
            "tags": if with_tag { json!(tags) } else { Value::Null },
            "labels": if with_label && !labels.is_empty() { json!(labels) } else { Value::Null },
            "accessories": if accessories.is_empty() { Value::Null } else { json!(accessories) },
        }));
    }
    paged(asked, found.len(), paging, page)
}

#[cfg(test)]
mod tests;
