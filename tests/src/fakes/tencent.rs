//! A fake Tencent Cloud Container Registry, enterprise edition (TCR): the cloud API Ferry uses
//! (API 3.0, version 2019-09-24: finding the instance, a temporary instance token, namespaces,
//! repositories, images) behind the TC3-HMAC-SHA256 signature, and the instance's registry
//! behind Harbor's token flow (TCR is Harbor-based), in front of a real distribution registry
//! whose content the API tells. Everything is on one origin: the API at `POST /`, the registry at
//! `/v2/`, its token service at `/service/token`.
//!
//! The API: https://www.tencentcloud.com/document/product/1051 (TCR's API reference; each action
//! cited below), its common parameters https://www.tencentcloud.com/document/product/1051/41101,
//! the signature https://www.tencentcloud.com/document/product/267/37447, the common error codes
//! https://tencentcloud.com/document/api/1131/45350 . Errors are HTTP 200 with `Response.Error`,
//! as the SDK (tencentcloud-sdk-go `common/http/response.go`) reads them. The registry's tokens:
//! https://distribution.github.io/distribution/spec/auth/token/ (Harbor's realm
//! `/service/token`, service `harbor-registry`).

// A refusal ends a request early with `?`: the whole answer is the error.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use ferry::adapters::registry::signing::{self, tencent as tc3, Credentials};
use serde_json::{json, Value};
use time::macros::format_description;
use time::OffsetDateTime;

use super::{Calls, Server, TemporaryLogins};

/// The API version every call names (`X-TC-Version`).
pub const VERSION: &str = "2019-09-24";
/// The instance's region.
pub const REGION: &str = "ap-guangzhou";
/// The user name of the instance tokens: the account's UIN.
pub const USERNAME: &str = "100012345678";
/// The service the registry's challenge names, Harbor's.
pub const SERVICE: &str = "harbor-registry";
/// The signature's service (`Credential=<id>/<date>/tcr/tc3_request`).
const API_SERVICE: &str = "tcr";
/// How far `X-TC-Timestamp` may be from the server's clock: five minutes.
const SKEW: i64 = 300;
/// A temporary instance token's life: one hour.
const TOKEN_LIFE: i64 = 3600;
/// `Limit`'s default and most.
const LIMIT_DEFAULT: usize = 20;
const LIMIT_MOST: usize = 100;

/// An answer, or the refusal that ended the request early.
type Answer = Result<Response<Body>, Response<Body>>;

#[derive(Default)]
struct Inner {
    /// The largest page answered (0: TCR's own).
    max_page: usize,
    /// Namespaces added or created through the API, with `IsPublic`.
    namespaces: Vec<(String, bool)>,
    namespace_ids: HashMap<String, u64>,
    deny_namespace_create: bool,
}

#[derive(Clone)]
struct Shared {
    url: String,
    /// The instance's PublicDomain: the fake's `host:port`.
    domain: String,
    upstream: String,
    http: reqwest::Client,
    key: (String, String),
    instance: String,
    registry_id: String,
    decoy_id: String,
    started: OffsetDateTime,
    calls: Calls,
    /// The instance tokens issued, and the registry tokens bought with them.
    logins: TemporaryLogins,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn with<T: Default>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.inner.lock().map(|mut i| f(&mut i)).unwrap_or_default()
    }

    /// The namespaces (name, public): the added and created ones and the first component of
    /// every repository of the registry behind; sorted.
    async fn namespaces(&self) -> Result<Vec<(String, bool)>, Response<Body>> {
        let catalog = super::catalog(&self.http, &self.upstream).await;
        let mut all: Vec<(String, bool)> = (catalog.map_err(internal)?.iter())
            .filter_map(|r| r.split_once('/').map(|(ns, _)| (ns.to_string(), false)))
            .chain(self.with(|i| i.namespaces.clone()))
            .collect();
        // The explicit ones (public or not) win over the catalog's.
        all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        all.dedup_by(|a, b| a.0 == b.0);
        Ok(all)
    }

    /// A namespace's id, stable.
    fn namespace_id(&self, name: &str) -> u64 {
        self.with(|i| {
            let next = i.namespace_ids.len() as u64 + 1;
            *i.namespace_ids.entry(name.to_string()).or_insert(next)
        })
    }

    /// The page size for `Limit` (absent or 0: `default`), capped; a `Limit` over TCR's most
    /// is refused.
    fn limit(&self, params: &Value, default: usize) -> Result<usize, Response<Body>> {
        let asked = match number(params, "Limit")? {
            None | Some(0) => default,
            Some(n) if n > LIMIT_MOST => {
                let message = format!("Limit should be at most {LIMIT_MOST}");
                return Err(error("InvalidParameterValue", &message));
            }
            Some(n) => n,
        };
        Ok(asked.min(super::page_cap(self.with(|i| i.max_page), LIMIT_MOST)))
    }

    /// The instance a call names (`RegistryId`, in the region it is made in).
    fn instance_of(&self, params: &Value, region: Option<&str>) -> Result<(), Response<Body>> {
        let id = string(params, "RegistryId")?.ok_or_else(|| missing("RegistryId"))?;
        if id != self.registry_id || region.is_some_and(|r| r != REGION) {
            let message = format!("instance {id} not found");
            return Err(error("ResourceNotFound", &message));
        }
        Ok(())
    }

    fn time(&self, format: &(impl time::formatting::Formattable + ?Sized)) -> String {
        self.started.format(format).unwrap_or_default()
    }
}

