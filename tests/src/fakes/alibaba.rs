//! A fake Alibaba Cloud Container Registry (ACR; `fakes::acr` is Azure's), either edition: the
//! personal edition's ROA API (version 2016-06-07: the temporary credential, namespaces,
//! repositories, tags), signed `acs <AccessKeyId>:<signature>`, or the enterprise edition's RPC
//! API (version 2018-12-01, `POST /?Action=...`: instances, the temporary credential,
//! namespaces, repositories, tags), signed with the `Signature` parameter; and the registry
//! behind ACR's token flow (realm `/auth`), in front of a real distribution registry whose
//! content the API tells. In Alibaba Cloud the API is on `cr.<region>.aliyuncs.com` and the
//! registry on `registry.<region>.aliyuncs.com` (personal) or
//! `<instance>-registry.<region>.cr.aliyuncs.com` (enterprise); here both are one origin.
//!
//! The personal edition's API: https://www.alibabacloud.com/help/doc-detail/72378.htm (common
//! headers), https://www.alibabacloud.com/help/doc-detail/72382.htm (signature); the
//! enterprise edition's: https://www.alibabacloud.com/help/doc-detail/144946.htm (signature)
//! and the actions' pages cited below. A push needs its namespace; a missing repository is
//! created by the push only when the namespace auto-creates repositories
//! (https://www.alibabacloud.com/help/doc-detail/72392.htm ; `AutoCreateRepo`,
//! https://www.alibabacloud.com/help/doc-detail/145483.htm).

// A refusal ends a request early with `?`: the whole answer is the error.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{Method, Request, Response, StatusCode};
use base64::Engine as _;
use ferry::adapters::registry::signing::{alibaba, Credentials};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use super::{field, param, percent_decode, query_pairs, Calls, Server, TemporaryLogins};

const ROA_VERSION: &str = "2016-06-07";
const RPC_VERSION: &str = "2018-12-01";
/// How far `Date` (ROA) or `Timestamp` (RPC) may be from the gateway's clock.
const SKEW: Duration = Duration::minutes(15);
/// A temporary credential lives an hour (doc-detail/72334, doc-detail/145324).
const LIFETIME: Duration = Duration::hours(1);
const TEMP_USER: &str = "cr_temp_user";
/// Pages count from 1, 30 items by default, at most 100.
const PAGE_DEFAULT: usize = 30;
const PAGE_MOST: usize = 100;
/// The parameters of an RPC request that `sign_rpc` adds itself (and the signature).
const RPC_OWN: [&str; 6] = [
    "AccessKeyId",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "Timestamp",
    "Signature",
];

/// An answer, or the refusal that ended the request early.
type Answer = Result<Response<Body>, Response<Body>>;

#[derive(Clone)]
enum Edition {
    Personal,
    /// An instance (`cri-...`), its name, and a decoy instance of the same account.
    Enterprise {
        id: String,
        name: String,
        decoy: String,
    },
}

/// A namespace's settings: whether a push creates a missing repository, and whether new
/// repositories are public.
#[derive(Clone, Copy)]
struct Settings {
    auto_create: bool,
    public: bool,
}

/// A namespace that exists without the API (added, or from the registry behind): the
/// console's default, auto-create on.
const EXISTING: Settings = Settings {
    auto_create: true,
    public: false,
};

#[derive(Default)]
struct Inner {
    /// The largest page answered (0: ACR's own).
    max_page: usize,
    /// Namespaces added, created through the API or changed by it: (instance, name); the
    /// personal edition's instance is "".
    namespaces: BTreeMap<(String, String), Settings>,
    deny_create: bool,
    /// The RPC `SignatureNonce`s seen.
    nonces: HashSet<String>,
}

#[derive(Clone)]
struct Shared {
    url: String,
    /// The registry's `host:port`.
    host: String,
    /// The registry's token service name (the challenge's `service`).
    service: String,
    upstream: String,
    http: reqwest::Client,
    key: (String, String),
    region: String,
    edition: Edition,
    /// When it started, epoch milliseconds: every repository's and image's time.
    started: i64,
    calls: Calls,
    /// The temporary credentials issued (each tied to its instance), and the registry tokens
    /// bought with them.
    logins: TemporaryLogins,
    inner: Arc<Mutex<Inner>>,
}

/// What an instance holds: its namespaces and repositories (`namespace/name`, sorted).
struct World {
    namespaces: BTreeMap<String, Settings>,
    repositories: Vec<String>,
}

