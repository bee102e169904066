//! A fake Huawei Cloud SWR (SoftWare Repository for Container, the basic edition): the
//! `v2/manage` API Ferry uses (the temporary docker login credential, organizations, the
//! repositories and their tags) behind AK/SK request signing (`SDK-HMAC-SHA256`), and the
//! registry behind SWR's token flow (realm `/swr/auth/v2/registry/auth/`, service `dockyard`),
//! in front of a real distribution registry whose content the API tells. In Huawei Cloud the
//! API is on `swr-api.<region>.myhuaweicloud.com` and the registry on
//! `swr.<region>.myhuaweicloud.com`; here both are one origin.
//!
//! The API: https://support.huaweicloud.com/intl/en-us/api-swr/ (endpoints cited below), its
//! errors https://support.huaweicloud.com/intl/en-us/api-swr/ErrorCode.html . The signing:
//! https://support.huaweicloud.com/intl/en-us/devg-apisign/api-sign-0001.html and
//! https://support.huaweicloud.com/intl/en-us/devg-apisign/api-sign-exclude-header.html .
//! Organizations must exist before a push ("Create an organization before you push an image",
//! https://support.huaweicloud.com/intl/en-us/usermanual-swr/swr_01_0014.html); a repository
//! is created by its first push.

// A refusal ends a request early with `?`: the whole answer is the error.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{Method, Request, Response, StatusCode};
use base64::Engine as _;
use ferry::adapters::registry::signing::{self, huawei, Credentials};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use super::{
    basic_of, param, percent_decode, query_pairs, with_header, Calls, Server, TemporaryLogins,
};

/// `limit` defaults to 100, at most 1000 (swr_02_0034, swr_02_0035).
const PAGE_DEFAULT: usize = 100;
const PAGE_MOST: usize = 1000;
/// How far `X-Sdk-Date` may be from the gateway's clock.
const SKEW: Duration = Duration::minutes(15);
/// A temporary login credential lives 24 hours (swr_02_0052).
const LIFETIME: Duration = Duration::hours(24);
const REALM_PATH: &str = "/swr/auth/v2/registry/auth/";
const SERVICE: &str = "dockyard";
/// The account (Huawei's "domain") owning the organizations.
const DOMAIN: &str = "ferry";

/// An answer, or the refusal that ended the request early.
type Answer = Result<Response<Body>, Response<Body>>;

#[derive(Default)]
struct Inner {
    /// The largest page answered (0: SWR's own).
    max_page: usize,
    /// Organizations added or created through the API.
    namespaces: Vec<String>,
    /// Organizations another account owns: invisible, and taken.
    elsewhere: Vec<String>,
    deny_create: bool,
}

#[derive(Clone)]
struct Shared {
    url: String,
    /// The registry's `host:port`, as the `auths` key and the repositories' `path` give it.
    host: String,
    upstream: String,
    http: reqwest::Client,
    key: (String, String),
    region: String,
    /// When it started (RFC 3339): every repository's and tag's time.
    started: String,
    /// The account's id (`domain_id`).
    domain_id: String,
    calls: Calls,
    /// The temporary credentials issued, and the registry tokens bought with them.
    logins: TemporaryLogins,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn with<T: Default>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.inner.lock().map(|mut i| f(&mut i)).unwrap_or_default()
    }

    fn page(&self, most: usize) -> usize {
        super::page_cap(self.with(|i| i.max_page), most)
    }

    /// The repositories of the registry behind that have an organization (`ns/name...`),
    /// sorted.
    async fn repositories(&self) -> Result<Vec<String>, Response<Body>> {
        let catalog = super::catalog(&self.http, &self.upstream).await;
        let mut all: Vec<String> = (catalog.map_err(internal)?.into_iter())
            .filter(|r| r.contains('/'))
            .collect();
        all.sort();
        Ok(all)
    }

    /// The account's organizations: added, created, and the first component of every
    /// repository of the registry behind, less those another account owns; sorted.
    async fn namespaces(&self) -> Result<Vec<String>, Response<Body>> {
        let repositories = self.repositories().await?;
        let (own, elsewhere) = self.with(|i| (i.namespaces.clone(), i.elsewhere.clone()));
        let mut all: Vec<String> = (repositories.iter())
            .filter_map(|r| r.split_once('/').map(|(first, _)| first.to_string()))
            .chain(own)
            .filter(|n| !elsewhere.contains(n))
            .collect();
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// Whether `user:password` is a temporary credential issued and unexpired.
    fn admits(&self, user: &str, password: &str) -> bool {
        self.logins.check(user, password).is_some()
    }
}

