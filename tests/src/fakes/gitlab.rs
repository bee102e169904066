//! A fake GitLab: the REST API v4 Ferry uses (projects, their container registry's
//! repositories and tags, groups) behind a personal access token, and the container registry
//! behind GitLab's JWT token flow, in front of a real distribution registry whose content the
//! API tells. A project is `group/project`: the first two components of every repository of
//! the registry behind, and the added ones; the registry refuses repositories outside one.
//!
//! The API: https://docs.gitlab.com/api/container_registry/ , https://docs.gitlab.com/api/projects/ ,
//! https://docs.gitlab.com/api/groups/ ; paging: https://docs.gitlab.com/api/rest/#pagination .
//! The registry's tokens:
//! https://docs.gitlab.com/user/packages/container_registry/authenticate_with_container_registry/ .

// A refusal ends a request early with `?`: the whole answer is the error.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::{basic_of, bearer_of, param, percent_decode, query_of, with_header, Calls, Grants};

const SERVICE: &str = "container_registry";

/// An answer, or the refusal that ended the request early.
type Answer = Result<Response<Body>, Response<Body>>;

#[derive(Default)]
struct Inner {
    /// The largest page answered (0: GitLab's 100).
    max_page: usize,
    projects: Vec<String>,
    /// Stable ids by what they name (`project:g/p`, `repository:g/p/x`), one sequence a kind.
    ids: HashMap<String, i64>,
}

#[derive(Clone)]
struct Shared {
    url: String,
    /// The registry's `host:port`, as `location`s have it.
    host: String,
    upstream: String,
    http: reqwest::Client,
    user: String,
    token: String,
    started: String,
    calls: Calls,
    grants: Grants,
    inner: Arc<Mutex<Inner>>,
}

/// What the registry behind holds, as GitLab sees it.
struct World {
    /// Project paths, sorted.
    projects: Vec<String>,
    catalog: Vec<String>,
}