impl Shared {
    fn with<T: Default>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.inner.lock().map(|mut i| f(&mut i)).unwrap_or_default()
    }

    fn page(&self, most: usize) -> usize {
        super::page_cap(self.with(|i| i.max_page), most)
    }

    /// The instance the registry behind is: the enterprise instance, "" for personal.
    fn instance(&self) -> &str {
        match &self.edition {
            Edition::Personal => "",
            Edition::Enterprise { id, .. } => id,
        }
    }

    /// What `instance` holds. This one: the repositories of the registry behind (the
    /// personal edition's are exactly `namespace/name`) and their namespaces, with those added
    /// or created; the decoy: only what the API created there.
    async fn world(&self, instance: &str) -> Result<World, Response<Body>> {
        let own = self.with(|i| i.namespaces.clone());
        let mut namespaces: BTreeMap<String, Settings> = BTreeMap::new();
        let mut repositories = Vec::new();
        if instance == self.instance() {
            let catalog = super::catalog(&self.http, &self.upstream).await;
            let catalog = catalog.map_err(|e| self.internal(&e))?;
            let personal = matches!(self.edition, Edition::Personal);
            repositories = (catalog.into_iter())
                .filter(|r| r.contains('/') && !(personal && r.matches('/').count() > 1))
                .collect();
            repositories.sort();
            for repository in &repositories {
                let first = repository.split_once('/').map(|(first, _)| first);
                namespaces.insert(first.unwrap_or_default().to_string(), EXISTING);
            }
        }
        let mine = own.into_iter().filter(|((i, _), _)| i == instance);
        namespaces.extend(mine.map(|((_, name), settings)| (name, settings)));
        Ok(World {
            namespaces,
            repositories,
        })
    }

    /// A new temporary credential for `instance`: its token and expiry (epoch ms).
    fn issue(&self, instance: &str) -> (String, i64) {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let until = OffsetDateTime::now_utc() + LIFETIME;
        (self.logins).issue(TEMP_USER, &token, until.unix_timestamp(), instance);
        (token, millis(until))
    }

    /// An internal error in the edition's own error format.
    fn internal(&self, e: &str) -> Response<Body> {
        let status = StatusCode::INTERNAL_SERVER_ERROR;
        match self.edition {
            Edition::Personal => roa_error(status, "InternalError", e),
            Edition::Enterprise { .. } => gateway(status, "InternalError", e),
        }
    }
}

pub struct FakeAliAcr {
    url: String,
    shared: Shared,
    _server: Server,
}

impl FakeAliAcr {
    /// A personal edition registry of `region` (e.g. `cn-hangzhou`) whose API takes requests
    /// signed with the AccessKey `key.0` and its secret `key.1`, in front of the registry at
    /// `upstream`.
    pub async fn personal(upstream: &str, key: (&str, &str), region: &str) -> FakeAliAcr {
        Self::start(upstream, key, region, Edition::Personal).await
    }