pub struct FakeSwr {
    url: String,
    shared: Shared,
    _server: Server,
}

impl FakeSwr {
    /// An SWR of `region` (e.g. `cn-north-4`) whose API takes requests signed with the access
    /// key `key.0` and its secret `key.1`, in front of the registry at `upstream`.
    pub async fn start(upstream: &str, key: (&str, &str), region: &str) -> FakeSwr {
        let (listener, url) = Server::bind().await;
        let shared = Shared {
            url: url.clone(),
            host: url.trim_start_matches("http://").to_string(),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            key: (key.0.to_string(), key.1.to_string()),
            region: region.to_string(),
            started: super::now_rfc3339(),
            domain_id: uuid::Uuid::new_v4().simple().to_string(),
            calls: Calls::default(),
            logins: TemporaryLogins::default(),
            inner: Arc::default(),
        };
        let router = axum::Router::new().fallback(handle);
        let _server = Server::serve(listener, router.with_state(shared.clone()));
        FakeSwr {
            url,
            shared,
            _server,
        }
    }

    /// The base URL of the registry, its token service and the API (`/v2/manage/`) alike.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn calls(&self) -> Calls {
        self.shared.calls.clone()
    }

    /// Pages hold at most `n` items, whatever the client asks: listings take several pages.
    pub fn set_max_page_size(&self, n: usize) {
        self.shared.with(|i| i.max_page = n);
    }

    /// An organization of the account that exists even with no repository.
    pub fn add_namespace(&self, name: &str) {
        self.shared.with(|i| i.namespaces.push(name.to_string()));
    }

    /// `POST /v2/manage/namespaces` is refused from now on (403, the key's user lacks the
    /// permission).
    pub fn deny_namespace_create(&self) {
        self.shared.with(|i| i.deny_create = true);
    }

    /// An organization another account owns (names are unique per region): not found to this
    /// account, and taken when it tries to create it.
    pub fn take_namespace_elsewhere(&self, name: &str) {
        self.shared.with(|i| i.elsewhere.push(name.to_string()));
    }

    /// Every temporary credential issued so far, and every registry token, stops working.
    pub fn expire_credentials(&self) {
        self.shared.logins.expire();
    }

    /// How many temporary credentials `POST /v2/manage/utils/secret` has issued.
    /// SWR's organisations have no visibility of their own (its repositories do, set apart).
    pub fn public_namespaces(&self) -> Option<Vec<String>> {
        None
    }

    pub fn credentials_issued(&self) -> usize {
        self.shared.logins.issued()
    }
}

/// SWR's error, in the old format and the new at once (ErrorCode.html).
fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = json!({
        "errors": [{"errorCode": code, "errorMessage": message, "detail": ""}],
        "error_code": code, "error_msg": message,
        "details": [{"error_code": code, "error_msg": ""}],
    });
    super::json(status, &body)
}

fn internal(e: String) -> Response<Body> {
    error(StatusCode::INTERNAL_SERVER_ERROR, "SVCSTG.SWR.5000000", &e)
}

fn organization_not_found() -> Response<Body> {
    let message = "Organization not found";
    error(StatusCode::NOT_FOUND, "SVCSTG.SWR.4040058", message)
}

fn invalid(message: &str) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, "SVCSTG.SWR.4000014", message)
}

/// The API gateway's refusal of a request whose AK/SK signature does not hold (api-sign-0001).
fn iam(what: &str) -> Response<Body> {
    let body = json!({"error_msg": format!("Incorrect IAM authentication information: {what}"),
        "error_code": "APIGW.0301", "request_id": uuid::Uuid::new_v4().simple().to_string()});
    super::json(StatusCode::UNAUTHORIZED, &body)
}

