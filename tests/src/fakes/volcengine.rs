//! A fake Volcengine Container Registry (CR): the OpenAPI Ferry uses (version 2022-05-12: a
//! temporary registry password, namespaces, repositories, tags) behind Volcengine's HMAC-SHA256
//! signature, and the instance's registry behind its token flow, in front of a real distribution
//! registry whose content the API tells. Everything is on one origin: the API at
//! `POST /?Action=<Action>&Version=2022-05-12`, the registry at `/v2/`, its token service at
//! `/token`. A push needs its repository made first (CreateRepository), as Harbor's adapter
//! makes it.
//!
//! The API: https://volcengine.com/docs/6420/79198 (CR's API index; each action cited below),
//! the envelope https://volcengine.com/docs/6420/113753 and
//! https://volcengine.com/docs/6461/1277765 , the signature
//! https://www.volcengine.com/docs/6369/67269 , the platform's common error codes
//! https://volcengine.com/docs/6396/1253687 and CR's https://volcengine.com/docs/6420/79348 .
//! The registry's tokens: https://distribution.github.io/distribution/spec/auth/token/.

// A refusal ends a request early with `?`: the whole answer is the error.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use ferry::adapters::registry::signing::{self, volcengine as volc, Credentials};
use serde_json::{json, Value};
use sha2::Digest as _;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

use super::{Calls, Server, TemporaryLogins};

/// The API version every call names.
pub const VERSION: &str = "2022-05-12";
/// The service of the signature's scope, of the envelope and of the registry's challenge.
pub const SERVICE: &str = "cr";
/// The account id in the temporary user name (`<registry>@<account>`).
pub const ACCOUNT: &str = "2100000000";
/// The actions the fake answers.
const ACTIONS: &[&str] = &[
    "GetAuthorizationToken",
    "ListNamespaces",
    "CreateNamespace",
    "ListRepositories",
    "CreateRepository",
    "ListTags",
];
/// How far X-Date may be from the server's clock: fifteen minutes.
const SKEW: i64 = 15 * 60;
/// A temporary password's life: one hour.
const TOKEN_LIFE: i64 = 3600;
/// `PageSize`'s default and most.
const PAGE_DEFAULT: usize = 10;
const PAGE_MOST: usize = 100;
/// Helm's config media type: a manifest with it is a Chart.
const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";

/// An answer, or the refusal that ended the request early.
type Answer = Result<Response<Body>, Response<Body>>;

#[derive(Default)]
struct Inner {
    /// The largest page answered (0: CR's own).
    max_page: usize,
    /// Namespaces added or created through the API.
    namespaces: Vec<String>,
    /// Repositories created through the API: (namespace, name) and access level.
    repositories: BTreeMap<(String, String), String>,
    deny_namespace_create: bool,
}

#[derive(Clone)]
struct Shared {
    url: String,
    upstream: String,
    http: reqwest::Client,
    key: (String, String),
    registry: String,
    region: String,
    started: String,
    calls: Calls,
    /// The temporary passwords issued, and the registry tokens bought with them.
    logins: TemporaryLogins,
    inner: Arc<Mutex<Inner>>,
}

/// What every answer's `ResponseMetadata` repeats of the call.
struct Meta {
    action: String,
    version: String,
    region: String,
}

impl Shared {
    fn with<T: Default>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.inner.lock().map(|mut i| f(&mut i)).unwrap_or_default()
    }

    /// The registry's repositories, (namespace, name) with their access level: those created
    /// through the API and those of the registry behind (a repository's namespace is its first
    /// component).
    async fn repositories(&self) -> Result<BTreeMap<(String, String), String>, String> {
        let catalog = super::catalog(&self.http, &self.upstream).await?;
        let mut all: BTreeMap<(String, String), String> = (catalog.iter())
            .filter_map(|r| r.split_once('/'))
            .map(|(ns, name)| ((ns.to_string(), name.to_string()), "Private".to_string()))
            .collect();
        all.extend(self.with(|i| i.repositories.clone()));
        Ok(all)
    }

    /// The namespaces: the added and created ones and those of every repository; sorted.
    async fn namespaces(&self) -> Result<Vec<String>, String> {
        let mut all: Vec<String> = (self.repositories().await?.into_keys())
            .map(|(ns, _)| ns)
            .chain(self.with(|i| i.namespaces.clone()))
            .collect();
        all.sort();
        all.dedup();
        Ok(all)
    }
}