    /// An enterprise edition instance named `instance_name` (its id `cri-...`) of `region`,
    /// whose account has a second, decoy instance; the API takes requests signed with `key`.
    pub async fn enterprise(
        upstream: &str,
        key: (&str, &str),
        region: &str,
        instance_name: &str,
    ) -> FakeAliAcr {
        let id = format!("cri-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let decoy = format!("cri-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let name = instance_name.to_string();
        let edition = Edition::Enterprise { id, name, decoy };
        Self::start(upstream, key, region, edition).await
    }

    async fn start(upstream: &str, key: (&str, &str), region: &str, edition: Edition) -> Self {
        let (listener, url) = Server::bind().await;
        let service = match &edition {
            Edition::Personal => format!("registry.aliyuncs.com:{region}:26842"),
            Edition::Enterprise { id, .. } => format!("registry.aliyuncs.com:{region}:china:{id}"),
        };
        let shared = Shared {
            url: url.clone(),
            host: url.trim_start_matches("http://").to_string(),
            service,
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            key: (key.0.to_string(), key.1.to_string()),
            region: region.to_string(),
            edition,
            started: millis(OffsetDateTime::now_utc()),
            calls: Calls::default(),
            logins: TemporaryLogins::default(),
            inner: Arc::default(),
        };
        let router = axum::Router::new().fallback(handle);
        let _server = Server::serve(listener, router.with_state(shared.clone()));
        FakeAliAcr {
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

    /// The enterprise instance's id (`cri-` and 16 lowercase letters and digits); "" for the
    /// personal edition.
    pub fn instance_id(&self) -> String {
        self.shared.instance().to_string()
    }

    /// Pages hold at most `n` items, whatever the client asks: listings take several pages.
    pub fn set_max_page_size(&self, n: usize) {
        self.shared.with(|i| i.max_page = n);
    }

    /// A namespace that exists even with no repository, auto-creating repositories.
    pub fn add_namespace(&self, name: &str) {
        let key = (self.shared.instance().to_string(), name.to_string());
        self.shared.with(|i| i.namespaces.insert(key, EXISTING));
    }

    /// Creating a namespace is refused from now on (`NAMESPACE_LIMIT_EXCEED`, 403).
    pub fn deny_namespace_create(&self) {
        self.shared.with(|i| i.deny_create = true);
    }

    /// Every temporary credential issued so far, and every registry token, stops working.
    pub fn expire_credentials(&self) {
        self.shared.logins.expire();
    }

    /// How many temporary credentials the API has issued.
    /// The namespaces whose repositories are public by default (`DefaultVisibility` or
    /// `DefaultRepoType` PUBLIC).
    pub fn public_namespaces(&self) -> Option<Vec<String>> {
        Some(self.shared.with(|i| {
            (i.namespaces.iter())
                .filter(|(_, settings)| settings.public)
                .map(|((_, name), _)| name.clone())
                .collect()
        }))
    }

    pub fn credentials_issued(&self) -> usize {
        self.shared.logins.issued()
    }
}

fn millis(time: OffsetDateTime) -> i64 {
    (time.unix_timestamp_nanos() / 1_000_000) as i64
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

/// 16 lowercase hex digits stable per `name` (the ids of namespaces and repositories).
fn stable_hex(name: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(name.as_bytes())[..8])
}

/// A personal edition error (non-2xx): the ROA API's lowercase keys and the gateway's
/// capitalised ones together.
fn roa_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let id = request_id();
    let body = json!({"code": code, "message": message, "requestId": id,
                      "Code": code, "Message": message, "RequestId": id});
    super::json(status, &body)
}

/// The RPC gateway's error (`RequestId`, `HostId`, `Code`, `Message`, `Recommend`).
fn gateway(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = json!({"RequestId": request_id(), "HostId": "cr.aliyuncs.com", "Code": code,
        "Message": message, "Recommend": "https://api.aliyun.com/troubleshoot"});
    super::json(status, &body)
}

/// An enterprise edition business error: `IsSuccess` false, whatever the status.
fn business(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = json!({"RequestId": request_id(), "Code": code, "Message": message,
                      "IsSuccess": false});
    super::json(status, &body)
}

/// The registry's refusal of a push (403 `DENIED`).
fn denied(message: &str) -> Response<Body> {
    let message = format!("requested access to the resource is denied: {message}");
    let body = json!({"errors": [{"code": "DENIED", "message": message}]});
    super::json(StatusCode::FORBIDDEN, &body)
}

async fn handle(State(shared): State<Shared>, request: Request<Body>) -> Response<Body> {
    shared.calls.record(&request);
    let path = request.uri().path().to_string();
    let answer = if path == "/auth" {
        token(&shared, &request)
    } else if path == "/v2" || path.starts_with("/v2/") {
        registry(&shared, request).await
    } else {
        match shared.edition {
            Edition::Personal => roa(&shared, request).await,
            Edition::Enterprise { .. } if path == "/" => rpc(&shared, request).await,
            Edition::Enterprise { .. } => {
                let message = "Specified api is not found, please check your url and method.";
                Err(gateway(
                    StatusCode::NOT_FOUND,
                    "InvalidApi.NotFound",
                    message,
                ))
            }
        }
    };
    answer.unwrap_or_else(|refused| refused)
}

/// The MD5 digest of `bytes`, for `Content-MD5`.
fn md5(bytes: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(bytes).into()
}

/// Checks a personal edition request as the gateway does (doc-detail/72382): the key is
/// known, `x-acs-version` is 2016-06-07, `Date` is within 15 minutes, a `Content-MD5` is the
/// body's, and `Authorization: acs <AccessKeyId>:<signature>` is the signature rebuilt from
/// the method, `Accept`, `Content-MD5`, `Content-Type`, `Date`, the `x-acs-*` headers and the
/// path with its query, as received, with the key's secret.
fn verify_roa(shared: &Shared, parts: &Parts, body: &[u8]) -> Result<(), Response<Body>> {
    let bad = StatusCode::BAD_REQUEST;
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let authorization = header("authorization").and_then(|a| a.strip_prefix("acs "));
    let Some((access, signature)) = authorization.and_then(|a| a.split_once(':')) else {
        let message = "The request signature does not conform to Aliyun standards.";
        return Err(roa_error(bad, "IncompleteSignature", message));
    };
    if access != shared.key.0 {
        let message = "Specified access key is not found.";
        return Err(roa_error(
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            message,
        ));
    }
    if header("x-acs-version") != Some(ROA_VERSION) {
        let message = "Specified parameter Version is not valid.";
        return Err(roa_error(bad, "InvalidVersion", message));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let date = header("date").and_then(|d| time::PrimitiveDateTime::parse(d, format).ok());
    let Some(date) = date.map(|d| d.assume_utc()) else {
        let message = "Specified time stamp or date value is not well formatted.";
        return Err(roa_error(bad, "InvalidTimeStamp.Format", message));
    };
    if (OffsetDateTime::now_utc() - date).abs() > SKEW {
        let message = "Specified time stamp or date value is expired.";
        return Err(roa_error(bad, "InvalidTimeStamp.Expired", message));
    }
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5(body));
    if header("content-md5").is_some_and(|sent| sent != md5) {
        let message = "Specified content md5 is not matched with your request body.";
        return Err(roa_error(bad, "ContentMD5NotMatched", message));
    }
    let headers: Vec<(String, String)> = (parts.headers.iter())
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let path = percent_decode(parts.uri.path()).unwrap_or_default();
    let query = query_pairs(parts.uri.query());
    let query: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let method = parts.method.as_str();
    let string_to_sign = alibaba::roa_string_to_sign(method, &path, &query, &headers);
    let expected =
        (string_to_sign.as_ref().ok()).and_then(|s| alibaba::roa_signature(s, &shared.key.1).ok());
    if expected.as_deref() != Some(signature) {
        let message = format!(
            "Specified signature is not matched with our calculation. server string to sign \
             is:{}",
            string_to_sign.unwrap_or_default()
        );
        return Err(roa_error(bad, "SignatureDoesNotMatch", &message));
    }
    Ok(())
}

/// A personal edition success: `{"data": ..., "requestId"}`.
fn data(value: Value) -> Answer {
    let body = json!({"data": value, "requestId": request_id()});
    Ok(super::json(StatusCode::OK, &body))
}

/// The personal edition's ROA API.
async fn roa(shared: &Shared, request: Request<Body>) -> Answer {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await;
    let body = body.map_err(|e| shared.internal(&e.to_string()))?;
    verify_roa(shared, &parts, &body)?;
    let query = query_pairs(parts.uri.query());
    let segments: Vec<String> = (parts.uri.path().trim_matches('/').split('/'))
        .map(|s| percent_decode(s).unwrap_or_default())
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (parts.method, segments.as_slice()) {
        // GET /tokens (GetAuthorizationToken, doc-detail/72334).
        (Method::GET, ["tokens"]) => {
            let (token, until) = shared.issue("");
            let credential = json!({"authorizationToken": token, "tempUserName": TEMP_USER, "expireDate": until});
            data(credential)
        }
        (Method::GET, ["namespace"]) => personal_namespaces(shared).await,
        (Method::PUT, ["namespace"]) => personal_create(shared, &body).await,
        (Method::GET, ["namespace", namespace]) => personal_namespace(shared, namespace).await,
        (Method::POST, ["namespace", namespace]) => personal_update(shared, namespace, &body).await,
        (Method::GET, ["repos"]) => personal_repos(shared, &query, None).await,
        (Method::GET, ["repos", namespace]) => {
            personal_repos(shared, &query, Some(namespace)).await
        }
        (Method::GET, ["repos", namespace, name, "tags"]) => {
            personal_tags(shared, &query, &format!("{namespace}/{name}")).await
        }
        _ => {
            let message = "Specified api is not found, please check your url and method.";
            Err(roa_error(
                StatusCode::NOT_FOUND,
                "InvalidApi.NotFound",
                message,
            ))
        }
    }
}

fn namespace_not_exist() -> Response<Body> {
    roa_error(
        StatusCode::NOT_FOUND,
        "NAMESPACE_NOT_EXIST",
        "namespace not exist",
    )
}

/// GET /namespace (GetNamespaceList; no doc page, the SDK's path: aliyun/alibaba-cloud-sdk-go
/// `services/cr/get_namespace_list.go`): every namespace, unpaged.
async fn personal_namespaces(shared: &Shared) -> Answer {
    let world = shared.world("").await?;
    let namespaces: Vec<Value> = (world.namespaces.keys())
        .map(|n| json!({"namespace": n, "authorizeType": "ADMIN", "namespaceStatus": "NORMAL"}))
        .collect();
    data(json!({"namespaces": namespaces}))
}

/// GET /namespace/{Namespace} (GetNamespace, doc-detail/72392).
async fn personal_namespace(shared: &Shared, name: &str) -> Answer {
    let world = shared.world("").await?;
    let settings = world.namespaces.get(name).ok_or_else(namespace_not_exist)?;
    let visibility = if settings.public { "PUBLIC" } else { "PRIVATE" };
    data(
        json!({"namespace": {"namespace": name, "authorizeType": "ADMIN",
        "defaultVisibility": visibility, "autoCreate": settings.auto_create,
        "namespaceStatus": "NORMAL"}}),
    )
}

/// A personal edition namespace name: 2 to 30 lowercase letters, digits, `-` and `_`, not
/// starting with `-` or `_`.
fn valid_personal(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c);
    (2..=30).contains(&name.len()) && name.chars().all(allowed) && !name.starts_with(['-', '_'])
}

/// PUT /namespace `{"Namespace": {"Namespace"}}` (CreateNamespace; the SDK's
/// `services/cr/create_namespace.go`, the body terraform-provider-alicloud's
/// `resource_alicloud_cr_namespace.go` sends): a namespace that does not auto-create
/// repositories until `POST /namespace/{ns}` says so.
async fn personal_create(shared: &Shared, body: &[u8]) -> Answer {
    if shared.with(|i| i.deny_create) {
        let message = "namespace count exceeds the limit";
        return Err(roa_error(
            StatusCode::FORBIDDEN,
            "NAMESPACE_LIMIT_EXCEED",
            message,
        ));
    }
    let value = serde_json::from_slice::<Value>(body).unwrap_or_default();
    let Some(name) = value["Namespace"]["Namespace"]
        .as_str()
        .filter(|n| valid_personal(n))
    else {
        let message = "invalid namespace name";
        return Err(roa_error(StatusCode::BAD_REQUEST, "PARAM_INVALID", message));
    };
    if shared.world("").await?.namespaces.contains_key(name) {
        let message = "namespace already exist";
        return Err(roa_error(
            StatusCode::BAD_REQUEST,
            "NAMESPACE_ALREADY_EXIST",
            message,
        ));
    }
    let settings = Settings {
        auto_create: false,
        public: false,
    };
    shared.with(|i| {
        i.namespaces
            .insert((String::new(), name.to_string()), settings)
    });
    data(json!({}))
}

/// POST /namespace/{Namespace} `{"Namespace": {"AutoCreate", "DefaultVisibility"}}`
/// (UpdateNamespace; the SDK's `services/cr/update_namespace.go`, as terraform sends it after a
/// create): each setting given is changed.
async fn personal_update(shared: &Shared, name: &str, body: &[u8]) -> Answer {
    let world = shared.world("").await?;
    let mut settings = *world.namespaces.get(name).ok_or_else(namespace_not_exist)?;
    let value = serde_json::from_slice::<Value>(body).unwrap_or_default();
    let asked = &value["Namespace"];
    if let Some(auto_create) = asked["AutoCreate"].as_bool() {
        settings.auto_create = auto_create;
    }
    if let Some(visibility) = asked["DefaultVisibility"].as_str() {
        settings.public = visibility == "PUBLIC";
    }
    shared.with(|i| {
        i.namespaces
            .insert((String::new(), name.to_string()), settings)
    });
    data(json!({}))
}

/// The page a request asks (`page_key` from 1, `PageSize` 30 by default, at most 100 and the
/// cap): (page, size).
fn paging(shared: &Shared, pairs: &[(String, String)], page_key: &str) -> (usize, usize) {
    let number = |key: &str| param(pairs, key).and_then(|v| v.parse::<usize>().ok());
    let size = number("PageSize")
        .unwrap_or(PAGE_DEFAULT)
        .clamp(1, PAGE_MOST);
    let size = size.min(shared.page(PAGE_MOST));
    (number(page_key).unwrap_or(1).max(1), size)
}

fn window<T: Clone>(items: &[T], page: usize, size: usize) -> Vec<T> {
    let shown = items
        .iter()
        .skip((page - 1).saturating_mul(size))
        .take(size);
    shown.cloned().collect()
}

/// GET /repos and GET /repos/{RepoNamespace} (GetRepoList, GetRepoListByNamespace; the SDK's
/// `services/cr/get_repo_list.go`, `get_repo_list_by_namespace.go`, the fields Harbor's
/// `aliRepo` reads) with `Page`, `PageSize`: the repositories, sorted.
async fn personal_repos(
    shared: &Shared,
    query: &[(String, String)],
    namespace: Option<&str>,
) -> Answer {
    let world = shared.world("").await?;
    if namespace.is_some_and(|n| !world.namespaces.contains_key(n)) {
        return Err(namespace_not_exist());
    }
    let all: Vec<String> = (world.repositories.into_iter())
        .filter(|r| namespace.is_none_or(|n| r.split_once('/').map(|(f, _)| f) == Some(n)))
        .collect();
    let (page, size) = paging(shared, query, "Page");
    let repos: Vec<Value> = (window(&all, page, size).iter())
        .map(|full| {
            let (namespace, name) = full.split_once('/').unwrap_or(("", full));
            let domains = json!({"public": shared.host,
                "internal": format!("registry-internal.{}.aliyuncs.com", shared.region),
                "vpc": format!("registry-vpc.{}.aliyuncs.com", shared.region)});
            let id = u64::from_str_radix(&stable_hex(full)[..6], 16).unwrap_or(0) + 100_000;
            json!({"repoNamespace": namespace, "repoName": name, "repoId": id,
                "regionId": shared.region, "repoType": "PRIVATE", "repoStatus": "NORMAL",
                "summary": "", "gmtCreate": shared.started, "gmtModified": shared.started,
                "repoDomainList": domains})
        })
        .collect();
    data(json!({"page": page, "pageSize": size, "total": all.len(), "repos": repos}))
}

/// The images of `repository`, sorted by tag, with what their manifests tell: (tag, digest
/// hex, image id hex, size).
async fn images(
    shared: &Shared,
    repository: &str,
) -> Result<Vec<(String, String, String, u64)>, Response<Body>> {
    let tagged = super::tagged(&shared.http, &shared.upstream, repository, Method::GET).await;
    let tagged = tagged.map_err(|e| shared.internal(&e))?.unwrap_or_default();
    let described = tagged.into_iter().map(|(tag, manifest)| {
        let value: Value = serde_json::from_slice(&manifest.bytes).unwrap_or_default();
        let sizes = |key: &str| -> u64 {
            let items = value[key].as_array().into_iter().flatten();
            items.filter_map(|d| d["size"].as_u64()).sum()
        };
        let size = match value["manifests"].is_array() {
            true => sizes("manifests"),
            false => value["config"]["size"].as_u64().unwrap_or(0) + sizes("layers"),
        };
        let digest = manifest.digest.trim_start_matches("sha256:").to_string();
        let id = value["config"]["digest"].as_str().map(String::from);
        let id = id.map(|i| i.trim_start_matches("sha256:").to_string());
        (tag, digest.clone(), id.unwrap_or(digest), size)
    });
    Ok(described.collect())
}

/// GET /repos/{RepoNamespace}/{RepoName}/tags (GetRepoTags, doc-detail/72401) with `Page`,
/// `PageSize`: the tags, sorted, digests without `sha256:`.
async fn personal_tags(shared: &Shared, query: &[(String, String)], repository: &str) -> Answer {
    if !shared
        .world("")
        .await?
        .repositories
        .iter()
        .any(|r| r == repository)
    {
        let message = "repository not exist";
        return Err(roa_error(StatusCode::NOT_FOUND, "REPO_NOT_EXIST", message));
    }
    let all = images(shared, repository).await?;
    let (page, size) = paging(shared, query, "Page");
    let tags: Vec<Value> = (window(&all, page, size).into_iter())
        .map(|(tag, digest, id, image_size)| {
            json!({"tag": tag, "digest": digest, "imageId": id, "imageSize": image_size,
                "imageCreate": shared.started, "imageUpdate": shared.started, "status": "NORMAL"})
        })
        .collect();
    data(json!({"page": page, "pageSize": size, "total": all.len(), "tags": tags}))
}

/// Checks an enterprise edition request as the RPC gateway does (doc-detail/144946): the
/// common parameters are there, the key is known, `Timestamp` is within 15 minutes, the
/// `Signature` is the one rebuilt from the other parameters with the key's secret, and its
/// `SignatureNonce` is new.
fn verify_rpc(
    shared: &Shared,
    method: &str,
    pairs: &[(String, String)],
) -> Result<(), Response<Body>> {
    let bad = StatusCode::BAD_REQUEST;
    let access = required(pairs, "AccessKeyId")?;
    let signature = required(pairs, "Signature")?;
    let nonce = required(pairs, "SignatureNonce")?;
    let timestamp = required(pairs, "Timestamp")?;
    if access != shared.key.0 {
        let message = "Specified access key is not found.";
        return Err(gateway(
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            message,
        ));
    }
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let Ok(time) = time::PrimitiveDateTime::parse(timestamp, format) else {
        let message = "Specified time stamp or date value is not well formatted.";
        return Err(gateway(bad, "InvalidTimeStamp.Format", message));
    };
    let time = time.assume_utc();
    if (OffsetDateTime::now_utc() - time).abs() > SKEW {
        let message = "Specified time stamp or date value is expired.";
        return Err(gateway(bad, "InvalidTimeStamp.Expired", message));
    }
    let others: Vec<(&str, &str)> = (pairs.iter())
        .filter(|(k, _)| !RPC_OWN.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let credentials = Credentials {
        id: &shared.key.0,
        secret: &shared.key.1,
    };
    let expected = alibaba::sign_rpc(method, &others, &credentials, time, nonce);
    if expected.as_ref().map(|s| s.signature.as_str()).ok() != Some(signature) {
        let string_to_sign = expected.map(|s| s.string_to_sign).unwrap_or_default();
        let message = format!(
            "Specified signature is not matched with our calculation. server string to sign \
             is:{string_to_sign}"
        );
        return Err(gateway(bad, "SignatureDoesNotMatch", &message));
    }
    if !shared.with(|i| i.nonces.insert(nonce.to_string())) {
        let message = "Specified signature nonce was used already.";
        return Err(gateway(bad, "SignatureNonceUsed", message));
    }
    Ok(())
}

/// An enterprise edition success: `fields` with `RequestId`, `Code` and `IsSuccess`.
fn success(mut fields: Value) -> Answer {
    fields["RequestId"] = json!(request_id());
    fields["Code"] = json!("success");
    fields["IsSuccess"] = json!(true);
    Ok(super::json(StatusCode::OK, &fields))
}

/// The enterprise edition's RPC API: `POST /?Action=...` (or GET), the parameters in the
/// query or a form body.
async fn rpc(shared: &Shared, request: Request<Body>) -> Answer {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await;
    let body = body.map_err(|e| shared.internal(&e.to_string()))?;
    let mut pairs = query_pairs(parts.uri.query());
    let form = (parts.headers.get(http::header::CONTENT_TYPE))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        pairs.extend(url::form_urlencoded::parse(&body).into_owned());
    }
    if parts.method != Method::POST && parts.method != Method::GET {
        let message = "Specified api is not found, please check your url and method.";
        return Err(gateway(
            StatusCode::NOT_FOUND,
            "InvalidApi.NotFound",
            message,
        ));
    }
    verify_rpc(shared, parts.method.as_str(), &pairs)?;
    if field(&pairs, "Version") != Some(RPC_VERSION) {
        let message = "Specified parameter Version is not valid.";
        return Err(gateway(StatusCode::BAD_REQUEST, "InvalidVersion", message));
    }
    match field(&pairs, "Action").unwrap_or_default() {
        "ListInstance" => list_instance(shared, &pairs),
        "GetAuthorizationToken" => {
            // GetAuthorizationToken (doc-detail/145324): `TempUsername`, spelt so.
            let instance = instance_of(shared, &pairs)?;
            let (token, until) = shared.issue(&instance);
            success(
                json!({"TempUsername": TEMP_USER, "AuthorizationToken": token,
                           "ExpireTime": until}),
            )
        }
        "ListNamespace" => list_namespace(shared, &pairs).await,
        "GetNamespace" => get_namespace(shared, &pairs).await,
        "CreateNamespace" => create_namespace(shared, &pairs).await,
        "ListRepository" => list_repository(shared, &pairs).await,
        "GetRepository" => get_repository(shared, &pairs).await,
        "ListRepoTag" => list_repo_tag(shared, &pairs).await,
        _ => {
            let message = "Specified api is not found, please check your url and method.";
            Err(gateway(
                StatusCode::NOT_FOUND,
                "InvalidAction.NotFound",
                message,
            ))
        }
    }
}

/// The account's instances, the decoy first: (id, name).
fn instances(shared: &Shared) -> Vec<(String, String)> {
    match &shared.edition {
        Edition::Personal => Vec::new(),
        Edition::Enterprise { id, name, decoy } => {
            vec![
                (decoy.clone(), format!("{name}-decoy")),
                (id.clone(), name.clone()),
            ]
        }
    }
}

/// The `InstanceId` of a request, one of the account's (`INSTANCE_NOT_EXIST`, 404, else).
fn instance_of(shared: &Shared, pairs: &[(String, String)]) -> Result<String, Response<Body>> {
    let id = required(pairs, "InstanceId")?;
    if !instances(shared).iter().any(|(known, _)| known == id) {
        let message = "instance not exist";
        return Err(business(
            StatusCode::NOT_FOUND,
            "INSTANCE_NOT_EXIST",
            message,
        ));
    }
    Ok(id.to_string())
}

fn required<'a>(pairs: &'a [(String, String)], name: &str) -> Result<&'a str, Response<Body>> {
    let message = format!("{name} is mandatory for this action.");
    let missing = || gateway(StatusCode::BAD_REQUEST, &format!("Missing{name}"), &message);
    field(pairs, name)
        .filter(|v| !v.is_empty())
        .ok_or_else(missing)
}