pub struct FakeTcr {
    url: String,
    shared: Shared,
    _server: Server,
}

impl FakeTcr {
    /// A TCR instance named `instance` (its RegistryName) whose API takes the key `key`
    /// (SecretId, SecretKey), in front of the registry at `upstream`. The account also has a
    /// second instance, elsewhere, that the API lists too.
    pub async fn start(upstream: &str, key: (&str, &str), instance: &str) -> FakeTcr {
        let (listener, url) = Server::bind().await;
        let id = || format!("tcr-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let shared = Shared {
            url: url.clone(),
            domain: url.trim_start_matches("http://").to_string(),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            key: (key.0.to_string(), key.1.to_string()),
            instance: instance.to_string(),
            registry_id: id(),
            decoy_id: id(),
            started: OffsetDateTime::now_utc(),
            calls: Calls::default(),
            logins: TemporaryLogins::default(),
            inner: Arc::default(),
        };
        let router = axum::Router::new().fallback(handle);
        let _server = Server::serve(listener, router.with_state(shared.clone()));
        FakeTcr {
            url,
            shared,
            _server,
        }
    }

    /// The base URL of the API, the registry and its token service alike.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The instance's RegistryId (`tcr-` and 8 lower-case letters and digits).
    pub fn registry_id(&self) -> String {
        self.shared.registry_id.clone()
    }

    /// The instance's PublicDomain: the fake's `host:port`.
    pub fn domain(&self) -> String {
        self.shared.domain.clone()
    }

    /// What the fake was asked: API calls as `POST / <Action>`, the rest as `METHOD path?query`.
    pub fn calls(&self) -> Calls {
        self.shared.calls.clone()
    }

    /// Pages hold at most `n` items, whatever the client asks: listings take several pages.
    pub fn set_max_page_size(&self, n: usize) {
        self.shared.with(|i| i.max_page = n);
    }

    /// A (private) namespace that exists even with no repository.
    pub fn add_namespace(&self, name: &str) {
        self.shared
            .with(|i| i.namespaces.push((name.to_string(), false)));
    }

    /// `CreateNamespace` is refused from now on: the key lacks the CAM permission.
    pub fn deny_namespace_create(&self) {
        self.shared.with(|i| i.deny_namespace_create = true);
    }

    /// Every instance token and every registry token issued so far stops working.
    pub fn expire_credentials(&self) {
        self.shared.logins.expire();
    }

    /// How many instance tokens `CreateInstanceToken` has issued.
    /// The namespaces created with `IsPublic: true`.
    pub fn public_namespaces(&self) -> Option<Vec<String>> {
        Some(self.shared.with(|i| {
            (i.namespaces.iter())
                .filter(|(_, public)| *public)
                .map(|(name, _)| name.clone())
                .collect()
        }))
    }

