//! A fault-injecting HTTP proxy in front of a real registry: it answers chosen requests with an
//! error status (with `Retry-After`), or cuts a response body off part-way, a given number of
//! times; everything else passes through untouched, streamed both ways.
//!
//! It can also give the registry behind it what CNCF distribution 2.8 lacks: a Bearer token
//! gate as Docker Hub and Harbor have, and the OCI 1.1 Referrers API as Harbor 2.11, zot and
//! distribution 3 have (manifests pushed through it with a `subject` are listed).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, Response, StatusCode};
use futures::StreamExt;

/// One kind of fault, for requests whose method is `method` and whose path contains `path`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: &'static str,
    pub path: String,
    pub action: Action,
    /// How many matching requests it hits; later ones pass.
    pub times: usize,
}

#[derive(Debug, Clone)]
pub enum Action {
    /// Answer this status instead, with `Retry-After: seconds` when given.
    Status(u16, Option<u64>),
    /// Pass the request on, but cut the response body after this many bytes.
    CutBodyAfter(usize),
    /// Pass the request on after this many milliseconds: a slow link.
    Delay(u64),
    /// Answer this status, headers and body instead of the registry.
    Answer(u16, Vec<(&'static str, String)>, bytes::Bytes),
    /// Answer 200 with this many bytes, streamed without a Content-Length: a flood.
    Flood(u64),
    /// Answer a tag list page of new tags after the `last` asked for, always with a `Link` to
    /// more: a list without an end.
    EndlessTags,
    /// Pass the request on, and add this header to the answer.
    AddHeader(&'static str, String),
    /// Pass the request on, and answer the body with every byte of it changed: a lying blob
    /// of the right length.
    Garble,
}

#[derive(Clone)]
struct Shared {
    /// When set, the proxy demands Bearer tokens as Docker Hub or Harbor do, issues them at
    /// `/token` for these Basic credentials, and records the scopes asked for.
    bearer: Option<(String, String)>,
    scopes: Arc<Mutex<Vec<String>>>,
    upstream: String,
    http: reqwest::Client,
    faults: Arc<Mutex<Vec<Fault>>>,
    hits: Arc<Mutex<Vec<String>>>,
    /// When set, the Referrers API: descriptors by (repository, subject digest).
    referrers: Option<Arc<Mutex<Referrers>>>,
    /// When set, Harbor's projects API for these Basic credentials: the projects there, and
    /// the bodies of the creations asked for. A project named `forbidden` is refused (403).
    harbor: Option<(String, String)>,
    projects: Arc<Mutex<Vec<String>>>,
    project_requests: Arc<Mutex<Vec<serde_json::Value>>>,
    /// Blob reads (`GET …/blobs/sha256:…`) under way, and the most there were at once.
    blob_reads: Arc<(AtomicUsize, AtomicUsize)>,
}

/// One blob read under way, until its answer's body is sent or dropped.
struct BlobRead(Arc<(AtomicUsize, AtomicUsize)>);

impl BlobRead {
    fn enter(gauge: &Arc<(AtomicUsize, AtomicUsize)>) -> Self {
        let now = gauge.0.fetch_add(1, Ordering::SeqCst) + 1;
        gauge.1.fetch_max(now, Ordering::SeqCst);
        Self(Arc::clone(gauge))
    }
}

impl Drop for BlobRead {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::SeqCst);
    }
}

type Referrers = std::collections::HashMap<(String, String), Vec<serde_json::Value>>;

pub struct FaultProxy {
    pub port: u16,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: &str, faults: Vec<Fault>) -> Self {
        Self::start_with(upstream, faults, None, false, None).await
    }

    /// A proxy that adds the OCI Referrers API to the registry behind it.
    pub async fn start_with_referrers_api(upstream: &str) -> Self {
        Self::start_with(upstream, Vec::new(), None, true, None).await
    }

    /// A proxy that gives the registry behind it Harbor's projects API (`HEAD` and `POST
    /// /api/v2.0/projects`), for `user`/`password`, as a Harbor destination has.
    pub async fn start_harbor(upstream: &str, user: &str, password: &str) -> Self {
        Self::start_with(
            upstream,
            Vec::new(),
            None,
            false,
            Some((user.to_string(), password.to_string())),
        )
        .await
    }

    /// The Harbor projects that exist, and the creation requests' bodies.
    pub fn projects(&self) -> (Vec<String>, Vec<serde_json::Value>) {
        (
            self.shared
                .projects
                .lock()
                .map(|p| p.clone())
                .unwrap_or_default(),
            self.shared
                .project_requests
                .lock()
                .map(|p| p.clone())
                .unwrap_or_default(),
        )
    }

