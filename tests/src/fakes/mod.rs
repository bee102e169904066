//! Small, faithful fakes of registry providers' own APIs, each written from the provider's
//! public documentation (cited per endpoint in each file): Harbor's v2.0 API, Docker Hub's,
//! GitHub's packages API, Azure Container Registry's token exchange, Google's OAuth token
//! endpoint and Artifact Registry, Quay's, GitLab's, JFrog Artifactory's, Mirantis Secure
//! Registry's, and the signed APIs of Huawei Cloud SWR, Alibaba Cloud ACR, Tencent Cloud TCR and
//! Volcengine CR (each verifying the request signatures). Each stands in front of a real CNCF
//! distribution registry, to which the registry traffic (`/v2/...`) passes through, behind the
//! provider's own token flow. ChartMuseum's fake (a Helm chart repository's server and upload
//! API) keeps its charts in memory.

pub mod acr;
pub mod alibaba;
pub mod artifactory;
pub mod chartmuseum;
pub mod docker_hub;
pub mod dtr;
pub mod ghcr;
pub mod gitlab;
pub mod google;
pub mod harbor;
pub mod huawei;
pub mod quay;
pub mod tencent;
pub mod volcengine;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};

/// The registry request passed on to the distribution registry at `upstream` (its base URL),
/// streamed both ways; the caller's `Host` and `Authorization` stay behind (the registry behind
/// has no auth of its own: the fake is the gate).
pub async fn pass_through(
    http: &reqwest::Client,
    upstream: &str,
    request: Request<Body>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let mut outgoing = http
        .request(
            parts.method.clone(),
            format!("{}{path_and_query}", upstream.trim_end_matches('/')),
        )
        .body(reqwest::Body::wrap_stream(body.into_data_stream()));
    for (name, value) in &parts.headers {
        if name != http::header::HOST && name != http::header::AUTHORIZATION {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(e) => return status(StatusCode::BAD_GATEWAY, e.to_string()),
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    response
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// An answer with `status` and a plain body.
pub fn status(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(Body::from(body.into()));
    *response.status_mut() = status;
    response
}

/// A JSON answer.
pub fn json(status_code: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = status(status_code, value.to_string());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The Basic credential of a request, decoded: (user, password).
pub fn basic_of(request: &Request<Body>) -> Option<(String, String)> {
    use base64::Engine;
    let value = request
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The Bearer token of a request.
pub fn bearer_of(request: &Request<Body>) -> Option<String> {
    let value = request
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(|t| t.trim().to_string())
}

/// The repository a distribution API path names (`/v2/<name>/manifests/...` and the like) and
/// the scope action a request needs on it (`pull` to read, `pull,push` to write).
pub fn repository_scope(request: &Request<Body>) -> Option<(String, &'static str)> {
    let rest = request.uri().path().strip_prefix("/v2/")?;
    let repository = ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .find_map(|m| rest.find(m).map(|i| &rest[..i]))?;
    let read = request.method() == http::Method::GET || request.method() == http::Method::HEAD;
    Some((
        repository.to_string(),
        if read { "pull" } else { "pull,push" },
    ))
}

/// A 401 with the registry token flow's challenge (`Bearer realm=...,service=...,scope=...`),
/// as distribution's token auth specifies it
/// (https://distribution.github.io/distribution/spec/auth/token/).
pub fn challenge(request: &Request<Body>, realm: &str, service: &str) -> Response<Body> {
    let scope = repository_scope(request)
        .map(|(repository, action)| format!(",scope=\"repository:{repository}:{action}\""))
        .unwrap_or_default();
    let mut answer = json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}),
    );
    if let Ok(value) = format!("Bearer realm=\"{realm}\",service=\"{service}\"{scope}").parse() {
        answer.headers_mut().insert("www-authenticate", value);
    }
    answer
}

/// What a fake was asked, as `METHOD path?query`, in order: tests assert on the requests a
/// provider saw (a HEAD rather than a GET, a page asked for, a token refreshed).
#[derive(Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    pub fn record(&self, request: &Request<Body>) {
        let line = format!(
            "{} {}",
            request.method(),
            request
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default()
        );
        if let Ok(mut calls) = self.0.lock() {
            calls.push(line);
        }
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// How many calls start with `prefix` (e.g. `"GET /v2/repositories/"`).
    pub fn count(&self, prefix: &str) -> usize {
        self.all().iter().filter(|c| c.starts_with(prefix)).count()
    }

    /// How many calls contain `text` (an RPC-style call's `Action=...` among its parameters).
    pub fn containing(&self, text: &str) -> usize {
        self.all().iter().filter(|c| c.contains(text)).count()
    }
}

/// The registry tokens a fake's token service issued, each with the scopes it grants.
#[derive(Clone, Default)]
pub struct Grants(Arc<Mutex<HashMap<String, Vec<String>>>>);

impl Grants {
    /// A new token granting `scopes`, in the token service's answer
    /// (https://distribution.github.io/distribution/spec/auth/token/#token-response-fields).
    pub fn issue(&self, prefix: &str, scopes: Vec<String>) -> Response<Body> {
        let token = new_token(prefix);
        if let Ok(mut grants) = self.0.lock() {
            grants.insert(token.clone(), scopes);
        }
        let body = serde_json::json!({"token": token, "access_token": token,
            "expires_in": 300, "issued_at": now_rfc3339()});
        json(StatusCode::OK, &body)
    }

    /// Whether the request's Bearer token covers it (`scopes_cover`); None when it carries
    /// no token issued here.
    pub fn cover(&self, request: &Request<Body>) -> Option<bool> {
        let token = bearer_of(request)?;
        let scopes = self.0.lock().ok()?.get(&token).cloned()?;
        Some(scopes_cover(&scopes, request))
    }
}

/// The temporary registry credentials a cloud API issued (each with its expiry, and what the
/// provider ties it to: an instance), and the registry tokens bought with them. What every fake
/// of a signed cloud API keeps the same way; `expire` is the tests' way to make them all stop
/// working at once.
#[derive(Clone, Default)]
pub struct TemporaryLogins(Arc<Mutex<Logins>>);

#[derive(Default)]
struct Logins {
    /// (user, password) -> (expiry in Unix seconds, what it is tied to).
    live: HashMap<(String, String), (i64, String)>,
    issued: usize,
    grants: Grants,
}

impl TemporaryLogins {
    fn with<T: Default>(&self, f: impl FnOnce(&mut Logins) -> T) -> T {
        self.0.lock().map(|mut l| f(&mut l)).unwrap_or_default()
    }

    /// Records `user:password` as issued, good until `expires_at` (Unix seconds).
    pub fn issue(&self, user: &str, password: &str, expires_at: i64, tied_to: &str) {
        self.with(|l| {
            let key = (user.to_string(), password.to_string());
            l.live.insert(key, (expires_at, tied_to.to_string()));
            l.issued += 1;
        });
    }

    /// What `user:password` is tied to, when it is a credential issued and unexpired.
    pub fn check(&self, user: &str, password: &str) -> Option<String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let key = (user.to_string(), password.to_string());
        self.with(|l| {
            l.live
                .get(&key)
                .filter(|(until, _)| *until > now)
                .map(|(_, t)| t.clone())
        })
    }

    /// The registry tokens issued with the credentials so far.
    pub fn grants(&self) -> Grants {
        self.with(|l| l.grants.clone())
    }

    /// Every credential and every registry token issued so far stops working.
    pub fn expire(&self) {
        self.with(|l| {
            l.live.clear();
            l.grants = Grants::default();
        });
    }

    pub fn issued(&self) -> usize {
        self.with(|l| l.issued)
    }

    /// The token service's answer to `request`: a registry token (`prefix`) for the scopes it
    /// asks, when its Basic credential is a live one `accept` takes (by what it is tied to);
    /// else the 401 distribution's token services answer.
    pub fn token_answer(
        &self,
        request: &Request<Body>,
        prefix: &str,
        accept: impl Fn(&str) -> bool,
    ) -> Response<Body> {
        let live = basic_of(request)
            .and_then(|(user, password)| self.check(&user, &password))
            .is_some_and(|tied| accept(&tied));
        if !live {
            let body = serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]});
            return json(StatusCode::UNAUTHORIZED, &body);
        }
        let scopes = scopes_in(request.uri().query().unwrap_or_default());
        self.grants().issue(prefix, scopes)
    }
}