/// The page and its size, as an RPC answer gives them (`PageNo`, `PageSize`).
fn page_fields(page: usize, size: usize) -> Value {
    json!({"PageNo": page, "PageSize": size})
}

/// ListInstance {InstanceName?, PageNo, PageSize} (doc-detail/145270): the account's
/// instances, a name matched as a part of theirs (a client must compare the names).
fn list_instance(shared: &Shared, pairs: &[(String, String)]) -> Answer {
    let wanted = field(pairs, "InstanceName").unwrap_or_default();
    let all: Vec<(String, String)> = (instances(shared).into_iter())
        .filter(|(_, name)| name.contains(wanted))
        .collect();
    let (page, size) = paging(shared, pairs, "PageNo");
    let listed: Vec<Value> = (window(&all, page, size).into_iter())
        .map(|(id, name)| {
            json!({"InstanceId": id, "InstanceName": name, "InstanceStatus": "RUNNING",
                "RegionId": shared.region, "InstanceSpecification": "Basic",
                "CreateTime": shared.started, "ModifiedTime": shared.started})
        })
        .collect();
    let mut fields = page_fields(page, size);
    fields["Instances"] = json!(listed);
    fields["TotalCount"] = json!(all.len());
    success(fields)
}

/// A namespace as the enterprise edition answers it.
fn namespace_fields(instance: &str, name: &str, settings: Settings) -> Value {
    json!({"NamespaceName": name, "NamespaceId": format!("crn-{}", stable_hex(&format!("{instance}/{name}"))),
        "NamespaceStatus": "NORMAL", "AutoCreateRepo": settings.auto_create,
        "DefaultRepoType": if settings.public { "PUBLIC" } else { "PRIVATE" },
        "InstanceId": instance})
}