/// The registry's refusal (`{"errors": [{"code": "DENIED", ...}]}`).
fn denied(message: &str) -> Response<Body> {
    let body = json!({"errors": [{"code": "DENIED", "message": message}]});
    super::json(StatusCode::UNAUTHORIZED, &body)
}

async fn handle(State(shared): State<Shared>, request: Request<Body>) -> Response<Body> {
    shared.calls.record(&request);
    let path = request.uri().path().to_string();
    let answer = if let Some(rest) = path.strip_prefix("/v2/manage/") {
        api(&shared, request, rest).await
    } else if path == REALM_PATH || path == REALM_PATH.trim_end_matches('/') {
        let query = request.uri().query().unwrap_or_default().to_string();
        token(&shared, basic_of(&request), &query).await
    } else if path == "/v2" || path.starts_with("/v2/") {
        registry(&shared, request).await
    } else {
        Err(super::status(StatusCode::NOT_FOUND, "404 page not found"))
    };
    answer.unwrap_or_else(|refused| refused)
}

/// The `v2/manage` API, every request signed.
async fn api(shared: &Shared, request: Request<Body>, rest: &str) -> Answer {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await;
    let body = body.map_err(|e| invalid(&format!("the body could not be read: {e}")))?;
    verify(shared, &parts, &body)?;
    let query = query_pairs(parts.uri.query());
    let segments: Vec<String> = (rest.trim_end_matches('/').split('/'))
        .map(|s| percent_decode(s).unwrap_or_default())
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (parts.method, segments.as_slice()) {
        (Method::POST, ["utils", "secret"]) => Ok(secret(shared, &query)),
        (Method::GET, ["namespaces"]) => list_namespaces(shared, &query).await,
        (Method::POST, ["namespaces"]) => create_namespace(shared, &body).await,
        (Method::GET, ["namespaces", namespace]) => show_namespace(shared, namespace).await,
        (Method::GET, ["repos"]) => list_repos(shared, &query).await,
        (Method::GET, ["namespaces", namespace, "repos", repository, "tags"]) => {
            list_tags(shared, &query, namespace, repository).await
        }
        _ => {
            let body = json!({"error_code": "APIGW.0101",
                "error_msg": "The API does not exist or has not been published in the environment"});
            Err(super::json(StatusCode::NOT_FOUND, &body))
        }
    }
}

/// The `Authorization: SDK-HMAC-SHA256 Access=, SignedHeaders=, Signature=` of a request:
/// (access key, signed header names, signature).
fn authorization(parts: &Parts) -> Option<(String, Vec<String>, String)> {
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let rest = value.strip_prefix(huawei::ALGORITHM)?.strip_prefix(' ')?;
    let fields: HashMap<&str, &str> = (rest.split(','))
        .filter_map(|f| f.trim().split_once('='))
        .collect();
    let signed = (fields.get("SignedHeaders")?.split(';'))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let access = fields.get("Access")?.to_string();
    Some((access, signed, fields.get("Signature")?.to_string()))
}

/// Checks a request's AK/SK signature as the API gateway does: the signature is rebuilt over
/// the method, path, query, the headers `SignedHeaders` names (with the received `Host` and
/// `X-Sdk-Date`; `x-sdk-date` must be among them) and the body, with the key's secret.
fn verify(shared: &Shared, parts: &Parts, body: &[u8]) -> Result<(), Response<Body>> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let (access, signed, signature) = authorization(parts)
        .ok_or_else(|| iam("the Authorization header is missing or not SDK-HMAC-SHA256"))?;
    if access != shared.key.0 {
        return Err(iam(&format!("the access key {access} is unknown")));
    }
    if !signed.iter().any(|n| n == "x-sdk-date") {
        return Err(iam("SignedHeaders must include x-sdk-date"));
    }
    let date = header("x-sdk-date").ok_or_else(|| iam("the X-Sdk-Date header is missing"))?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let time = time::PrimitiveDateTime::parse(date, format)
        .map_err(|_| iam("X-Sdk-Date is not a basic ISO 8601 UTC time"))?
        .assume_utc();
    if (OffsetDateTime::now_utc() - time).abs() > SKEW {
        return Err(iam(
            "X-Sdk-Date is more than 15 minutes off the gateway's time",
        ));
    }
    let others: Vec<(&str, &str)> = (signed.iter())
        .filter(|n| *n != "host" && *n != "x-sdk-date")
        .map(|n| (n.as_str(), header(n).unwrap_or_default()))
        .collect();
    let path = percent_decode(parts.uri.path()).unwrap_or_default();
    let query = query_pairs(parts.uri.query());
    let query: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let request = signing::Request {
        method: parts.method.as_str(),
        host: header("host").unwrap_or_default(),
        path: &path,
        query: &query,
        headers: &others,
        body,
    };
    let credentials = Credentials {
        id: &shared.key.0,
        secret: &shared.key.1,
    };
    let expected = huawei::sign(&request, &credentials, time)
        .map_err(|e| iam(&format!("verify aksk signature fail: {e}")))?;
    if expected.signature != signature {
        return Err(iam("verify aksk signature fail"));
    }
    Ok(())
}