/// The largest page a fake answers: `cap` (0: none) over the provider's own `most`.
pub fn page_cap(cap: usize, most: usize) -> usize {
    match cap {
        0 => most,
        n => n.min(most),
    }
}

/// A random-looking token, unique per call.
pub fn new_token(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A fake's HTTP server on a loopback port; stopped when dropped.
pub struct Server(tokio::task::JoinHandle<()>);

impl Server {
    /// A free loopback port to serve on, and its base URL.
    pub async fn bind() -> (tokio::net::TcpListener, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        (listener, format!("http://127.0.0.1:{port}"))
    }

    /// Serves `router` on `listener`, with the caller's address (`ConnectInfo<SocketAddr>`) in
    /// every request's extensions.
    pub fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> Self {
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        Self(tokio::spawn(async move {
            let _ = axum::serve(listener, service).await;
        }))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `response` with one more header (left out when `value` is no header value).
pub fn with_header(
    mut response: Response<Body>,
    name: &'static str,
    value: impl ToString,
) -> Response<Body> {
    if let Ok(value) = value.to_string().parse() {
        response.headers_mut().insert(name, value);
    }
    response
}

/// `text` with its `%XX` escapes decoded once (`+` stays `+`, as in a path); None when an
/// escape is malformed or the result is not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            decoded.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// The query parameters of a request, decoded, in order.
pub fn query_of(request: &Request<Body>) -> Vec<(String, String)> {
    let query = request.uri().query().unwrap_or_default();
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// The scopes a token request asks for: every `scope` parameter of a query or form body, each
/// possibly a space-separated list (https://distribution.github.io/distribution/spec/auth/scope/).
pub fn scopes_in(encoded: &str) -> Vec<String> {
    url::form_urlencoded::parse(encoded.as_bytes())
        .filter(|(key, _)| key == "scope")
        .flat_map(|(_, value)| {
            value
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Whether a token granted `scopes` may make `request`: a scope naming the repository of the
/// request with every action it needs (`pull`; `pull` and `push` to write; `*` is all), as
/// registries with scoped tokens decide. A request naming no repository (`/v2/`) needs none.
pub fn scopes_cover(scopes: &[String], request: &Request<Body>) -> bool {
    let Some((repository, needed)) = repository_scope(request) else {
        return true;
    };
    scopes.iter().any(|scope| {
        let Some((name, actions)) = scope
            .strip_prefix("repository:")
            .and_then(|rest| rest.rsplit_once(':'))
        else {
            return false;
        };
        let granted: Vec<&str> = actions.split(',').collect();
        name == repository
            && (granted.contains(&"*") || needed.split(',').all(|a| granted.contains(&a)))
    })
}

/// The pairs of a form body (`application/x-www-form-urlencoded`), or None when the request
/// is not one (wrong content type, unreadable body).
pub async fn form_of(request: Request<Body>) -> Option<Vec<(String, String)>> {
    let form = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .ok()?;
    form.then(|| url::form_urlencoded::parse(&body).into_owned().collect())
}

/// The first value of `key` among form or query pairs.
pub fn field<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The pairs of a request's query (`request.uri().query()`).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The first value of the query parameter `name`.
pub fn param(query: &[(String, String)], name: &str) -> Option<String> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// The media types the fakes ask the registry behind for manifests in.
pub const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// The target of the `rel="next"` link of a registry answer.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    let start = link.find('<')? + 1;
    let end = link.find('>')?;
    (link.contains("rel=\"next\"") && end > start).then(|| link[start..end].to_string())
}

/// The JSON pages of a list of the registry behind at `path`, following its `Link`s: the
/// values of `field` in all of them; None when the first page is a 404.
async fn pages(
    http: &reqwest::Client,
    upstream: &str,
    path: String,
    field: &str,
) -> Result<Option<Vec<String>>, String> {
    let mut all = Vec::new();
    let mut next = Some(path);
    while let Some(path) = next.take() {
        let url = format!("{}{path}", upstream.trim_end_matches('/'));
        let answer = http.get(url).send().await.map_err(|e| e.to_string())?;
        if answer.status() == reqwest::StatusCode::NOT_FOUND && all.is_empty() {
            return Ok(None);
        }
        if !answer.status().is_success() {
            return Err(format!("{path}: {}", answer.status()));
        }
        next = next_link(answer.headers());
        let body: serde_json::Value = answer.json().await.map_err(|e| e.to_string())?;
        let values = body[field].as_array().into_iter().flatten();
        all.extend(values.filter_map(|v| v.as_str().map(String::from)));
    }
    Ok(Some(all))
}

/// Every repository of the registry behind (its `/v2/_catalog`, all pages).
pub async fn catalog(http: &reqwest::Client, upstream: &str) -> Result<Vec<String>, String> {
    let all = pages(http, upstream, "/v2/_catalog?n=1000".into(), "repositories").await?;
    Ok(all.unwrap_or_default())
}

/// The tags of `repository` in the registry behind (all pages); None when it has no such
/// repository.
pub async fn tags(
    http: &reqwest::Client,
    upstream: &str,
    repository: &str,
) -> Result<Option<Vec<String>>, String> {
    let path = format!("/v2/{repository}/tags/list?n=1000");
    pages(http, upstream, path, "tags").await
}

/// A manifest of the registry behind, as it answers it.
pub struct Manifest {
    /// Its `Content-Type`.
    pub media_type: String,
    /// Its `Docker-Content-Digest`, or the digest of the bytes served.
    pub digest: String,
    /// Empty for a HEAD.
    pub bytes: Vec<u8>,
}

/// A GET or HEAD of the manifest `reference` of `repository` in the registry behind; None on
/// a 404.
pub async fn manifest(
    http: &reqwest::Client,
    upstream: &str,
    repository: &str,
    reference: &str,
    method: http::Method,
) -> Result<Option<Manifest>, String> {
    let url = format!(
        "{}/v2/{repository}/manifests/{reference}",
        upstream.trim_end_matches('/')
    );
    let answer = http
        .request(method, url)
        .header("accept", MANIFEST_TYPES)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if answer.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !answer.status().is_success() {
        return Err(format!("{repository}:{reference}: {}", answer.status()));
    }
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (media_type, digest) = (header("content-type"), header("docker-content-digest"));
    let bytes = answer.bytes().await.map_err(|e| e.to_string())?.to_vec();
    let digest = if bytes.is_empty() {
        digest
    } else {
        use sha2::Digest as _;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
    };
    Ok(Some(Manifest {
        media_type,
        digest,
        bytes,
    }))
}

/// Every tag of `repository` in the registry behind, sorted, with its manifest (a GET or a
/// HEAD of each); None when it has no such repository.
pub async fn tagged(
    http: &reqwest::Client,
    upstream: &str,
    repository: &str,
    method: http::Method,
) -> Result<Option<Vec<(String, Manifest)>>, String> {
    let Some(mut names) = tags(http, upstream, repository).await? else {
        return Ok(None);
    };
    names.sort();
    let mut all = Vec::new();
    for tag in names {
        if let Some(got) = manifest(http, upstream, repository, &tag, method.clone()).await? {
            all.push((tag, got));
        }
    }
    Ok(Some(all))
}

/// Serves the router `router_for` makes for its own base URL on a free loopback port: that
/// URL and the server's task (abort it to stop).
pub async fn serve(
    router_for: impl FnOnce(&str) -> axum::Router,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let url = format!("http://127.0.0.1:{port}");
    let router = router_for(&url);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, task)
}

/// A form body (`application/x-www-form-urlencoded`) for a request of the fakes' self-tests
/// (the workspace's reqwest has no `form` feature).
pub fn form(request: reqwest::RequestBuilder, pairs: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
}

/// The time now as the providers' APIs write it (RFC 3339, UTC, whole seconds).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// What the registry behind a fake holds (its catalog, tags, digests).
pub mod upstream;

/// The knobs every fake of a signed cloud API has, so one test drives each kind the same way.
pub trait CloudFake: Send + Sync {
    fn url(&self) -> String;
    fn calls(&self) -> Calls;
    fn set_max_page_size(&self, n: usize);
    fn deny_namespace_create(&self);
    /// Every temporary registry credential and registry token issued so far stops working.
    fn expire_credentials(&self);
    fn credentials_issued(&self) -> usize;
    /// The namespaces (or repositories) made public through the API; None for a kind without
    /// such a setting.
    fn public_namespaces(&self) -> Option<Vec<String>>;
}

macro_rules! cloud_fake {
    ($($fake:ty),*) => {$(
        impl CloudFake for $fake {
            fn url(&self) -> String { <$fake>::url(self) }
            fn calls(&self) -> Calls { <$fake>::calls(self) }
            fn set_max_page_size(&self, n: usize) { <$fake>::set_max_page_size(self, n) }
            fn deny_namespace_create(&self) { <$fake>::deny_namespace_create(self) }
            fn expire_credentials(&self) { <$fake>::expire_credentials(self) }
            fn credentials_issued(&self) -> usize { <$fake>::credentials_issued(self) }
            fn public_namespaces(&self) -> Option<Vec<String>> { <$fake>::public_namespaces(self) }
        }
    )*};
}
cloud_fake!(
    alibaba::FakeAliAcr,
    huawei::FakeSwr,
    tencent::FakeTcr,
    volcengine::FakeVolcCr
);