/// ListNamespace {InstanceId, NamespaceName?, PageNo, PageSize} (doc-detail/145289); the
/// `TotalCount` a string, as documented.
async fn list_namespace(shared: &Shared, pairs: &[(String, String)]) -> Answer {
    let instance = instance_of(shared, pairs)?;
    let wanted = field(pairs, "NamespaceName").unwrap_or_default();
    let world = shared.world(&instance).await?;
    let all: Vec<(String, Settings)> = (world.namespaces.into_iter())
        .filter(|(name, _)| name.contains(wanted))
        .collect();
    let (page, size) = paging(shared, pairs, "PageNo");
    let listed: Vec<Value> = (window(&all, page, size).into_iter())
        .map(|(name, settings)| namespace_fields(&instance, &name, settings))
        .collect();
    let mut fields = page_fields(page, size);
    fields["Namespaces"] = json!(listed);
    fields["TotalCount"] = json!(all.len().to_string());
    success(fields)
}

/// GetNamespace {InstanceId, NamespaceName or NamespaceId} (doc-detail/145288); a missing one
/// is `NAMESPACE_NOT_EXIST` in a 200.
async fn get_namespace(shared: &Shared, pairs: &[(String, String)]) -> Answer {
    let instance = instance_of(shared, pairs)?;
    let world = shared.world(&instance).await?;
    let found = world.namespaces.into_iter().find(|(name, settings)| {
        let fields = namespace_fields(&instance, name, *settings);
        field(pairs, "NamespaceName") == Some(name.as_str())
            || field(pairs, "NamespaceId").is_some_and(|id| fields["NamespaceId"] == id)
    });
    let Some((name, settings)) = found else {
        let message = "namespace not exist";
        return Err(business(StatusCode::OK, "NAMESPACE_NOT_EXIST", message));
    };
    success(namespace_fields(&instance, &name, settings))
}