pub struct FakeVolcCr {
    url: String,
    shared: Shared,
    _server: Server,
}

impl FakeVolcCr {
    /// A CR instance named `registry` in `region` whose API takes the key `key` (AK, SK), in
    /// front of the registry at `upstream`.
    pub async fn start(
        upstream: &str,
        key: (&str, &str),
        registry: &str,
        region: &str,
    ) -> FakeVolcCr {
        let (listener, url) = Server::bind().await;
        let shared = Shared {
            url: url.clone(),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            key: (key.0.to_string(), key.1.to_string()),
            registry: registry.to_string(),
            region: region.to_string(),
            started: super::now_rfc3339(),
            calls: Calls::default(),
            logins: TemporaryLogins::default(),
            inner: Arc::default(),
        };
        let router = axum::Router::new().fallback(handle);
        let _server = Server::serve(listener, router.with_state(shared.clone()));
        FakeVolcCr {
            url,
            shared,
            _server,
        }
    }

    /// The base URL of the API, the registry and its token service alike.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// What the fake was asked, as `METHOD path?query` (an API call's query names its action).
    pub fn calls(&self) -> Calls {
        self.shared.calls.clone()
    }

    /// Pages hold at most `n` items, whatever the client asks: listings take several pages.
    pub fn set_max_page_size(&self, n: usize) {
        self.shared.with(|i| i.max_page = n);
    }

    /// A namespace that exists even with no repository.
    pub fn add_namespace(&self, name: &str) {
        self.shared.with(|i| i.namespaces.push(name.to_string()));
    }

    /// `CreateNamespace` is refused from now on: the key lacks the IAM permission.
    pub fn deny_namespace_create(&self) {
        self.shared.with(|i| i.deny_namespace_create = true);
    }

    /// Every temporary password and every registry token issued so far stops working.
    pub fn expire_credentials(&self) {
        self.shared.logins.expire();
    }

    /// How many temporary passwords `GetAuthorizationToken` has issued.
    /// The repositories created with `AccessLevel: Public`, as `namespace/name`.
    pub fn public_namespaces(&self) -> Option<Vec<String>> {
        Some(self.shared.with(|i| {
            (i.repositories.iter())
                .filter(|(_, level)| level.as_str() == "Public")
                .map(|((namespace, name), _)| format!("{namespace}/{name}"))
                .collect()
        }))
    }

    pub fn credentials_issued(&self) -> usize {
        self.shared.logins.issued()
    }
}

fn metadata(meta: &Meta) -> Value {
    let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
    json!({"RequestId": request_id, "Action": meta.action, "Version": meta.version,
           "Service": SERVICE, "Region": meta.region})
}

/// The API's error: `status`, `ResponseMetadata` with `Error {Code, Message}`, no `Result`.
fn error(meta: &Meta, status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let mut metadata = metadata(meta);
    metadata["Error"] = json!({"Code": code, "Message": message});
    super::json(status, &json!({ "ResponseMetadata": metadata }))
}

/// The API's answer: 200, `ResponseMetadata` and `Result`.
fn success(meta: &Meta, result: Value) -> Answer {
    let body = json!({"ResponseMetadata": metadata(meta), "Result": result});
    Ok(super::json(StatusCode::OK, &body))
}

fn missing(meta: &Meta, parameter: &str) -> Response<Body> {
    let message = format!("The parameter {parameter} is required.");
    let code = format!("MissingParameter.{parameter}");
    error(meta, StatusCode::BAD_REQUEST, &code, &message)
}

