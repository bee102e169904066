//! GitHub Container Registry (ghcr.io) and GitHub's packages REST API (api.github.com) on one
//! port, in front of a distribution registry. What the API answers is read from the registry:
//! an owner is the user, an organization added, or the first component of a repository there;
//! a package of owner O is a repository `O/<package name>`; a version is a tagged manifest.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::{
    basic_of, bearer_of, challenge, field, json, new_token, pass_through, query_pairs,
    scopes_cover, scopes_in, Calls,
};

const NOT_FOUND_DOC: &str = "https://docs.github.com/rest/packages/packages";

pub struct FakeGhcr {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    url: String,
    upstream: String,
    user: String,
    token: String,
    http: reqwest::Client,
    calls: Calls,
    started: String,
    state: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    /// The largest page answered (0: GitHub's 100).
    max_page: usize,
    orgs: Vec<String>,
    /// Registry tokens issued, with the scopes they grant.
    tokens: HashMap<String, Vec<String>>,
    throttled: usize,
    used: u64,
    /// Ids of packages and versions, given on first sight.
    ids: HashMap<String, i64>,
}

impl FakeGhcr {
    pub async fn start(upstream: &str, user: &str, token: &str) -> Self {
        let mut shared = None;
        let (url, task) = super::serve(|url| {
            let state = Arc::new(Shared {
                url: url.to_string(),
                upstream: upstream.trim_end_matches('/').to_string(),
                user: user.to_string(),
                token: token.to_string(),
                http: reqwest::Client::new(),
                calls: Calls::default(),
                started: super::now_rfc3339(),
                state: Mutex::new(Registry::default()),
            });
            shared = Some(state.clone());
            axum::Router::new().fallback(handle).with_state(state)
        })
        .await;
        let shared = shared.expect("state");
        Self { url, shared, task }
    }

    /// The base URL of both the registry and the REST API.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn calls(&self) -> Calls {
        self.shared.calls.clone()
    }

    /// An organization that exists even with no package.
    pub fn add_org(&self, name: &str) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.orgs.push(name.to_string());
        }
    }

    /// The next `n` REST API requests hit GitHub's secondary rate limit (403).
    pub fn throttle_next(&self, n: usize) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.throttled = n;
        }
    }

    /// Pages hold at most `n` items, whatever the client asks: listings take several pages.
    pub fn set_max_page_size(&self, n: usize) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.max_page = n;
        }
    }
}

impl Drop for FakeGhcr {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request<Body>) -> Response<Body> {
    shared.calls.record(&request);
    let path = request.uri().path();
    if path == "/token" {
        return token(&shared, &request);
    }
    if path == "/v2" || path.starts_with("/v2/") {
        return registry(&shared, request).await;
    }
    let (throttled, used) = match shared.state.lock() {
        Ok(mut state) => {
            let throttled = state.throttled > 0;
            if throttled {
                state.throttled -= 1;
            } else {
                state.used += 1;
            }
            (throttled, state.used)
        }
        Err(_) => (false, 0),
    };
    let (mut answer, remaining) = if throttled {
        // https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
        let mut answer = json(
            StatusCode::FORBIDDEN,
            &json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                    "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"}),
        );
        answer.headers_mut().insert("retry-after", 1.into());
        answer
            .headers_mut()
            .insert("x-ratelimit-reset", (epoch() + 1).into());
        (answer, 0)
    } else {
        let (parts, _) = request.into_parts();
        let mut answer = rest(&shared, &parts).await;
        answer
            .headers_mut()
            .insert("x-ratelimit-reset", (epoch() + 3600).into());
        (answer, 5000u64.saturating_sub(used))
    };
    let headers = answer.headers_mut();
    headers.insert("x-ratelimit-limit", 5000.into());
    headers.insert("x-ratelimit-remaining", remaining.into());
    headers.insert("x-ratelimit-used", used.into());
    headers.insert(
        "x-ratelimit-resource",
        http::HeaderValue::from_static("core"),
    );
    answer
}

/// `GET /token?scope=...&service=ghcr.io` with Basic `user:token`: a registry token
/// (https://docs.github.com/en/packages/working-with-a-github-packages-registry/working-with-the-container-registry#authenticating-to-the-container-registry).
fn token(shared: &Shared, request: &Request<Body>) -> Response<Body> {
    if basic_of(request) != Some((shared.user.clone(), shared.token.clone())) {
        return json(
            StatusCode::UNAUTHORIZED,
            &json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}),
        );
    }
    let token = new_token("ghcr");
    let scopes = scopes_in(request.uri().query().unwrap_or_default());
    if let Ok(mut state) = shared.state.lock() {
        state.tokens.insert(token.clone(), scopes);
    }
    json(StatusCode::OK, &json!({"token": token}))
}