/// POST /v2/manage/utils/secret?projectname=<region> (CreateSecret, swr_02_0052): a temporary
/// docker login credential of 24 hours, `<region>@<id>` and a hex password, in the `auths`
/// body and the `X-Swr-Dockerlogin` command, its expiry in `X-Swr-Expireat`.
fn secret(shared: &Shared, query: &[(String, String)]) -> Response<Body> {
    let project = param(query, "projectname").unwrap_or_else(|| shared.region.clone());
    let id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let user = format!("{project}@{}", &id[..20]);
    let password = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let until = OffsetDateTime::now_utc() + LIFETIME;
    (shared.logins).issue(&user, &password, until.unix_timestamp(), "");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let body = json!({"auths": {shared.host.clone(): {"auth": auth}}});
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    let expire_at = until.format(format).unwrap_or_default();
    let login = format!("docker login -u {user} -p {password} {}", shared.host);
    let answer = super::json(StatusCode::OK, &body);
    let answer = with_header(answer, "x-swr-dockerlogin", login);
    with_header(answer, "x-swr-expireat", expire_at)
}

/// An organization as the API answers it; its id stable per name.
fn namespace(name: &str) -> Value {
    json!({"id": stable_id(name), "name": name, "creator_name": DOMAIN, "auth": 7})
}

/// GET /v2/manage/namespaces[?namespace=] (ListNamespaces, swr_02_0028): the account's
/// organizations, or the one named (404 when it is not one).
async fn list_namespaces(shared: &Shared, query: &[(String, String)]) -> Answer {
    let all = shared.namespaces().await?;
    let shown: Vec<Value> = match param(query, "namespace").filter(|n| !n.is_empty()) {
        Some(wanted) if !all.contains(&wanted) => return Err(organization_not_found()),
        Some(wanted) => vec![namespace(&wanted)],
        None => all.iter().map(|n| namespace(n)).collect(),
    };
    Ok(super::json(StatusCode::OK, &json!({"namespaces": shown})))
}

/// GET /v2/manage/namespaces/{namespace} (ShowNamespace, swr_02_0029); 404 when the account
/// has no such organization.
async fn show_namespace(shared: &Shared, name: &str) -> Answer {
    match shared.namespaces().await?.iter().any(|n| n == name) {
        true => Ok(super::json(StatusCode::OK, &namespace(name))),
        false => Err(organization_not_found()),
    }
}