/// An enterprise edition namespace name: 2 to 120 lowercase letters, digits and `_-.`, not
/// starting or ending with a delimiter.
fn valid_enterprise(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c);
    let delimiter = ['_', '-', '.'];
    (2..=120).contains(&name.len())
        && name.chars().all(allowed)
        && !name.starts_with(delimiter)
        && !name.ends_with(delimiter)
}

/// CreateNamespace {InstanceId, NamespaceName, AutoCreateRepo, DefaultRepoType}
/// (doc-detail/145483): `NAMESPACE_ALREADY_EXIST` in a 200 when it exists, 403
/// `NAMESPACE_LIMIT_EXCEED` when creating is denied.
async fn create_namespace(shared: &Shared, pairs: &[(String, String)]) -> Answer {
    let instance = instance_of(shared, pairs)?;
    if shared.with(|i| i.deny_create) {
        let message = "namespace count exceeds the limit";
        return Err(business(
            StatusCode::FORBIDDEN,
            "NAMESPACE_LIMIT_EXCEED",
            message,
        ));
    }
    let name = required(pairs, "NamespaceName")?;
    if !valid_enterprise(name) {
        let message = "invalid namespace name";
        return Err(business(StatusCode::BAD_REQUEST, "PARAM_INVALID", message));
    }
    if shared.world(&instance).await?.namespaces.contains_key(name) {
        let message = "namespace already exist";
        return Err(business(StatusCode::OK, "NAMESPACE_ALREADY_EXIST", message));
    }
    let settings = Settings {
        auto_create: field(pairs, "AutoCreateRepo") == Some("true"),
        public: field(pairs, "DefaultRepoType") == Some("PUBLIC"),
    };
    shared.with(|i| i.namespaces.insert((instance, name.to_string()), settings));
    success(json!({}))
}