    pub fn credentials_issued(&self) -> usize {
        self.shared.logins.issued()
    }
}

/// The API's error: HTTP 200, `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`.
fn error(code: &str, message: &str) -> Response<Body> {
    let body = json!({"Response": {"Error": {"Code": code, "Message": message},
                                   "RequestId": request_id()}});
    super::json(StatusCode::OK, &body)
}

/// The API's answer: `{"Response": {...fields, "RequestId"}}`.
fn success(mut fields: Value) -> Answer {
    fields["RequestId"] = json!(request_id());
    Ok(super::json(StatusCode::OK, &json!({ "Response": fields })))
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn missing(parameter: &str) -> Response<Body> {
    let message = format!("The request is missing a required parameter `{parameter}`.");
    error("MissingParameter", &message)
}

fn invalid(parameter: &str) -> Response<Body> {
    let message = format!("The parameter `{parameter}` is not of the expected type.");
    error("InvalidParameter", &message)
}

fn internal(e: String) -> Response<Body> {
    error("InternalError", &e)
}

/// The string parameter `key`; None when absent or null.
fn string<'a>(params: &'a Value, key: &str) -> Result<Option<&'a str>, Response<Body>> {
    match &params[key] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(invalid(key)),
    }
}

/// The unsigned integer parameter `key`; None when absent or null.
fn number(params: &Value, key: &str) -> Result<Option<usize>, Response<Body>> {
    match &params[key] {
        Value::Null => Ok(None),
        value => (value.as_u64())
            .map(|n| Some(n as usize))
            .ok_or_else(|| invalid(key)),
    }
}