/// An organization name as SWR takes it: 1 to 64 of `[a-z0-9._-]`, from a lowercase letter
/// to a lowercase letter or digit.
fn valid_namespace(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    (1..=64).contains(&name.len())
        && name.chars().all(allowed)
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// POST /v2/manage/namespaces `{"namespace"}` (CreateNamespace, swr_02_0026): 201 `{}`; 409
/// when the name is taken (by this account or another), 403 without the permission.
async fn create_namespace(shared: &Shared, body: &[u8]) -> Answer {
    if shared.with(|i| i.deny_create) {
        let message = "Insufficient permissions";
        return Err(error(StatusCode::FORBIDDEN, "SVCSTG.SWR.4030170", message));
    }
    let value = serde_json::from_slice::<Value>(body).ok();
    let name = value.as_ref().and_then(|v| v["namespace"].as_str());
    let Some(name) = name.filter(|n| valid_namespace(n)) else {
        return Err(invalid("Invalid namespace name"));
    };
    let elsewhere = shared.with(|i| i.elsewhere.iter().any(|n| n == name));
    if elsewhere || shared.namespaces().await?.iter().any(|n| n == name) {
        let message = "The organization already exists";
        return Err(error(StatusCode::CONFLICT, "SVCSTG.SWR.4090060", message));
    }
    shared.with(|i| i.namespaces.push(name.to_string()));
    Ok(super::json(StatusCode::CREATED, &json!({})))
}

/// The window `limit` and `offset` ask of `total` items: (offset, limit); `limit` 100 by
/// default, at most 1000 and the cap.
fn window(shared: &Shared, query: &[(String, String)]) -> (usize, usize) {
    let number = |key: &str| param(query, key).and_then(|v| v.parse::<usize>().ok());
    let limit = number("limit").unwrap_or(PAGE_DEFAULT).clamp(1, PAGE_MOST);
    (
        number("offset").unwrap_or(0),
        limit.min(shared.page(PAGE_MOST)),
    )
}

/// A bare JSON array with `Content-Range: <offset>-<count>/<total>`.
fn ranged(items: Vec<Value>, offset: usize, total: usize) -> Response<Body> {
    let range = format!("{offset}-{}/{total}", items.len());
    with_header(
        super::json(StatusCode::OK, &Value::Array(items)),
        "content-range",
        range,
    )
}

/// GET /v2/manage/repos?namespace=&limit=&offset= (ListReposDetails, swr_02_0034): the
/// repositories (of one organization, or all), sorted, each with its tags and size and the
/// total in `total_range`.
async fn list_repos(shared: &Shared, query: &[(String, String)]) -> Answer {
    let wanted = param(query, "namespace").filter(|n| !n.is_empty());
    let all: Vec<String> = (shared.repositories().await?.into_iter())
        .filter(|r| {
            let first = r.split_once('/').map(|(first, _)| first);
            wanted.as_deref().is_none_or(|w| first == Some(w))
        })
        .collect();
    let (offset, limit) = window(shared, query);
    let mut shown = Vec::new();
    for full in all.iter().skip(offset).take(limit) {
        shown.push(repository(shared, full, all.len()).await?);
    }
    Ok(ranged(shown, offset, all.len()))
}

/// A repository as ListReposDetails answers it.
async fn repository(shared: &Shared, full: &str, total: usize) -> Result<Value, Response<Body>> {
    let (namespace, name) = full.split_once('/').unwrap_or(("", full));
    let tagged = super::tagged(&shared.http, &shared.upstream, full, Method::GET).await;
    let tagged = tagged.map_err(internal)?.unwrap_or_default();
    let size: u64 = tagged.iter().map(|(_, m)| described(m).1).sum();
    let tags: Vec<&String> = tagged.iter().map(|(tag, _)| tag).collect();
    let path = format!("{}/{full}", shared.host);
    Ok(
        json!({"name": name, "namespace": namespace, "category": "other", "description": "",
        "size": size, "is_public": false, "num_images": tags.len(), "num_download": 0,
        "created_at": shared.started, "updated_at": shared.started, "path": path,
        "internal_path": path, "domain_name": DOMAIN, "tags": tags, "status": false,
        "total_range": total}),
    )
}

/// GET /v2/manage/namespaces/{namespace}/repos/{repository}/tags?limit=&offset=
/// (ListRepositoryTags, swr_02_0035; a `/` of the repository's name written `$`): its tags,
/// sorted, each with its manifest; 404 when there is no such repository.
async fn list_tags(
    shared: &Shared,
    query: &[(String, String)],
    namespace: &str,
    repository: &str,
) -> Answer {
    let full = format!("{namespace}/{}", repository.replace('$', "/"));
    let tagged = super::tagged(&shared.http, &shared.upstream, &full, Method::GET).await;
    let Some(tagged) = tagged.map_err(internal)? else {
        let message = "The image repository was not found";
        return Err(error(StatusCode::NOT_FOUND, "SVCSTG.SWR.4040010", message));
    };
    let (offset, limit) = window(shared, query);
    let shown = (tagged.iter().skip(offset).take(limit))
        .map(|(tag, manifest)| {
            let (image_id, size, list) = described(manifest);
            let path = format!("{}/{full}:{tag}", shared.host);
            json!({"id": stable_id(&format!("{full}:{tag}")), "repo_id": stable_id(&full),
                "Tag": tag, "image_id": image_id,
                "manifest": String::from_utf8_lossy(&manifest.bytes), "digest": manifest.digest,
                "schema": 2, "path": path, "internal_path": path, "size": size,
                "is_trusted": false, "created": shared.started, "updated": shared.started,
                "deleted": null, "domain_id": shared.domain_id, "scanned": false,
                "tag_type": u8::from(list)})
        })
        .collect();
    Ok(ranged(shown, offset, tagged.len()))
}

/// What a manifest tells of its image: its id (the config's digest, hex; an index's own),
/// its size (the config and layers; an index's manifests) and whether it is a list.
fn described(manifest: &super::Manifest) -> (String, u64, bool) {
    let value: Value = serde_json::from_slice(&manifest.bytes).unwrap_or_default();
    let sizes = |key: &str| -> u64 {
        let items = value[key].as_array().into_iter().flatten();
        items.filter_map(|d| d["size"].as_u64()).sum()
    };
    let list = value["manifests"].is_array();
    let size = match list {
        true => sizes("manifests"),
        false => value["config"]["size"].as_u64().unwrap_or(0) + sizes("layers"),
    };
    let id = value["config"]["digest"]
        .as_str()
        .unwrap_or(&manifest.digest);
    (id.trim_start_matches("sha256:").to_string(), size, list)
}

/// A number stable per name (the ids SWR gives organizations, repositories and tags).
fn stable_id(name: &str) -> u64 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let bytes: [u8; 4] = [digest[0], digest[1], digest[2], digest[3]];
    u64::from(u32::from_be_bytes(bytes) % 9_000_000) + 1_000_000
}