    /// A proxy that asks for Bearer tokens (the token flow), issued for `user`/`password`.
    pub async fn start_bearer(upstream: &str, user: &str, password: &str) -> Self {
        Self::start_with(
            upstream,
            Vec::new(),
            Some((user.to_string(), password.to_string())),
            false,
            None,
        )
        .await
    }

    async fn start_with(
        upstream: &str,
        faults: Vec<Fault>,
        bearer: Option<(String, String)>,
        referrers_api: bool,
        harbor: Option<(String, String)>,
    ) -> Self {
        let shared = Shared {
            bearer,
            scopes: Arc::new(Mutex::new(Vec::new())),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            faults: Arc::new(Mutex::new(faults)),
            hits: Arc::new(Mutex::new(Vec::new())),
            referrers: referrers_api.then(|| Arc::new(Mutex::new(Referrers::new()))),
            harbor,
            projects: Arc::new(Mutex::new(Vec::new())),
            project_requests: Arc::new(Mutex::new(Vec::new())),
            blob_reads: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let router = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { port, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The scopes token requests asked for.
    pub fn scopes(&self) -> Vec<String> {
        self.shared
            .scopes
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// The most blob reads (`GET …/blobs/sha256:…`) that were under way at once, each from
    /// its request until its body was sent.
    pub fn most_blob_reads_at_once(&self) -> usize {
        self.shared.blob_reads.1.load(Ordering::SeqCst)
    }

    /// The faults injected so far, as `METHOD path -> what`.
    pub fn hits(&self) -> Vec<String> {
        self.shared
            .hits
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn take_fault(shared: &Shared, method: &str, path: &str) -> Option<Action> {
    let mut faults = shared.faults.lock().ok()?;
    let fault = faults
        .iter_mut()
        .find(|f| f.times > 0 && f.method == method && path.contains(f.path.as_str()))?;
    fault.times -= 1;
    let action = fault.action.clone();
    if let Ok(mut hits) = shared.hits.lock() {
        hits.push(format!("{method} {path} -> {action:?}"));
    }
    Some(action)
}

const TOKEN: &str = "issued-token";

/// The token endpoint and the Bearer check; None lets the request through.
fn bearer_gate(shared: &Shared, request: &Request<Body>) -> Option<Response<Body>> {
    use base64::Engine;
    let (user, password) = shared.bearer.as_ref()?;
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if request.uri().path() == "/token" {
        let expected =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        if authorization != format!("Basic {expected}") {
            let mut refused = Response::new(Body::from("bad credentials"));
            *refused.status_mut() = StatusCode::UNAUTHORIZED;
            return Some(refused);
        }
        let query = request.uri().query().unwrap_or_default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            if k == "scope" {
                if let Ok(mut scopes) = shared.scopes.lock() {
                    scopes.push(v.into_owned());
                }
            }
        }
        return Some(Response::new(Body::from(format!(
            "{{\"token\":\"{TOKEN}\",\"expires_in\":300}}"
        ))));
    }
    if authorization == format!("Bearer {TOKEN}") {
        return None;
    }
    let path = request.uri().path();
    let scope = path
        .strip_prefix("/v2/")
        .and_then(|rest| {
            ["/manifests/", "/blobs/", "/tags/"]
                .iter()
                .find_map(|m| rest.find(m).map(|i| &rest[..i]))
        })
        .map(|repository| {
            let action = if request.method() == http::Method::GET
                || request.method() == http::Method::HEAD
            {
                "pull"
            } else {
                "pull,push"
            };
            format!(",scope=\"repository:{repository}:{action}\"")
        })
        .unwrap_or_default();
    let host = request
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut challenge = Response::new(Body::from("{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}"));
    *challenge.status_mut() = StatusCode::UNAUTHORIZED;
    if let Ok(value) =
        format!("Bearer realm=\"http://{host}/token\",service=\"test-registry\"{scope}").parse()
    {
        challenge.headers_mut().insert("www-authenticate", value);
    }
    Some(challenge)
}

/// `GET /v2/<name>/referrers/<digest>`: the index of what was pushed with that subject.
fn referrers_answer(shared: &Shared, request: &Request<Body>) -> Option<Response<Body>> {
    let referrers = shared.referrers.as_ref()?;
    let rest = request.uri().path().strip_prefix("/v2/")?;
    let (repository, digest) = rest.split_once("/referrers/")?;
    let listed = referrers
        .lock()
        .ok()?
        .get(&(repository.to_string(), digest.to_string()))
        .cloned()
        .unwrap_or_default();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": listed,
    });
    let mut answer = Response::new(Body::from(index.to_string()));
    answer.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
    );
    Some(answer)
}

/// The descriptor a manifest with a `subject` is listed under, and the subject's digest.
fn referrer_of(body: &[u8]) -> Option<(String, serde_json::Value)> {
    use sha2::Digest as _;
    let manifest: serde_json::Value = serde_json::from_slice(body).ok()?;
    let subject = manifest["subject"]["digest"].as_str()?.to_string();
    let artifact_type = manifest["artifactType"]
        .as_str()
        .or_else(|| manifest["config"]["mediaType"].as_str())
        .unwrap_or_default();
    let mut descriptor = serde_json::json!({
        "mediaType": manifest["mediaType"],
        "digest": format!("sha256:{}", hex::encode(sha2::Sha256::digest(body))),
        "size": body.len(),
        "artifactType": artifact_type,
    });
    if manifest.get("annotations").is_some() {
        descriptor["annotations"] = manifest["annotations"].clone();
    }
    Some((subject, descriptor))
}

async fn forward(State(shared): State<Shared>, request: Request<Body>) -> Response<Body> {
    if let Some(answer) = bearer_gate(&shared, &request) {
        return answer;
    }
    if let Some(answer) = referrers_answer(&shared, &request) {
        return answer;
    }
    if shared.harbor.is_some() && request.uri().path() == "/api/v2.0/projects" {
        return harbor_projects(&shared, request).await;
    }
    let is_manifest_put =
        request.method() == http::Method::PUT && request.uri().path().contains("/manifests/");
    if shared.referrers.is_some() && is_manifest_put {
        return put_manifest_with_subject(shared, request).await;
    }
    let method = request.method().clone();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let reading_blob =
        method == http::Method::GET && request.uri().path().contains("/blobs/sha256:");
    let blob_read = reading_blob.then(|| BlobRead::enter(&shared.blob_reads));
    let action = take_fault(&shared, method.as_str(), request.uri().path());
    if let Some(Action::Status(status, retry_after)) = action {
        let mut response = Response::new(Body::from(
            "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"injected\"}]}",
        ));
        *response.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        if let Some(seconds) = retry_after {
            response.headers_mut().insert("retry-after", seconds.into());
        }
        return response;
    }
    if let Some(Action::Delay(millis)) = action {
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
    }
    if let Some(answer) = hostile_answer(action.as_ref(), request.uri().query()) {
        return answer;
    }
    let (parts, body) = request.into_parts();
    let upstream = match pass_on(
        &shared,
        &parts,
        &path_and_query,
        reqwest::Body::wrap_stream(body.into_data_stream()),
    )
    .await
    {
        Ok(r) => r,
        Err(bad_gateway) => return bad_gateway,
    };
    let mut response = Response::builder().status(upstream.status().as_u16());
    for (name, value) in upstream.headers() {
        response = response.header(name, value);
    }
    if let Some(Action::AddHeader(name, value)) = &action {
        response = response.header(*name, value.as_str());
    }
    let stream = upstream.bytes_stream();
    let body =
        match action {
            Some(Action::CutBodyAfter(limit)) => {
                let mut sent = 0usize;
                Body::from_stream(stream.map(move |piece| {
                    let piece = piece.map_err(std::io::Error::other)?;
                    if sent + piece.len() > limit {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "injected reset",
                        ));
                    }
                    sent += piece.len();
                    Ok(piece)
                }))
            }
            Some(Action::Garble) => Body::from_stream(stream.map(|piece| {
                piece.map(|bytes| bytes.iter().map(|b| b ^ 0x5a).collect::<Vec<u8>>())
            })),
            // A blob read lasts until its body is sent.
            _ => Body::from_stream(stream.map(move |piece| {
                let _reading = &blob_read;
                piece
            })),
        };
    response
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// What a hostile registry answers in the registry's place, for the actions that do.
fn hostile_answer(action: Option<&Action>, query: Option<&str>) -> Option<Response<Body>> {
    let mut response = match action? {
        Action::Answer(status, headers, body) => {
            let mut response = Response::new(Body::from(body.clone()));
            *response.status_mut() = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
            for (name, value) in headers {
                if let Ok(value) = value.parse() {
                    response.headers_mut().insert(*name, value);
                }
            }
            response
        }
        Action::Flood(size) => {
            const PIECE: usize = 64 * 1024;
            let pieces = size.div_ceil(PIECE as u64);
            let stream = futures::stream::iter(0..pieces)
                .map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'{'; PIECE])));
            let mut response = Response::new(Body::from_stream(stream));
            response.headers_mut().insert(
                "content-type",
                http::HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json"),
            );
            response
        }
        Action::EndlessTags => {
            let last: u64 = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .find(|(k, _)| k == "last")
                .and_then(|(_, v)| v.trim_start_matches("t").parse().ok())
                .unwrap_or(0);
            let tags: Vec<String> = (last + 1..=last + 1000)
                .map(|n| format!("t{n:012}"))
                .collect();
            let mut response = Response::new(Body::from(
                serde_json::json!({"name": "endless", "tags": tags}).to_string(),
            ));
            if let Ok(link) = format!(
                "</v2/endless/tags/list?n=1000&last={}>; rel=\"next\"",
                tags[999]
            )
            .parse()
            {
                response.headers_mut().insert("link", link);
            }
            response
        }
        _ => return None,
    };
    if response.status() == StatusCode::OK && !response.headers().contains_key("content-type") {
        response.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
    }
    Some(response)
}