/// The strings of the array parameter `value`; None when absent or null.
fn strings(value: &Value, key: &str) -> Result<Option<Vec<String>>, Response<Body>> {
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => (items.iter())
            .map(|v| v.as_str().map(String::from).ok_or_else(|| invalid(key)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(invalid(key)),
    }
}

/// The `Offset` page (1-based; absent or 0 is the first) of `items`, `size` to a page.
fn page_of<T: Clone>(items: &[T], params: &Value, size: usize) -> Result<Vec<T>, Response<Body>> {
    let page = number(params, "Offset")?.unwrap_or(1).max(1);
    let skip = (page - 1).saturating_mul(size);
    Ok(items.iter().skip(skip).take(size).cloned().collect())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn handle(State(shared): State<Shared>, request: Request<Body>) -> Response<Body> {
    record(&shared.calls, &request);
    let path = request.uri().path().to_string();
    let answer = match (request.method().clone(), path.as_str()) {
        (Method::POST, "/") => api(&shared, request).await,
        (Method::GET, "/service/token") => Ok(token(&shared, &request)),
        (_, path) if path == "/v2" || path.starts_with("/v2/") => registry(&shared, request).await,
        _ => Err(super::status(StatusCode::NOT_FOUND, "404 page not found")),
    };
    answer.unwrap_or_else(|refused| refused)
}

/// An API call is recorded as `POST / <Action>` (its action is a header), the rest as they are.
fn record(calls: &Calls, request: &Request<Body>) {
    let action = header(request.headers(), "x-tc-action");
    match (
        request.method() == Method::POST && request.uri().path() == "/",
        action,
    ) {
        (true, Some(action)) => {
            if let Ok(mut calls) = calls.0.lock() {
                calls.push(format!("POST / {action}"));
            }
        }
        _ => calls.record(request),
    }
}

/// `POST /`: an API 3.0 call, signed; its action in `X-TC-Action`, its parameters the JSON body.
async fn api(shared: &Shared, request: Request<Body>) -> Answer {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await;
    let body = body.map_err(|_| error("InvalidParameter", "the body could not be read"))?;
    authenticate(shared, &parts, &body)?;
    let headers = &parts.headers;
    let version = header(headers, "x-tc-version").unwrap_or_default();
    if version != VERSION {
        let message = format!("The API version `{version}` does not exist.");
        return Err(error("NoSuchVersion", &message));
    }
    let params: Value = match body.is_empty() {
        true => json!({}),
        false => serde_json::from_slice(&body)
            .map_err(|_| error("InvalidParameter", "the body is not JSON"))?,
    };
    if !params.is_object() {
        return Err(error("InvalidParameter", "the body is not a JSON object"));
    }
    let region = header(headers, "x-tc-region");
    match header(headers, "x-tc-action").unwrap_or_default() {
        "DescribeInstances" => describe_instances(shared, &params, region),
        "CreateInstanceToken" => create_instance_token(shared, &params, region),
        "DescribeNamespaces" => describe_namespaces(shared, &params, region).await,
        "CreateNamespace" => create_namespace(shared, &params, region).await,
        "DescribeRepositories" => describe_repositories(shared, &params, region).await,
        "DescribeImages" => describe_images(shared, &params, region).await,
        other => {
            let message = format!("The action `{other}` does not exist.");
            Err(error("InvalidAction", &message))
        }
    }
}

/// An `Authorization: TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request,
/// SignedHeaders=<a;b>, Signature=<hex>` header, read.
struct Authorization {
    id: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_authorization(value: &str) -> Option<Authorization> {
    let rest = value.strip_prefix(tc3::ALGORITHM)?.trim_start();
    let fields: HashMap<&str, &str> = (rest.split(','))
        .map(|part| part.trim().split_once('='))
        .collect::<Option<_>>()?;
    let scope: Vec<&str> = fields.get("Credential")?.split('/').collect();
    let [id, _date, service, "tc3_request"] = scope.as_slice() else {
        return None;
    };
    let signed_headers = fields.get("SignedHeaders")?.split(';');
    Some(Authorization {
        id: id.to_string(),
        service: service.to_string(),
        signed_headers: signed_headers
            .map(|h| h.trim().to_ascii_lowercase())
            .collect(),
        signature: fields.get("Signature")?.to_string(),
    })
}

/// The call's signature, rebuilt from the request as received with the key's secret (the
/// headers its SignedHeaders names, with the values received), must be the one it carries;
/// the key must be known and the timestamp within five minutes of now.
fn authenticate(
    shared: &Shared,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<(), Response<Body>> {
    let headers = &parts.headers;
    let value = header(headers, "authorization").ok_or_else(|| missing("Authorization"))?;
    let authorization = parse_authorization(value).ok_or_else(|| {
        let message = "The Authorization header is not a TC3-HMAC-SHA256 authorization.";
        error("AuthFailure.InvalidAuthorization", message)
    })?;
    if authorization.id != shared.key.0 {
        let message = "The SecretId is not found, please ensure that your SecretId is correct.";
        return Err(error("AuthFailure.SecretIdNotFound", message));
    }
    let timestamp = header(headers, "x-tc-timestamp").ok_or_else(|| missing("X-TC-Timestamp"))?;
    let timestamp: i64 = timestamp.parse().map_err(|_| invalid("X-TC-Timestamp"))?;
    if (OffsetDateTime::now_utc().unix_timestamp() - timestamp).abs() > SKEW {
        let message =
            "Signature expire. Timestamp and server time cannot differ by more than five minutes.";
        return Err(error("AuthFailure.SignatureExpire", message));
    }
    let failure = || {
        let message = "The provided credentials could not be validated. Please check your signature is correct.";
        error("AuthFailure.SignatureFailure", message)
    };
    // The signer adds Host and X-TC-Action itself.
    let mut signed: Vec<(&str, &str)> = Vec::new();
    for name in &authorization.signed_headers {
        if name != "host" && name != "x-tc-action" {
            signed.push((name, header(headers, name).ok_or_else(failure)?));
        }
    }
    let query = super::query_pairs(parts.uri.query());
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
    let action = tc3::Action {
        service: API_SERVICE,
        action: header(headers, "x-tc-action").unwrap_or_default(),
        version: header(headers, "x-tc-version").unwrap_or_default(),
        region: header(headers, "x-tc-region"),
    };
    let credentials = Credentials {
        id: &shared.key.0,
        secret: &shared.key.1,
    };
    let expected = tc3::sign(&request, &action, &credentials, timestamp).map_err(|_| failure())?;
    match authorization.service == API_SERVICE && expected.signature == authorization.signature {
        true => Ok(()),
        false => Err(failure()),
    }
}

/// An instance as DescribeInstances answers it.
fn instance(shared: &Shared, id: &str, name: &str, domain: &str) -> Value {
    json!({"RegistryId": id, "RegistryName": name, "RegistryType": "premium",
           "Status": "Running", "PublicDomain": domain, "RegionName": REGION, "RegionId": 1,
           "CreatedAt": shared.time(&time::format_description::well_known::Rfc3339),
           "InternalEndpoint": "10.0.0.10", "EnableAnonymous": false, "TokenValidTime": 1})
}

/// DescribeInstances {Registryids?, Filters?, AllRegion?, Offset, Limit}
/// (https://www.tencentcloud.com/document/product/1051/50703): the account's instances, in the
/// call's region unless AllRegion; Offset is an item offset here. The account has two: the
/// fake's and another, listed first, so a client must match the one it wants. A RegistryName
/// filter matches exactly (the only filter name documented in use, by Harbor and Terraform).
fn describe_instances(shared: &Shared, params: &Value, region: Option<&str>) -> Answer {
    let decoy_name = format!("{}-decoy", shared.instance);
    let decoy_domain = format!("{decoy_name}.tencentcloudcr.com");
    let mut all = vec![
        instance(shared, &shared.decoy_id, &decoy_name, &decoy_domain),
        instance(
            shared,
            &shared.registry_id,
            &shared.instance,
            &shared.domain,
        ),
    ];
    let all_region = params["AllRegion"].as_bool().unwrap_or(false);
    if let (false, Some(region)) = (all_region, region) {
        all.retain(|i| i["RegionName"] == region);
    }
    if let Some(ids) = strings(&params["Registryids"], "Registryids")? {
        all.retain(|i| ids.iter().any(|id| i["RegistryId"] == id.as_str()));
    }
    let filters = match &params["Filters"] {
        Value::Null => Vec::new(),
        Value::Array(filters) => filters.clone(),
        _ => return Err(invalid("Filters")),
    };
    for filter in filters {
        if filter["Name"] != "RegistryName" {
            let message = format!("unsupported filter name {}", filter["Name"]);
            return Err(error("InvalidParameterValue", &message));
        }
        let values = strings(&filter["Values"], "Filters.Values")?.unwrap_or_default();
        all.retain(|i| values.iter().any(|v| i["RegistryName"] == v.as_str()));
    }
    let limit = shared.limit(params, LIMIT_DEFAULT)?;
    let offset = number(params, "Offset")?.unwrap_or(0);
    let shown: Vec<&Value> = all.iter().skip(offset).take(limit).collect();
    success(json!({"Registries": shown, "TotalCount": all.len()}))
}

/// CreateInstanceToken {RegistryId, TokenType?} (https://www.tencentcloud.com/document/product/1051/45154):
/// a temporary login to the instance's registry, an hour long; ExpTime in milliseconds.
fn create_instance_token(shared: &Shared, params: &Value, region: Option<&str>) -> Answer {
    shared.instance_of(params, region)?;
    let token_type = string(params, "TokenType")?.unwrap_or("temp");
    if token_type != "temp" && token_type != "longterm" {
        let message = format!("TokenType {token_type} is neither temp nor longterm");
        return Err(error("InvalidParameterValue", &message));
    }
    let token = super::new_token("tcr");
    let expires = OffsetDateTime::now_utc().unix_timestamp() + TOKEN_LIFE;
    shared.logins.issue(USERNAME, &token, expires, "");
    success(
        json!({"Username": USERNAME, "Token": token, "ExpTime": expires * 1000,
                   "TokenId": ""}),
    )
}

/// DescribeNamespaces {RegistryId, NamespaceName?, Limit, Offset}
/// (https://tencentcloud.com/document/product/1051/50693): the instance's namespaces, sorted;
/// Offset is a page number. NamespaceName matches fuzzily (a part of the name), so a client
/// checks the names it gets.
async fn describe_namespaces(shared: &Shared, params: &Value, region: Option<&str>) -> Answer {
    shared.instance_of(params, region)?;
    let fuzzy = string(params, "NamespaceName")?
        .unwrap_or_default()
        .to_string();
    let mut all = shared.namespaces().await?;
    all.retain(|(name, _)| name.contains(&fuzzy));
    let size = shared.limit(params, LIMIT_DEFAULT)?;
    let created = shared.time(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]+00:00"
    ));
    let list: Vec<Value> = (page_of(&all, params, size)?.iter())
        .map(|(name, public)| {
            json!({"Name": name, "CreationTime": created, "Public": public,
                   "NamespaceId": shared.namespace_id(name), "Metadata": []})
        })
        .collect();
    success(json!({"NamespaceList": list, "TotalCount": all.len()}))
}

/// Whether `name` is a namespace name TCR takes: 2 to 30 lower-case letters, digits and
/// separators (`.`, `_`, `-`), no separator first, last or next to another.
fn namespace_name_valid(name: &str) -> bool {
    let separator = |c: char| matches!(c, '.' | '_' | '-');
    (2..=30).contains(&name.len())
        && (name.chars()).all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || separator(c))
        && !name.starts_with(separator)
        && !name.ends_with(separator)
        && !(name.as_bytes().windows(2)).any(|w| separator(w[0] as char) && separator(w[1] as char))
}

/// CreateNamespace {RegistryId, NamespaceName, IsPublic} (https://www.tencentcloud.com/document/api/1051/50698):
/// IsPublic is required; a name taken is a resource conflict; a key without the permission is
/// refused.
async fn create_namespace(shared: &Shared, params: &Value, region: Option<&str>) -> Answer {
    shared.instance_of(params, region)?;
    let name = string(params, "NamespaceName")?.ok_or_else(|| missing("NamespaceName"))?;
    let public = match &params["IsPublic"] {
        Value::Null => return Err(missing("IsPublic")),
        Value::Bool(public) => *public,
        _ => return Err(invalid("IsPublic")),
    };
    if shared.with(|i| i.deny_namespace_create) {
        let message = "The key is not authorized to perform tcr:CreateNamespace.";
        return Err(error("UnauthorizedOperation", message));
    }
    if !namespace_name_valid(name) {
        let message = format!("NamespaceName {name} is not a valid namespace name");
        return Err(error("InvalidParameterValue", &message));
    }
    if shared.namespaces().await?.iter().any(|(n, _)| n == name) {
        let message = format!("namespace {name} already exists");
        return Err(error("FailedOperation.ErrorTcrResourceConflict", &message));
    }
    shared.with(|i| i.namespaces.push((name.to_string(), public)));
    success(json!({}))
}

/// DescribeRepositories {RegistryId, NamespaceName?, RepositoryName?, Offset, Limit}
/// (https://www.tencentcloud.com/document/api/1051/50720): the repositories of the registry
/// behind, sorted, Name the full path `<namespace>/<repository>`; Offset is a page number.
/// NamespaceName matches exactly, RepositoryName fuzzily (a part of the name without its
/// namespace), so a client checks the names it gets.
async fn describe_repositories(shared: &Shared, params: &Value, region: Option<&str>) -> Answer {
    shared.instance_of(params, region)?;
    let namespace = string(params, "NamespaceName")?.filter(|n| !n.is_empty());
    let fuzzy = string(params, "RepositoryName")?.unwrap_or_default();
    let catalog = super::catalog(&shared.http, &shared.upstream).await;
    let mut all: Vec<(String, String)> = (catalog.map_err(internal)?.iter())
        .filter_map(|r| r.split_once('/'))
        .filter(|(ns, name)| namespace.is_none_or(|n| n == *ns) && name.contains(fuzzy))
        .map(|(ns, name)| (ns.to_string(), name.to_string()))
        .collect();
    all.sort();
    let size = shared.limit(params, LIMIT_DEFAULT)?;
    let when = shared.time(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6] +0000 UTC"
    ));
    let list: Vec<Value> = (page_of(&all, params, size)?.iter())
        .map(|(ns, name)| {
            json!({"Name": format!("{ns}/{name}"), "Namespace": ns, "CreationTime": when,
                   "UpdateTime": when, "Public": false, "Description": "",
                   "BriefDescription": ""})
        })
        .collect();
    success(json!({"RepositoryList": list, "TotalCount": all.len()}))
}