/// A repository as the enterprise edition answers it; its id stable per name.
fn repository_fields(shared: &Shared, instance: &str, world: &World, full: &str) -> Value {
    let (namespace, name) = full.split_once('/').unwrap_or(("", full));
    let public = world.namespaces.get(namespace).is_some_and(|s| s.public);
    json!({"RepoId": repository_id(instance, full), "RepoName": name,
        "RepoNamespaceName": namespace, "RepoStatus": "NORMAL",
        "RepoType": if public { "PUBLIC" } else { "PRIVATE" }, "RepoBuildType": "MANUAL",
        "Summary": "", "InstanceId": instance, "CreateTime": shared.started,
        "ModifiedTime": shared.started, "TagImmutability": false})
}

fn repository_id(instance: &str, full: &str) -> String {
    format!("crr-{}", stable_hex(&format!("{instance}/{full}")))
}

fn repo_not_exist() -> Response<Body> {
    business(StatusCode::OK, "REPO_NOT_EXIST", "repository not exist")
}

/// ListRepository {InstanceId, RepoNamespaceName?, RepoStatus?, PageNo, PageSize}
/// (doc-detail/145293): every repository is `NORMAL`; `TotalCount` a string.
async fn list_repository(shared: &Shared, pairs: &[(String, String)]) -> Answer {
    let instance = instance_of(shared, pairs)?;
    let world = shared.world(&instance).await?;
    let namespace = field(pairs, "RepoNamespaceName");
    let status = field(pairs, "RepoStatus").unwrap_or("ALL");
    let all: Vec<&String> = (world.repositories.iter())
        .filter(|r| namespace.is_none_or(|n| r.split_once('/').map(|(f, _)| f) == Some(n)))
        .filter(|_| status == "ALL" || status == "NORMAL")
        .collect();
    let (page, size) = paging(shared, pairs, "PageNo");
    let listed: Vec<Value> = (window(&all, page, size).into_iter())
        .map(|full| repository_fields(shared, &instance, &world, full))
        .collect();
    let mut fields = page_fields(page, size);
    fields["Repositories"] = json!(listed);
    fields["TotalCount"] = json!(all.len().to_string());
    success(fields)
}