/// The registry behind the token gate (the token flow of
/// https://docs.github.com/en/packages/working-with-a-github-packages-registry/working-with-the-container-registry );
/// GHCR has no catalog: `/v2/_catalog` is 404.
async fn registry(shared: &Shared, request: Request<Body>) -> Response<Body> {
    let scopes = bearer_of(&request)
        .and_then(|t| shared.state.lock().ok()?.tokens.get(&t).cloned())
        .filter(|scopes| scopes_cover(scopes, &request));
    if scopes.is_none() {
        return challenge(&request, &format!("{}/token", shared.url), "ghcr.io");
    }
    if request.uri().path() == "/v2/_catalog" {
        return json(
            StatusCode::NOT_FOUND,
            &json!({"errors": [{"code": "NOT_FOUND", "message": "404 page not found"}]}),
        );
    }
    pass_through(&shared.http, &shared.upstream, request).await
}

fn gh_error(status: StatusCode, message: &str) -> Response<Body> {
    json(
        status,
        &json!({"message": message, "documentation_url": NOT_FOUND_DOC}),
    )
}

fn decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn encode(name: &str) -> String {
    url::form_urlencoded::byte_serialize(name.as_bytes()).collect()
}

/// The REST API: https://docs.github.com/en/rest/packages/packages and the users' and
/// organizations' own endpoints.
async fn rest(shared: &Shared, request: &Parts) -> Response<Body> {
    let authorization = request
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let presented = authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("token "));
    if presented.map(str::trim) != Some(shared.token.as_str()) {
        return gh_error(StatusCode::UNAUTHORIZED, "Requires authentication");
    }
    if request.method != http::Method::GET {
        return gh_error(StatusCode::NOT_FOUND, "Not Found");
    }
    let path = request.uri.path();
    let segments: Vec<String> = path
        .strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .map(decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let repositories = match super::upstream::catalog(&shared.http, &shared.upstream).await {
        Ok(repositories) => repositories,
        Err(e) => return gh_error(StatusCode::BAD_GATEWAY, &e),
    };
    let owners = owners(shared, &repositories);
    // The owner a path names and its type: `/user` is the authenticated user, `/orgs/{org}`
    // an organization only, `/users/{username}` any account.
    let (owner, rest) = match segments.as_slice() {
        ["user", rest @ ..] => (Some(shared.user.clone()), rest),
        ["orgs", name, rest @ ..] => (
            owners
                .iter()
                .find(|o| o.eq_ignore_ascii_case(name) && !o.eq_ignore_ascii_case(&shared.user))
                .cloned(),
            rest,
        ),
        ["users", name, rest @ ..] => (
            owners
                .iter()
                .find(|o| o.eq_ignore_ascii_case(name))
                .cloned(),
            rest,
        ),
        _ => (None, &[][..]),
    };
    let Some(owner) = owner else {
        return gh_error(StatusCode::NOT_FOUND, "Not Found");
    };
    let kind = if owner == shared.user {
        "User"
    } else {
        "Organization"
    };
    let packages: BTreeMap<String, String> = repositories
        .iter()
        .filter_map(|r| {
            let (first, name) = r.split_once('/')?;
            first
                .eq_ignore_ascii_case(&owner)
                .then(|| (name.to_string(), r.clone()))
        })
        .collect();
    let query = query_pairs(request.uri.query());
    match rest {
        // https://docs.github.com/en/rest/users/users#get-a-user ,
        // https://docs.github.com/en/rest/orgs/orgs#get-an-organization
        [] => json(
            StatusCode::OK,
            &json!({"login": owner, "id": id(shared, &format!("owner:{owner}")), "type": kind}),
        ),
        // https://docs.github.com/en/rest/packages/packages#list-packages-for-the-authenticated-users-namespace
        // (and for an organization, for a user)
        ["packages"] => {
            match field(&query, "package_type") {
                None => {
                    return gh_error(StatusCode::BAD_REQUEST, "package_type is required");
                }
                Some("container") => {}
                Some("npm" | "maven" | "rubygems" | "docker" | "nuget") => {
                    return page(shared, request, Vec::new());
                }
                Some(_) => return gh_error(StatusCode::BAD_REQUEST, "Invalid package_type"),
            }
            if field(&query, "visibility").is_some_and(|v| v != "private") {
                return page(shared, request, Vec::new());
            }
            let items = packages
                .keys()
                .map(|name| package(shared, &owner, kind, name))
                .collect();
            page(shared, request, items)
        }
        // https://docs.github.com/en/rest/packages/packages#get-a-package-for-an-organization
        ["packages", "container", name] if packages.contains_key(*name) => {
            json(StatusCode::OK, &package(shared, &owner, kind, name))
        }
        // https://docs.github.com/en/rest/packages/packages#list-package-versions-for-a-package-owned-by-an-organization
        ["packages", "container", name, "versions"] => match packages.get(*name) {
            Some(repository) => match versions(shared, &owner, kind, name, repository).await {
                Ok(items) => page(shared, request, items),
                Err(e) => gh_error(StatusCode::BAD_GATEWAY, &e),
            },
            None => gh_error(StatusCode::NOT_FOUND, "Package not found."),
        },
        _ => gh_error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// The accounts: the user, the organizations added, and the repositories' first components.
fn owners(shared: &Shared, repositories: &[String]) -> Vec<String> {
    let mut owners = vec![shared.user.clone()];
    if let Ok(state) = shared.state.lock() {
        owners.extend(state.orgs.iter().cloned());
    }
    for repository in repositories {
        if let Some((first, _)) = repository.split_once('/') {
            if !owners.iter().any(|o| o.eq_ignore_ascii_case(first)) {
                owners.push(first.to_string());
            }
        }
    }
    owners
}

fn id(shared: &Shared, key: &str) -> i64 {
    let Ok(mut state) = shared.state.lock() else {
        return 0;
    };
    let next = state.ids.len() as i64 + 1;
    *state.ids.entry(key.to_string()).or_insert(next)
}

fn package(shared: &Shared, owner: &str, kind: &str, name: &str) -> Value {
    let space = if kind == "User" { "users" } else { "orgs" };
    json!({
        "id": id(shared, &format!("package:{owner}/{name}")),
        "name": name,
        "package_type": "container",
        "owner": {"login": owner, "id": id(shared, &format!("owner:{owner}")), "type": kind},
        "visibility": "private",
        "url": format!("{}/{space}/{owner}/packages/container/{}", shared.url, encode(name)),
        "html_url": format!("https://github.com/{space}/{owner}/packages/container/package/{name}"),
        "created_at": shared.started,
        "updated_at": shared.started,
    })
}

/// One version per tagged manifest, newest (last seen first) first.
async fn versions(
    shared: &Shared,
    owner: &str,
    kind: &str,
    name: &str,
    repository: &str,
) -> Result<Vec<Value>, String> {
    let tags = super::upstream::tags(&shared.http, &shared.upstream, repository).await?;
    let mut by_digest: Vec<(String, Vec<String>)> = Vec::new();
    for tag in tags {
        let digest =
            super::upstream::digest(&shared.http, &shared.upstream, repository, &tag).await?;
        match by_digest.iter_mut().find(|(d, _)| *d == digest) {
            Some((_, tags)) => tags.push(tag),
            None => by_digest.push((digest, vec![tag])),
        }
    }
    let space = if kind == "User" { "users" } else { "orgs" };
    let mut items: Vec<Value> = by_digest
        .into_iter()
        .map(|(digest, tags)| {
            let id = id(shared, &format!("version:{owner}/{name}@{digest}"));
            json!({
                "id": id,
                "name": digest,
                "url": format!("{}/{space}/{owner}/packages/container/{}/versions/{id}", shared.url, encode(name)),
                "package_html_url": format!("https://github.com/{space}/{owner}/packages/container/package/{name}"),
                "html_url": format!("https://github.com/{space}/{owner}/packages/container/{name}/{id}"),
                "created_at": shared.started,
                "updated_at": shared.started,
                "metadata": {"package_type": "container", "container": {"tags": tags}},
            })
        })
        .collect();
    items.sort_by_key(|v| std::cmp::Reverse(v["id"].as_i64().unwrap_or_default()));
    Ok(items)
}

/// A page of `items` as GitHub pages: `per_page` (30, at most 100), `page`, and a `Link`
/// header (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api).
fn page(shared: &Shared, request: &Parts, items: Vec<Value>) -> Response<Body> {
    let query = query_pairs(request.uri.query());
    let number = |key: &str, default: usize| {
        field(&query, key)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let most = match shared.state.lock().map(|s| s.max_page).unwrap_or_default() {
        0 => 100,
        n => n,
    };
    let per_page = number("per_page", 30).clamp(1, most);
    let page = number("page", 1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let shown: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let link_to = |to: usize, rel: &str| {
        let mut pairs: Vec<(String, String)> =
            query.iter().filter(|(k, _)| k != "page").cloned().collect();
        pairs.push(("page".into(), to.to_string()));
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!(
            "<{}{}?{encoded}>; rel=\"{rel}\"",
            shared.url,
            request.uri.path()
        )
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link_to(page - 1, "prev"));
    }
    if page < last {
        links.push(link_to(page + 1, "next"));
        links.push(link_to(last, "last"));
    }
    if page > 1 {
        links.push(link_to(1, "first"));
    }
    let mut answer = json(StatusCode::OK, &Value::Array(shown));
    if let Ok(value) = links.join(", ").parse() {
        if !links.is_empty() {
            answer.headers_mut().insert("link", value);
        }
    }
    answer
}

#[cfg(test)]
mod tests;