/// Harbor's size of an artifact: its manifest's, and that of all it references.
fn size_of(manifest: &super::Manifest) -> u64 {
    let parsed: Value = serde_json::from_slice(&manifest.bytes).unwrap_or_default();
    let referenced: u64 = ["layers", "manifests"]
        .iter()
        .flat_map(|f| parsed[f].as_array().into_iter().flatten())
        .chain(std::iter::once(&parsed["config"]))
        .filter_map(|d| d["size"].as_u64())
        .sum();
    manifest.bytes.len() as u64 + referenced
}

/// DescribeImages {RegistryId, NamespaceName, RepositoryName, Offset, Limit, ImageVersion?,
/// ExactMatch?, Digest?} (https://tencentcloud.com/document/product/1051/50721): a repository's
/// tags, sorted, each with its manifest's digest, size and media type (`Kind`); RepositoryName
/// is the name without the namespace; Offset is a page number. ImageVersion matches fuzzily
/// unless ExactMatch. A repository that does not exist is a ResourceNotFound.
async fn describe_images(shared: &Shared, params: &Value, region: Option<&str>) -> Answer {
    shared.instance_of(params, region)?;
    let namespace = string(params, "NamespaceName")?.ok_or_else(|| missing("NamespaceName"))?;
    let name = string(params, "RepositoryName")?.ok_or_else(|| missing("RepositoryName"))?;
    let version = string(params, "ImageVersion")?.unwrap_or_default();
    let exact = params["ExactMatch"].as_bool().unwrap_or(false);
    let digest = string(params, "Digest")?.filter(|d| !d.is_empty());
    let repository = format!("{namespace}/{name}");
    let tagged = super::tagged(&shared.http, &shared.upstream, &repository, Method::GET).await;
    let Some(mut tagged) = tagged.map_err(internal)? else {
        let message = format!("repository {repository} not found");
        return Err(error("ResourceNotFound", &message));
    };
    tagged.retain(|(tag, manifest)| {
        let matched = match exact {
            true => version.is_empty() || tag == version,
            false => tag.contains(version),
        };
        matched && digest.is_none_or(|d| d == manifest.digest)
    });
    let size = shared.limit(params, LIMIT_DEFAULT)?;
    let updated = shared.time(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    ));
    let all: Vec<&(String, super::Manifest)> = tagged.iter().collect();
    let list: Vec<Value> = (page_of(&all, params, size)?.iter())
        .map(|(tag, manifest)| {
            json!({"Digest": manifest.digest, "ImageVersion": tag, "Size": size_of(manifest),
                   "UpdateTime": updated, "Kind": format!("Artifact::{}", manifest.media_type)})
        })
        .collect();
    success(json!({"ImageInfoList": list, "TotalCount": tagged.len()}))
}