/// Sends the request on to the registry behind (its headers but Host and Authorization); a
/// 502 answer when the registry cannot be reached.
async fn pass_on(
    shared: &Shared,
    parts: &http::request::Parts,
    path_and_query: &str,
    body: reqwest::Body,
) -> Result<reqwest::Response, Response<Body>> {
    let mut outgoing = shared
        .http
        .request(
            parts.method.clone(),
            format!("{}{path_and_query}", shared.upstream),
        )
        .body(body);
    for (name, value) in &parts.headers {
        if name != http::header::HOST && name != http::header::AUTHORIZATION {
            outgoing = outgoing.header(name, value);
        }
    }
    outgoing.send().await.map_err(|e| {
        let mut response = Response::new(Body::from(e.to_string()));
        *response.status_mut() = StatusCode::BAD_GATEWAY;
        response
    })
}

/// A manifest PUT through a proxy with the Referrers API: passed on whole, and listed under its
/// subject (with the `OCI-Subject` answer header) once the registry accepted it.
async fn put_manifest_with_subject(shared: Shared, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 8 * 1024 * 1024).await else {
        let mut refused = Response::new(Body::from("manifest too large"));
        *refused.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        return refused;
    };
    let path = parts.uri.path().to_string();
    let upstream = match pass_on(&shared, &parts, &path, reqwest::Body::from(bytes.clone())).await {
        Ok(r) => r,
        Err(bad_gateway) => return bad_gateway,
    };
    let status = upstream.status();
    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in upstream.headers() {
        response = response.header(name, value);
    }
    if status.is_success() {
        if let (Some((subject, descriptor)), Some(repository)) = (
            referrer_of(&bytes),
            path.strip_prefix("/v2/")
                .and_then(|rest| rest.split_once("/manifests/"))
                .map(|(repository, _)| repository.to_string()),
        ) {
            if let Some(Ok(mut referrers)) = shared.referrers.as_ref().map(|r| r.lock()) {
                let listed = referrers.entry((repository, subject.clone())).or_default();
                if !listed.iter().any(|d| d["digest"] == descriptor["digest"]) {
                    listed.push(descriptor);
                }
            }
            response = response.header("oci-subject", subject);
        }
    }
    let body = upstream.bytes().await.unwrap_or_default();
    response
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Harbor's `HEAD /api/v2.0/projects?project_name=` (200 or 404) and `POST /api/v2.0/projects`
/// (201, 409 when it exists, 403 for `forbidden`), behind HTTP Basic.
async fn harbor_projects(shared: &Shared, request: Request<Body>) -> Response<Body> {
    use base64::Engine;
    let answer = |status: StatusCode, body: &str| {
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() = status;
        response
    };
    let Some((user, password)) = &shared.harbor else {
        return answer(StatusCode::NOT_FOUND, "");
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str());
    if !authorized {
        return answer(
            StatusCode::UNAUTHORIZED,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"unauthorized"}]}"#,
        );
    }
    let exists = |name: &str| {
        shared
            .projects
            .lock()
            .map(|p| p.iter().any(|n| n == name))
            .unwrap_or(false)
    };
    if request.method() == http::Method::HEAD {
        let name =
            url::form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
                .find(|(k, _)| k == "project_name")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
        return answer(
            if exists(&name) {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            },
            "",
        );
    }
    let Ok(body) = axum::body::to_bytes(request.into_body(), 64 * 1024).await else {
        return answer(StatusCode::BAD_REQUEST, "body");
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return answer(StatusCode::BAD_REQUEST, "not JSON");
    };
    if let Ok(mut requests) = shared.project_requests.lock() {
        requests.push(value.clone());
    }
    let name = value["project_name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if name == "forbidden" {
        return answer(
            StatusCode::FORBIDDEN,
            r#"{"errors":[{"code":"FORBIDDEN","message":"forbidden"}]}"#,
        );
    }
    if exists(&name) {
        return answer(
            StatusCode::CONFLICT,
            r#"{"errors":[{"code":"CONFLICT","message":"exists"}]}"#,
        );
    }
    if let Ok(mut projects) = shared.projects.lock() {
        projects.push(name);
    }
    answer(StatusCode::CREATED, "")
}