fn invalid(meta: &Meta, parameter: &str) -> Response<Body> {
    let message = format!("The specified {parameter} is invalid.");
    let code = format!("InvalidParameter.{parameter}");
    error(meta, StatusCode::BAD_REQUEST, &code, &message)
}

fn not_found(meta: &Meta, what: &str, name: &str) -> Response<Body> {
    let message = format!("The specified resource {name} is not found.");
    let code = format!("NotFound.{what}");
    error(meta, StatusCode::NOT_FOUND, &code, &message)
}

fn already_exists(meta: &Meta, what: &str, name: &str) -> Response<Body> {
    let message = format!("The specified resource {name} already exist.");
    let code = format!("AlreadyExists.{what}");
    error(meta, StatusCode::CONFLICT, &code, &message)
}

fn internal(meta: &Meta) -> impl Fn(String) -> Response<Body> + '_ {
    move |e| error(meta, StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &e)
}

/// The string parameter `key` of `value`; None when absent or null.
fn string<'a>(meta: &Meta, value: &'a Value, key: &str) -> Result<Option<&'a str>, Response<Body>> {
    match &value[key] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(invalid(meta, key)),
    }
}

/// The required, non-empty string parameter `key`.
fn required<'a>(meta: &Meta, params: &'a Value, key: &str) -> Result<&'a str, Response<Body>> {
    let value = string(meta, params, key)?.filter(|s| !s.is_empty());
    value.ok_or_else(|| missing(meta, key))
}

/// The strings of `Filter.<key>`; None when the filter or the list is absent or null (the SDK
/// sends unset lists as `null`).
fn filter(meta: &Meta, params: &Value, key: &str) -> Result<Option<Vec<String>>, Response<Body>> {
    let filter = &params["Filter"];
    if !filter.is_null() && !filter.is_object() {
        return Err(invalid(meta, "Filter"));
    }
    match &filter[key] {
        Value::Null => Ok(None),
        Value::Array(items) => (items.iter())
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| invalid(meta, &format!("Filter.{key}"))),
        _ => Err(invalid(meta, &format!("Filter.{key}"))),
    }
}