/// `GET /service/token?service=harbor-registry&scope=...` with Basic `Username:Token` of an
/// instance token issued and unexpired: a registry token for the scopes asked.
fn token(shared: &Shared, request: &Request<Body>) -> Response<Body> {
    shared.logins.token_answer(request, "tcr", |_| true)
}

/// The registry behind Harbor's tokens. A repository is made by its first push, but only in a
/// namespace (Harbor's project) that exists: a write elsewhere is denied, as Harbor denies it.
async fn registry(shared: &Shared, request: Request<Body>) -> Answer {
    if shared.logins.grants().cover(&request) != Some(true) {
        let realm = format!("{}/service/token", shared.url);
        return Err(super::challenge(&request, &realm, SERVICE));
    }
    if let Some((repository, "pull,push")) = super::repository_scope(&request) {
        let namespace = (repository.split_once('/')).map_or(repository.as_str(), |(ns, _)| ns);
        if !shared
            .namespaces()
            .await?
            .iter()
            .any(|(n, _)| n == namespace)
        {
            let message = format!(
                "requested access to the resource is denied: project {namespace} not found"
            );
            let body = json!({"errors": [{"code": "DENIED", "message": message}]});
            return Err(super::json(StatusCode::FORBIDDEN, &body));
        }
    }
    Ok(super::pass_through(&shared.http, &shared.upstream, request).await)
}

#[cfg(test)]
mod tests;