/// GET /swr/auth/v2/registry/auth/?service=dockyard&scope=... with Basic the temporary
/// credential: a registry token for the scopes asked. Pushing needs the organization: a push
/// scope into one the account does not have is refused ("Image organization does not exist").
/// (The request's Basic credential and query are taken out of it: a request is not `Sync`.)
async fn token(shared: &Shared, basic: Option<(String, String)>, query: &str) -> Answer {
    let admitted = basic.is_some_and(|(user, password)| shared.admits(&user, &password));
    if !admitted {
        return Err(denied("Authenticate Error"));
    }
    if param(&query_pairs(Some(query)), "service").is_some_and(|s| s != SERVICE) {
        return Err(denied("invalid service"));
    }
    let scopes = super::scopes_in(query);
    let namespaces = shared.namespaces().await?;
    for scope in &scopes {
        let Some((repository, actions)) = scope
            .strip_prefix("repository:")
            .and_then(|r| r.rsplit_once(':'))
        else {
            continue;
        };
        let push = actions.split(',').any(|a| a == "push" || a == "*");
        let namespace = repository
            .split_once('/')
            .map(|(first, _)| first.to_string());
        if push && !namespace.is_some_and(|n| namespaces.contains(&n)) {
            return Err(denied("Image organization does not exist"));
        }
    }
    Ok(shared.logins.grants().issue("swr", scopes))
}

/// The registry behind SWR's tokens; it has no catalog (`/v2/_catalog` is 404).
async fn registry(shared: &Shared, request: Request<Body>) -> Answer {
    if shared.logins.grants().cover(&request) != Some(true) {
        let realm = format!("{}{REALM_PATH}", shared.url);
        return Err(super::challenge(&request, &realm, SERVICE));
    }
    if request.uri().path() == "/v2/_catalog" {
        let body = json!({"errors": [{"code": "NOT_FOUND", "message": "Not Found"}]});
        return Err(super::json(StatusCode::NOT_FOUND, &body));
    }
    Ok(super::pass_through(&shared.http, &shared.upstream, request).await)
}

#[cfg(test)]
mod tests;