/// Whether `name` is one of `patterns` (each exact, or with `*` for any run of characters);
/// no list is no condition.
fn matches(patterns: &Option<Vec<String>>, name: &str) -> bool {
    patterns
        .as_ref()
        .is_none_or(|all| all.iter().any(|p| glob(p, name)))
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

/// The page a list call asks (PageNumber from 1, PageSize 1 to 100, capped): the items shown
/// and the page's number and size as answered.
fn page<T: Clone>(
    shared: &Shared,
    meta: &Meta,
    params: &Value,
    items: &[T],
) -> Result<(Vec<T>, usize, usize), Response<Body>> {
    let number = |key: &str, default: usize, most: usize| match &params[key] {
        Value::Null => Ok(default),
        value => (value.as_u64())
            .map(|n| n as usize)
            .filter(|n| (1..=most).contains(n))
            .ok_or_else(|| invalid(meta, key)),
    };
    let page_number = number("PageNumber", 1, i32::MAX as usize)?;
    let page_size = number("PageSize", PAGE_DEFAULT, PAGE_MOST)?;
    let size = page_size.min(super::page_cap(shared.with(|i| i.max_page), PAGE_MOST));
    let skip = (page_number - 1).saturating_mul(size);
    let shown = items.iter().skip(skip).take(size).cloned().collect();
    Ok((shown, page_number, size))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn handle(State(shared): State<Shared>, request: Request<Body>) -> Response<Body> {
    shared.calls.record(&request);
    let path = request.uri().path().to_string();
    let answer = match (request.method().clone(), path.as_str()) {
        (Method::POST, "/") => api(&shared, request).await,
        (Method::GET, "/token") => Ok(token(&shared, &request)),
        (_, path) if path == "/v2" || path.starts_with("/v2/") => registry(&shared, request).await,
        _ => Err(super::status(StatusCode::NOT_FOUND, "404 page not found")),
    };
    answer.unwrap_or_else(|refused| refused)
}

/// `POST /?Action=<Action>&Version=2022-05-12`: an OpenAPI call, signed; its parameters the
/// JSON body. Each names the instance (`Registry`).
async fn api(shared: &Shared, request: Request<Body>) -> Answer {
    let (parts, body) = request.into_parts();
    let query = super::query_pairs(parts.uri.query());
    let meta = Meta {
        action: super::param(&query, "Action").unwrap_or_default(),
        version: super::param(&query, "Version").unwrap_or_default(),
        region: shared.region.clone(),
    };
    if meta.version != VERSION || !ACTIONS.contains(&meta.action.as_str()) {
        let message = format!(
            "Could not find operation {} for version {} on service {SERVICE}",
            meta.action, meta.version
        );
        return Err(error(
            &meta,
            StatusCode::NOT_FOUND,
            "InvalidActionOrVersion",
            &message,
        ));
    }
    let body = axum::body::to_bytes(body, 1 << 20).await;
    let body = body.map_err(|_| invalid(&meta, "Body"))?;
    authenticate(shared, &meta, &parts, &query, &body)?;
    let params: Value = match body.is_empty() {
        true => json!({}),
        false => serde_json::from_slice(&body).map_err(|_| invalid(&meta, "Body"))?,
    };
    if !params.is_object() {
        return Err(invalid(&meta, "Body"));
    }
    let registry = required(&meta, &params, "Registry")?;
    if registry != shared.registry {
        return Err(not_found(&meta, "Registry", registry));
    }
    match meta.action.as_str() {
        "GetAuthorizationToken" => get_authorization_token(shared, &meta),
        "ListNamespaces" => list_namespaces(shared, &meta, &params).await,
        "CreateNamespace" => create_namespace(shared, &meta, &params).await,
        "ListRepositories" => list_repositories(shared, &meta, &params).await,
        "CreateRepository" => create_repository(shared, &meta, &params).await,
        _ => list_tags(shared, &meta, &params).await,
    }
}

/// An `Authorization: HMAC-SHA256 Credential=<AK>/<date>/<region>/<service>/request,
/// SignedHeaders=<a;b>, Signature=<hex>` header, read.
struct Authorization {
    key_id: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_authorization(value: &str) -> Option<Authorization> {
    let rest = value.strip_prefix(volc::ALGORITHM)?.trim_start();
    let fields: HashMap<&str, &str> = (rest.split(','))
        .map(|part| part.trim().split_once('='))
        .collect::<Option<_>>()?;
    let scope: Vec<&str> = fields.get("Credential")?.split('/').collect();
    let [key_id, _date, region, service, "request"] = scope.as_slice() else {
        return None;
    };
    let signed_headers = fields.get("SignedHeaders")?.split(';');
    Some(Authorization {
        key_id: key_id.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: signed_headers
            .map(|h| h.trim().to_ascii_lowercase())
            .collect(),
        signature: fields.get("Signature")?.to_string(),
    })
}

/// The call's signature, rebuilt from the request as received with the key's secret (the
/// headers its SignedHeaders names, with the values received), must be the one it carries, for
/// the fake's region and `cr`; the key must be known, X-Date within fifteen minutes of now, and
/// X-Content-Sha256 (when sent) the body's hash.
fn authenticate(
    shared: &Shared,
    meta: &Meta,
    parts: &http::request::Parts,
    query: &[(String, String)],
    body: &[u8],
) -> Result<(), Response<Body>> {
    let headers = &parts.headers;
    let Some(value) = header(headers, "authorization") else {
        let message = "The request does not contain an authentication token.";
        let code = "MissingAuthenticationToken";
        return Err(error(meta, StatusCode::UNAUTHORIZED, code, message));
    };
    let authorization = parse_authorization(value).ok_or_else(|| {
        let message = "The Authorization header is not an HMAC-SHA256 authorization.";
        error(
            meta,
            StatusCode::BAD_REQUEST,
            "InvalidAuthorization",
            message,
        )
    })?;
    if authorization.key_id != shared.key.0 {
        let message = format!(
            "The accesskey [{}] included in the request is invalid.",
            authorization.key_id
        );
        return Err(error(
            meta,
            StatusCode::UNAUTHORIZED,
            "InvalidAccessKey",
            &message,
        ));
    }
    let expired = || {
        let message = "The Signature of the request is expired.";
        error(meta, StatusCode::FORBIDDEN, "InvalidTimestamp", message)
    };
    let x_date = header(headers, "x-date").ok_or_else(expired)?;
    let signed_at = time::PrimitiveDateTime::parse(
        x_date,
        format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .map_err(|_| expired())?
    .assume_utc();
    if (OffsetDateTime::now_utc() - signed_at)
        .whole_seconds()
        .abs()
        > SKEW
    {
        return Err(expired());
    }
    let mismatch = || {
        let message = "The request signature we calculated does not match the signature you provided. Check your Secret Access Key and signing method.";
        error(
            meta,
            StatusCode::UNAUTHORIZED,
            "SignatureDoesNotMatch",
            message,
        )
    };
    if authorization.region != shared.region || authorization.service != SERVICE {
        return Err(mismatch());
    }
    let body_hash = hex::encode(sha2::Sha256::digest(body));
    if header(headers, "x-content-sha256").is_some_and(|h| h != body_hash) {
        return Err(mismatch());
    }
    // The signer adds Host and X-Date itself.
    let mut signed: Vec<(&str, &str)> = Vec::new();
    for name in &authorization.signed_headers {
        if name != "host" && name != "x-date" {
            signed.push((name, header(headers, name).ok_or_else(mismatch)?));
        }
    }
    let query: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let request = signing::Request {
        method: parts.method.as_str(),
        // HTTP/2 has no Host header: its :authority stands in.
        host: (header(headers, "host"))
            .or(parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or_default(),
        path: parts.uri.path(),
        query: &query,
        headers: &signed,
        body,
    };
    let scope = volc::Scope {
        region: &shared.region,
        service: SERVICE,
    };
    let credentials = Credentials {
        id: &shared.key.0,
        secret: &shared.key.1,
    };
    let expected = volc::sign(&request, &scope, &credentials, signed_at).map_err(|_| mismatch())?;
    match expected.signature == authorization.signature {
        true => Ok(()),
        false => Err(mismatch()),
    }
}

/// GetAuthorizationToken {Registry} (https://volcengine.com/docs/6420/113753): a temporary
/// registry password, an hour long; ExpireTime in RFC 3339, UTC.
fn get_authorization_token(shared: &Shared, meta: &Meta) -> Answer {
    let token = super::new_token("volc");
    let expires = OffsetDateTime::now_utc().unix_timestamp() + TOKEN_LIFE;
    let username = format!("{}@{ACCOUNT}", shared.registry);
    shared.logins.issue(&username, &token, expires, "");
    let expire_time = (OffsetDateTime::from_unix_timestamp(expires).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    success(
        meta,
        json!({"Token": token, "Username": username, "ExpireTime": expire_time}),
    )
}

/// ListNamespaces {Registry, Filter?{Names?, Projects?}, PageNumber, PageSize}
/// (https://volcengine.com/docs/6420/79198; fields from volcengine-go-sdk
/// `service/cr/api_list_namespaces.go`): the namespaces, sorted, all in project `default`.
async fn list_namespaces(shared: &Shared, meta: &Meta, params: &Value) -> Answer {
    let names = filter(meta, params, "Names")?;
    let projects = filter(meta, params, "Projects")?;
    let mut all = shared.namespaces().await.map_err(internal(meta))?;
    all.retain(|n| matches(&names, n) && matches(&projects, "default"));
    let (shown, number, size) = page(shared, meta, params, &all)?;
    let items: Vec<Value> = (shown.iter())
        .map(|n| json!({"Name": n, "CreateTime": shared.started, "Project": "default"}))
        .collect();
    success(
        meta,
        json!({"Items": items, "PageNumber": number, "PageSize": size,
               "Registry": shared.registry, "TotalCount": all.len()}),
    )
}

/// CreateNamespace {Registry, Name, Project?} (fields from volcengine-go-sdk
/// `service/cr/api_create_namespace.go`): a name taken is a conflict; a key without the
/// permission is denied.
async fn create_namespace(shared: &Shared, meta: &Meta, params: &Value) -> Answer {
    if shared.with(|i| i.deny_namespace_create) {
        let message = "The key is not authorized to perform cr:CreateNamespace.";
        return Err(error(meta, StatusCode::FORBIDDEN, "AccessDenied", message));
    }
    let name = required(meta, params, "Name")?;
    let namespaces = shared.namespaces().await.map_err(internal(meta))?;
    if namespaces.iter().any(|n| n == name) {
        return Err(already_exists(meta, "Namespace", name));
    }
    shared.with(|i| i.namespaces.push(name.to_string()));
    success(meta, json!({}))
}

/// ListRepositories {Registry, Filter?{Namespaces?, Names?, AccessLevels?}, PageNumber,
/// PageSize} (https://volcengine.com/docs/6420/113784): the repositories, sorted; Name is the
/// short name, without the namespace.
async fn list_repositories(shared: &Shared, meta: &Meta, params: &Value) -> Answer {
    let namespaces = filter(meta, params, "Namespaces")?;
    let names = filter(meta, params, "Names")?;
    let levels = filter(meta, params, "AccessLevels")?;
    let all: Vec<((String, String), String)> = (shared.repositories().await)
        .map_err(internal(meta))?
        .into_iter()
        .filter(|((ns, name), level)| {
            matches(&namespaces, ns) && matches(&names, name) && matches(&levels, level)
        })
        .collect();
    let (shown, number, size) = page(shared, meta, params, &all)?;
    let items: Vec<Value> = (shown.iter())
        .map(|((ns, name), level)| {
            json!({"Name": name, "Namespace": ns, "AccessLevel": level, "Description": "",
                   "CreateTime": shared.started, "UpdateTime": shared.started})
        })
        .collect();
    success(
        meta,
        json!({"Items": items, "PageNumber": number, "PageSize": size,
               "Registry": shared.registry, "TotalCount": all.len()}),
    )
}

/// CreateRepository {Registry, Namespace, Name, AccessLevel?, Description?}
/// (https://volcengine.com/docs/6420/113782): in a namespace that exists; Name may hold `/`.
async fn create_repository(shared: &Shared, meta: &Meta, params: &Value) -> Answer {
    let namespace = required(meta, params, "Namespace")?;
    let name = required(meta, params, "Name")?;
    let level = string(meta, params, "AccessLevel")?.unwrap_or("Private");
    if level != "Private" && level != "Public" {
        return Err(invalid(meta, "AccessLevel"));
    }
    let namespaces = shared.namespaces().await.map_err(internal(meta))?;
    if !namespaces.iter().any(|n| n == namespace) {
        return Err(not_found(meta, "Namespace", namespace));
    }
    let key = (namespace.to_string(), name.to_string());
    let repositories = shared.repositories().await.map_err(internal(meta))?;
    if repositories.contains_key(&key) {
        return Err(already_exists(meta, "Repository", name));
    }
    shared.with(|i| i.repositories.insert(key, level.to_string()));
    success(meta, json!({}))
}

/// Harbor's size of an artifact: its manifest's, and that of all it references.
fn size_of(manifest: &Value, bytes: usize) -> u64 {
    let referenced: u64 = ["layers", "manifests"]
        .iter()
        .flat_map(|f| manifest[f].as_array().into_iter().flatten())
        .chain(std::iter::once(&manifest["config"]))
        .filter_map(|d| d["size"].as_u64())
        .sum();
    bytes as u64 + referenced
}

/// ListTags {Registry, Namespace, Repository, Filter?{Names?, Types?}, PageNumber, PageSize}
/// (https://volcengine.com/docs/6420/113786): a repository's tags, sorted, each with its
/// manifest's digest and size; a Chart when the manifest's config is Helm's, else an Image.
async fn list_tags(shared: &Shared, meta: &Meta, params: &Value) -> Answer {
    let namespace = required(meta, params, "Namespace")?;
    let name = required(meta, params, "Repository")?;
    let names = filter(meta, params, "Names")?;
    let types = filter(meta, params, "Types")?;
    let key = (namespace.to_string(), name.to_string());
    let repositories = shared.repositories().await.map_err(internal(meta))?;
    if !repositories.contains_key(&key) {
        return Err(not_found(meta, "Repository", name));
    }
    let repository = format!("{namespace}/{name}");
    let tagged = super::tagged(&shared.http, &shared.upstream, &repository, Method::GET).await;
    let tagged = tagged.map_err(internal(meta))?.unwrap_or_default();
    let all: Vec<Value> = (tagged.iter())
        .map(|(tag, manifest)| {
            let parsed: Value = serde_json::from_slice(&manifest.bytes).unwrap_or_default();
            let chart = parsed["config"]["mediaType"] == HELM_CONFIG;
            json!({"Name": tag, "Digest": manifest.digest,
                   "Type": if chart { "Chart" } else { "Image" },
                   "Size": size_of(&parsed, manifest.bytes.len()), "PushTime": shared.started,
                   "ImageAttributes": [], "ChartAttribute": null})
        })
        .filter(|item| {
            let of = |field: &str| item[field].as_str().unwrap_or_default().to_string();
            matches(&names, &of("Name")) && matches(&types, &of("Type"))
        })
        .collect();
    let (shown, number, size) = page(shared, meta, params, &all)?;
    success(
        meta,
        json!({"Items": shown, "Namespace": namespace, "Repository": name,
               "Registry": shared.registry, "PageNumber": number, "PageSize": size,
               "TotalCount": all.len()}),
    )
}

/// `GET /token?service=cr&scope=...` with Basic `Username:Token` of a temporary password issued
/// and unexpired: a registry token for the scopes asked.
fn token(shared: &Shared, request: &Request<Body>) -> Response<Body> {
    shared.logins.token_answer(request, "volc", |_| true)
}

/// The registry behind CR's tokens. A write goes only into a repository CR knows (created
/// through the API, or one the registry behind has): CR does not make one on push.
async fn registry(shared: &Shared, request: Request<Body>) -> Answer {
    if shared.logins.grants().cover(&request) != Some(true) {
        let realm = format!("{}/token", shared.url);
        return Err(super::challenge(&request, &realm, SERVICE));
    }
    if let Some((repository, "pull,push")) = super::repository_scope(&request) {
        let unknown = || {
            let message = "repository name not known to registry";
            let body = json!({"errors": [{"code": "NAME_UNKNOWN", "message": message}]});
            super::json(StatusCode::NOT_FOUND, &body)
        };
        let (namespace, name) = repository.split_once('/').ok_or_else(unknown)?;
        let repositories = shared.repositories().await;
        let repositories =
            repositories.map_err(|e| super::status(StatusCode::INTERNAL_SERVER_ERROR, e))?;
        if !repositories.contains_key(&(namespace.to_string(), name.to_string())) {
            return Err(unknown());
        }
    }
    Ok(super::pass_through(&shared.http, &shared.upstream, request).await)
}

#[cfg(test)]
mod tests;