impl World {
    /// The project `repository` belongs to: the longest project path it is or is under.
    fn project_of(&self, repository: &str) -> Option<&String> {
        (self.projects.iter())
            .filter(|p| {
                repository == p.as_str()
                    || repository
                        .strip_prefix(p.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
            .max_by_key(|p| p.len())
    }

    /// The repositories of `project`, sorted.
    fn repositories(&self, project: &str) -> Vec<&String> {
        let mut all: Vec<&String> = (self.catalog.iter())
            .filter(|r| self.project_of(r).is_some_and(|p| p == project))
            .collect();
        all.sort();
        all
    }
}

impl Shared {
    fn with<T: Default>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.inner.lock().map(|mut i| f(&mut i)).unwrap_or_default()
    }

    fn id(&self, kind: &str, name: &str) -> i64 {
        self.with(|i| {
            let prefix = format!("{kind}:");
            let next = i.ids.keys().filter(|k| k.starts_with(&prefix)).count() as i64 + 1;
            *i.ids.entry(format!("{prefix}{name}")).or_insert(next)
        })
    }

    async fn world(&self) -> Result<World, Response<Body>> {
        let catalog = super::catalog(&self.http, &self.upstream).await;
        let catalog = catalog.map_err(|e| message(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
        let mut projects: Vec<String> = (catalog.iter())
            .filter_map(|r| {
                let mut parts = r.splitn(3, '/');
                Some(format!("{}/{}", parts.next()?, parts.next()?))
            })
            .chain(self.with(|i| i.projects.clone()))
            .collect();
        projects.sort();
        projects.dedup();
        for project in &projects {
            self.id("project", project);
        }
        Ok(World { projects, catalog })
    }
}

pub struct FakeGitlab {
    url: String,
    shared: Shared,
    _server: super::Server,
}

impl FakeGitlab {
    /// A GitLab where `user` authenticates with the personal access token `token` (to the API
    /// and, as Basic `user:token`, to the registry's token service), in front of the registry
    /// at `upstream`.
    pub async fn start(upstream: &str, user: &str, token: &str) -> FakeGitlab {
        let (listener, url) = super::Server::bind().await;
        let shared = Shared {
            url: url.clone(),
            host: url.trim_start_matches("http://").to_string(),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            user: user.to_string(),
            token: token.to_string(),
            started: super::now_rfc3339(),
            calls: Calls::default(),
            grants: Grants::default(),
            inner: Arc::default(),
        };
        let router = axum::Router::new().fallback(handle);
        let _server = super::Server::serve(listener, router.with_state(shared.clone()));
        FakeGitlab {
            url,
            shared,
            _server,
        }
    }

    /// The base URL of the API, the token service and the registry alike.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn calls(&self) -> Calls {
        self.shared.calls.clone()
    }

    /// A project (`group/project`) that exists even with no repository: one pushes may go to.
    pub fn add_project(&self, path: &str) {
        let path = path.trim_matches('/').to_string();
        self.shared.with(|i| i.projects.push(path));
    }

    /// Pages hold at most `n` items, whatever the client asks: listings take several pages.
    pub fn set_max_page_size(&self, n: usize) {
        self.shared.with(|i| i.max_page = n);
    }
}

/// GitLab's API error: `{"message": "..."}`.
fn message(status: StatusCode, message: &str) -> Response<Body> {
    super::json(status, &json!({"message": message}))
}

fn denied() -> Response<Body> {
    let body = json!({"errors": [{"code": "DENIED", "message": "access forbidden"}]});
    super::json(StatusCode::FORBIDDEN, &body)
}

async fn handle(State(shared): State<Shared>, request: Request<Body>) -> Response<Body> {
    shared.calls.record(&request);
    let path = request.uri().path().to_string();
    let answer = if path == "/jwt/auth" {
        let scopes = super::scopes_in(request.uri().query().unwrap_or_default());
        token(&shared, basic_of(&request), scopes).await
    } else if path == "/v2" || path.starts_with("/v2/") {
        registry(&shared, request).await
    } else if let Some(rest) = path.strip_prefix("/api/v4/") {
        let private = (request.headers().get("private-token")).and_then(|v| v.to_str().ok());
        let presented = private.map(String::from).or_else(|| bearer_of(&request));
        let asked = Asked {
            get: request.method() == Method::GET,
            path: path.clone(),
            query: query_of(&request),
        };
        match presented.as_deref() == Some(shared.token.as_str()) {
            true => api(&shared, &asked, rest).await,
            false => Err(message(StatusCode::UNAUTHORIZED, "401 Unauthorized")),
        }
    } else {
        Err(message(StatusCode::NOT_FOUND, "404 Not Found"))
    };
    answer.unwrap_or_else(|refused| refused)
}

/// `GET /jwt/auth?service=container_registry&scope=...` with Basic `user:token`: a registry
/// token for the scopes asked on repositories of projects; others are left out, as GitLab's
/// `ContainerRegistryAuthenticationService` does.
async fn token(shared: &Shared, basic: Option<(String, String)>, scopes: Vec<String>) -> Answer {
    if basic != Some((shared.user.clone(), shared.token.clone())) {
        let text = "HTTP Basic: Access denied";
        let body = json!({"errors": [{"code": "UNAUTHORIZED", "message": text}]});
        return Err(super::json(StatusCode::UNAUTHORIZED, &body));
    }
    let world = shared.world().await?;
    let granted = scopes.into_iter().filter(|scope| {
        let name = scope
            .strip_prefix("repository:")
            .and_then(|r| r.rsplit_once(':'));
        name.is_some_and(|(name, _)| world.project_of(name).is_some())
    });
    Ok(shared.grants.issue("gitlab", granted.collect()))
}

/// The registry behind GitLab's tokens: a repository outside every project is refused
/// (403 `DENIED`, as GitLab's registry answers a token without the access).
async fn registry(shared: &Shared, request: Request<Body>) -> Answer {
    match shared.grants.cover(&request) {
        Some(true) => {}
        Some(false) => {
            let world = shared.world().await?;
            let outside = super::repository_scope(&request)
                .is_some_and(|(repository, _)| world.project_of(&repository).is_none());
            let realm = format!("{}/jwt/auth", shared.url);
            return Err(match outside {
                true => denied(),
                false => super::challenge(&request, &realm, SERVICE),
            });
        }
        None => {
            let realm = format!("{}/jwt/auth", shared.url);
            return Err(super::challenge(&request, &realm, SERVICE));
        }
    }
    Ok(super::pass_through(&shared.http, &shared.upstream, request).await)
}

/// What an API request asked: a GET or not, its path as sent, and its query.
struct Asked {
    get: bool,
    path: String,
    query: Vec<(String, String)>,
}

/// The REST API under `/api/v4/`, behind `PRIVATE-TOKEN` or `Authorization: Bearer`.
async fn api(shared: &Shared, asked: &Asked, rest: &str) -> Answer {
    if !asked.get {
        return Err(message(StatusCode::NOT_FOUND, "404 Not Found"));
    }
    let segments: Vec<String> = (rest.trim_end_matches('/').split('/'))
        .map(|s| percent_decode(s).unwrap_or_default())
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let world = shared.world().await?;
    let project_not_found = || message(StatusCode::NOT_FOUND, "404 Project Not Found");
    match segments.as_slice() {
        // GET /projects?membership=true&simple=true (https://docs.gitlab.com/api/projects/#list-all-projects):
        // every project, sorted by path here.
        ["projects"] => {
            let items = world.projects.iter().map(|p| project(shared, p)).collect();
            page(shared, asked, items)
        }
        // GET /groups/:id (https://docs.gitlab.com/api/groups/#get-a-single-group): a
        // namespace of a project.
        ["groups", group] => {
            let prefix = format!("{group}/");
            match world.projects.iter().any(|p| p.starts_with(&prefix)) {
                true => {
                    let name = group.rsplit('/').next().unwrap_or(group);
                    let id = shared.id("group", group);
                    let body = json!({"id": id, "name": name, "path": name, "full_path": group});
                    Ok(super::json(StatusCode::OK, &body))
                }
                false => Err(message(StatusCode::NOT_FOUND, "404 Group Not Found")),
            }
        }
        ["projects", id, rest @ ..] => {
            let found = (world.projects.iter())
                .find(|p| *p == id || shared.id("project", p).to_string() == *id);
            let path = found.ok_or_else(project_not_found)?;
            project_api(shared, asked, &world, path, rest).await
        }
        _ => Err(message(StatusCode::NOT_FOUND, "404 Not Found")),
    }
}

/// What is under `/projects/:id`.
async fn project_api(
    shared: &Shared,
    asked: &Asked,
    world: &World,
    path: &str,
    rest: &[&str],
) -> Answer {
    let project_id = shared.id("project", path);
    let repositories = world.repositories(path);
    let repository_of = |id: &str| {
        let found = (repositories.iter()).find(|r| shared.id("repository", r).to_string() == id);
        found.ok_or_else(|| message(StatusCode::NOT_FOUND, "404 Repository Not Found"))
    };
    let location = |name: &str| format!("{}/{name}", shared.host);
    match rest {
        // GET /projects/:id (https://docs.gitlab.com/api/projects/#get-a-single-project).
        [] => Ok(super::json(StatusCode::OK, &project(shared, path))),
        // GET /projects/:id/registry/repositories
        // (https://docs.gitlab.com/api/container_registry/#within-a-project).
        ["registry", "repositories"] => {
            let items = (repositories.iter()).map(|r| {
                let name = r
                    .strip_prefix(path)
                    .unwrap_or_default()
                    .trim_start_matches('/');
                json!({"id": shared.id("repository", r), "name": name, "path": r,
                       "project_id": project_id, "location": location(r),
                       "created_at": shared.started, "cleanup_policy_started_at": null})
            });
            page(shared, asked, items.collect())
        }
        // GET /projects/:id/registry/repositories/:repository_id/tags
        // (https://docs.gitlab.com/api/container_registry/#list-registry-repository-tags):
        // names, paths and locations, no digest; sorted by name.
        ["registry", "repositories", id, "tags"] => {
            let repository = repository_of(id)?;
            let tags = super::tags(&shared.http, &shared.upstream, repository).await;
            let tags = tags.map_err(|e| message(StatusCode::BAD_GATEWAY, &e))?;
            let mut tags = tags.unwrap_or_default();
            tags.sort();
            let items = (tags.iter()).map(|tag| {
                let path = format!("{repository}:{tag}");
                json!({"name": tag, "path": path, "location": location(&path)})
            });
            page(shared, asked, items.collect())
        }
        // GET /projects/:id/registry/repositories/:repository_id/tags/:tag_name
        // (https://docs.gitlab.com/api/container_registry/#get-details-of-a-registry-repository-tag).
        ["registry", "repositories", id, "tags", tag] => {
            let repository = repository_of(id)?;
            let got = super::manifest(&shared.http, &shared.upstream, repository, tag, Method::GET);
            let got = got
                .await
                .map_err(|e| message(StatusCode::BAD_GATEWAY, &e))?;
            let got = got.ok_or_else(|| message(StatusCode::NOT_FOUND, "404 Tag Not Found"))?;
            let manifest: Value = serde_json::from_slice(&got.bytes).unwrap_or_default();
            let size = |v: &Value| v["size"].as_i64().unwrap_or_default();
            let parts = (manifest["layers"].as_array().into_iter())
                .chain(manifest["manifests"].as_array())
                .flatten();
            let total_size = size(&manifest["config"]) + parts.map(size).sum::<i64>();
            let revision = (manifest["config"]["digest"].as_str()).unwrap_or(&got.digest);
            let revision = revision.trim_start_matches("sha256:");
            let path = format!("{repository}:{tag}");
            let body = json!({"name": tag, "path": path, "location": location(&path),
                "revision": revision, "short_revision": &revision[..revision.len().min(9)],
                "digest": got.digest, "created_at": shared.started, "total_size": total_size});
            Ok(super::json(StatusCode::OK, &body))
        }
        _ => Err(message(StatusCode::NOT_FOUND, "404 Not Found")),
    }
}

/// A project as the API answers it (the fields `simple=true` keeps).
fn project(shared: &Shared, path: &str) -> Value {
    let (namespace, name) = path.rsplit_once('/').unwrap_or(("", path));
    json!({"id": shared.id("project", path), "name": name, "path": name,
        "path_with_namespace": path, "name_with_namespace": path.replace('/', " / "),
        "namespace": {"full_path": namespace, "path": namespace.rsplit('/').next(), "kind": "group"},
        "created_at": shared.started, "web_url": format!("{}/{path}", shared.url)})
}

/// A page of `items` as GitLab pages offsets: `page` (from 1), `per_page` (20, at most 100),
/// and the `X-Next-Page` (empty on the last), `X-Page`, `X-Per-Page`, `X-Prev-Page`,
/// `X-Total`, `X-Total-Pages` and `Link` headers.
fn page(shared: &Shared, asked: &Asked, items: Vec<Value>) -> Answer {
    let query = &asked.query;
    let number = |key: &str| param(query, key).and_then(|v| v.parse::<usize>().ok());
    let most = super::page_cap(shared.with(|i| i.max_page), 100);
    let per_page = number("per_page").unwrap_or(20).clamp(1, most);
    let page = number("page").unwrap_or(1).max(1);
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let shown: Vec<Value> = (items.into_iter())
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let next = if page < pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    let prev = if page > 1 {
        (page - 1).to_string()
    } else {
        String::new()
    };
    let link_to = |to: usize, rel: &str| {
        let mut pairs: Vec<(String, String)> = (query.iter())
            .filter(|(k, _)| k != "page")
            .cloned()
            .collect();
        pairs.push(("page".into(), to.to_string()));
        let mut encoded = url::form_urlencoded::Serializer::new(String::new());
        let encoded = encoded.extend_pairs(pairs).finish();
        format!("<{}{}?{encoded}>; rel=\"{rel}\"", shared.url, asked.path)
    };
    let mut links = Vec::new();
    if page < pages {
        links.push(link_to(page + 1, "next"));
    }
    links.push(link_to(1, "first"));
    links.push(link_to(pages, "last"));
    let mut answer = super::json(StatusCode::OK, &Value::Array(shown));
    answer = with_header(answer, "x-next-page", next);
    answer = with_header(answer, "x-prev-page", prev);
    answer = with_header(answer, "x-page", page);
    answer = with_header(answer, "x-per-page", per_page);
    answer = with_header(answer, "x-total", total);
    answer = with_header(answer, "x-total-pages", pages);
    Ok(with_header(answer, "link", links.join(", ")))
}

#[cfg(test)]
mod tests;