/// GetRepository {InstanceId, RepoNamespaceName and RepoName, or RepoId}
/// (doc-detail/145294); a missing one is `REPO_NOT_EXIST` in a 200.
async fn get_repository(shared: &Shared, pairs: &[(String, String)]) -> Answer {
    let instance = instance_of(shared, pairs)?;
    let world = shared.world(&instance).await?;
    let named = match (field(pairs, "RepoNamespaceName"), field(pairs, "RepoName")) {
        (Some(namespace), Some(name)) => Some(format!("{namespace}/{name}")),
        _ => None,
    };
    let found = world.repositories.iter().find(|full| {
        named.as_deref() == Some(full.as_str())
            || field(pairs, "RepoId") == Some(repository_id(&instance, full).as_str())
    });
    let full = found.ok_or_else(repo_not_exist)?;
    let mut fields = repository_fields(shared, &instance, &world, full);
    fields["Detail"] = json!("");
    success(fields)
}

/// ListRepoTag {InstanceId, RepoId, PageNo, PageSize} (doc-detail/145295): the tags, sorted;
/// digests without `sha256:`, times strings of epoch ms, `TotalCount` a string.
async fn list_repo_tag(shared: &Shared, pairs: &[(String, String)]) -> Answer {
    let instance = instance_of(shared, pairs)?;
    let id = required(pairs, "RepoId")?;
    let world = shared.world(&instance).await?;
    let found = (world.repositories.iter()).find(|full| repository_id(&instance, full) == id);
    let full = found.ok_or_else(repo_not_exist)?;
    let all = images(shared, full).await?;
    let (page, size) = paging(shared, pairs, "PageNo");
    let time = shared.started.to_string();
    let listed: Vec<Value> = (window(&all, page, size).into_iter())
        .map(|(tag, digest, image_id, image_size)| {
            json!({"Tag": tag, "Digest": digest, "ImageId": image_id, "Status": "NORMAL",
                "ImageSize": image_size, "ImageCreate": time, "ImageUpdate": time})
        })
        .collect();
    let mut fields = page_fields(page, size);
    fields["Images"] = json!(listed);
    fields["TotalCount"] = json!(all.len().to_string());
    success(fields)
}

/// GET /auth?service=...&scope=... with Basic `cr_temp_user:<token>` of an unexpired
/// temporary credential of this registry's instance: a registry token for the scopes asked.
fn token(shared: &Shared, request: &Request<Body>) -> Answer {
    let query = query_pairs(request.uri().query());
    if param(&query, "service").is_some_and(|s| s != shared.service) {
        let body =
            json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]});
        return Err(super::json(StatusCode::UNAUTHORIZED, &body));
    }
    // A credential of another instance (the decoy's) buys nothing here.
    let instance = shared.instance();
    Ok(shared
        .logins
        .token_answer(request, "acr", |tied| tied == instance))
}

/// The registry behind ACR's tokens; a push needs its namespace, and a missing repository a
/// namespace that auto-creates repositories.
async fn registry(shared: &Shared, request: Request<Body>) -> Answer {
    if shared.logins.grants().cover(&request) != Some(true) {
        let realm = format!("{}/auth", shared.url);
        return Err(super::challenge(&request, &realm, &shared.service));
    }
    if let Some((repository, "pull,push")) = super::repository_scope(&request) {
        writable(shared, &repository).await?;
    }
    Ok(super::pass_through(&shared.http, &shared.upstream, request).await)
}

/// Whether a push into `repository` is taken: its namespace exists, and so does the
/// repository or the namespace auto-creates; a personal edition repository is exactly
/// `namespace/name`.
async fn writable(shared: &Shared, repository: &str) -> Result<(), Response<Body>> {
    let (namespace, name) = repository.split_once('/').unwrap_or(("", repository));
    if matches!(shared.edition, Edition::Personal) && (namespace.is_empty() || name.contains('/')) {
        let message = "invalid repository name: a repository is <namespace>/<name>";
        let body = json!({"errors": [{"code": "NAME_INVALID", "message": message}]});
        return Err(super::json(StatusCode::BAD_REQUEST, &body));
    }
    let world = shared.world(shared.instance()).await?;
    let Some(settings) = world.namespaces.get(namespace) else {
        return Err(denied(&format!("the namespace {namespace} does not exist")));
    };
    if !settings.auto_create && !world.repositories.iter().any(|r| r == repository) {
        let message = format!(
            "the repository {repository} does not exist and auto create is off for the \
             namespace {namespace}"
        );
        return Err(denied(&message));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
