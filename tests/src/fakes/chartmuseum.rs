//! A fake ChartMuseum (https://github.com/helm/chartmuseum), the Helm chart repository server
//! with an upload API: its repository routes (`index.yaml`, `charts/<file>`) and its API
//! (`/api/charts...`, `/api/prov`), at depth 0 (one repository, no multitenancy), behind Basic
//! auth when configured. Charts are kept in memory, as files are in ChartMuseum's storage:
//! `<name>-<version>.tgz` with what its Chart.yaml says, `<name>-<version>.tgz.prov`.
//!
//! The API: https://github.com/helm/chartmuseum#api ; the behaviour below is ChartMuseum's
//! source at v0.16.5+ (`helm/chartmuseum@09d63b8`), cited per endpoint by path:
//! `pkg/chartmuseum/server/multitenant/{routes,handlers,api,storage,index}.go`,
//! `pkg/chartmuseum/router/{router,match}.go`, `pkg/repo/{chart,index,provenance}.go`. Unlike
//! ChartMuseum, whose index is refreshed asynchronously after a write, the fake's index and
//! API always tell what is stored.

// A refusal ends a request early with `?`: the whole answer is the error.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, Response, StatusCode};
use base64::Engine as _;
use futures::StreamExt as _;
use serde_json::{json, Map, Value};

use super::{param, percent_decode, query_of, Calls, Server};
use crate::charts::{self, IndexEntry};

/// `--max-upload-size`'s default: 20 MiB (`pkg/config/vars.go`).
const MAX_UPLOAD_SIZE: usize = 20 << 20;
/// What a body is read to at most, the rest drained: a refused upload still gets its 413.
const DRAIN_LIMIT: usize = 256 << 20;
/// The version `GET /info` tells.
const VERSION: &str = "v0.16.5";
/// The form fields of a multipart upload (`--chart-post-form-field-name`,
/// `--prov-post-form-field-name` defaults).
const CHART_FIELD: &str = "chart";
const PROV_FIELD: &str = "prov";

/// An answer, or the refusal that ended the request early.
type Answer = Result<Response<Body>, Response<Body>>;

/// A file of the storage.
struct Object {
    bytes: Vec<u8>,
    /// Its LastModified (RFC 3339): a chart's `created`.
    created: String,
    /// A package's Chart.yaml as Helm loads it; None for a provenance file.
    metadata: Option<Map<String, Value>>,
}

#[derive(Default)]
struct Inner {
    /// The storage: file name -> file.
    objects: BTreeMap<String, Object>,
    /// Accepted `POST /api/charts`.
    uploads: usize,
    api_disabled: bool,
    /// The largest body accepted (0: ChartMuseum's default).
    max_upload: usize,
}

#[derive(Clone)]
struct Shared {
    /// The `Authorization` header every route but `/health` and `/info` needs, when set.
    authorization: Option<String>,
    calls: Calls,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn with<T: Default>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        self.inner.lock().map(|mut i| f(&mut i)).unwrap_or_default()
    }

    /// The stored packages as index entries (`pkg/repo/chart.go` `ChartVersionFromStorageObject`:
    /// `urls: [charts/<file>]`, the hex digest, `created` the file's LastModified).
    fn entries(&self) -> Vec<IndexEntry> {
        self.with(|i| {
            (i.objects.iter())
                .filter_map(|(file, object)| {
                    Some(IndexEntry {
                        metadata: object.metadata.clone()?,
                        urls: vec![format!("charts/{file}")],
                        created: object.created.clone(),
                        digest: Some(charts::sha256_hex(&object.bytes)),
                    })
                })
                .collect()
        })
    }

    /// The index's entries: chart name -> versions (JSON), newest first.
    fn index_entries(&self) -> BTreeMap<String, Vec<Value>> {
        charts::index_entries(&self.entries())
    }

    fn exists(&self, file: &str) -> bool {
        self.with(|i| i.objects.contains_key(file))
    }

    fn store(&self, file: String, bytes: Vec<u8>, metadata: Option<Map<String, Value>>) {
        let created = charts::now_rfc3339_nano();
        let object = Object {
            bytes,
            created,
            metadata,
        };
        self.with(|i| i.objects.insert(file, object));
    }
}

pub struct FakeChartMuseum {
    url: String,
    shared: Shared,
    _server: Server,
}

impl FakeChartMuseum {
    /// A ChartMuseum with no charts; with `basic` (user, password), every route but `/health`
    /// and `/info` needs that Basic credential (`--basic-auth-user`, `--basic-auth-pass`).
    pub async fn start(basic: Option<(&str, &str)>) -> Self {
        let (listener, url) = Server::bind().await;
        let authorization = basic.map(|(user, password)| {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {encoded}")
        });
        let shared = Shared {
            authorization,
            calls: Calls::default(),
            inner: Arc::default(),
        };
        let router = axum::Router::new().fallback(handle);
        let _server = Server::serve(listener, router.with_state(shared.clone()));
        Self {
            url,
            shared,
            _server,
        }
    }

    /// The repository's URL (Helm's repo URL) and the API's base alike.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn calls(&self) -> Calls {
        self.shared.calls.clone()
    }

    /// `chart` stored as an upload would store it (not counted in [`Self::uploads`]).
    pub fn add(&self, chart: &charts::Chart) {
        let package = chart.package();
        let metadata = charts::chart_metadata(&chart.chart_yaml()).expect("a test chart is valid");
        self.shared
            .store(chart.file_name(), package, Some(metadata));
    }

    /// A provenance file stored for `name` `version` (its content as given).
    pub fn add_provenance(&self, name: &str, version: &str, provenance: &[u8]) {
        let file = format!("{name}-{version}.tgz.prov");
        self.shared.store(file, provenance.to_vec(), None);
    }

    /// The stored package `<name>-<version>.tgz`.
    pub fn package(&self, name: &str, version: &str) -> Option<Vec<u8>> {
        self.object(&format!("{name}-{version}.tgz"))
    }

    /// The stored provenance file `<name>-<version>.tgz.prov`.
    pub fn provenance(&self, name: &str, version: &str) -> Option<Vec<u8>> {
        self.object(&format!("{name}-{version}.tgz.prov"))
    }

    /// The versions of the chart `name` the index lists, newest first.
    pub fn versions(&self, name: &str) -> Vec<String> {
        let entries = self.shared.index_entries();
        let versions = entries.get(name).into_iter().flatten();
        versions
            .filter_map(|v| v["version"].as_str().map(String::from))
            .collect()
    }

    /// How many `POST /api/charts` were accepted (201), overwrites included.
    pub fn uploads(&self) -> usize {
        self.shared.with(|i| i.uploads)
    }

    /// Every `/api` route answers 404 from now on, as with `--disable-api`: a repository that
    /// only serves `index.yaml` and the charts.
    pub fn disable_api(&self) {
        self.shared.with(|i| i.api_disabled = true);
    }

    /// Bodies over `bytes` are refused with 413 (`--max-upload-size`; 20 MiB by default).
    pub fn set_max_upload_size(&self, bytes: usize) {
        self.shared.with(|i| i.max_upload = bytes);
    }

    fn object(&self, file: &str) -> Option<Vec<u8>> {
        self.shared
            .with(|i| i.objects.get(file).map(|o| o.bytes.clone()))
    }
}

/// A route of ChartMuseum at depth 0 (`multitenant/routes.go`).
enum Route {
    Health,
    Info,
    Index,
    IndexHead,
    /// `GET /charts/:filename`.
    File(String),
    AllCharts,
    Chart {
        name: String,
        head: bool,
    },
    Version {
        name: String,
        version: String,
        head: bool,
    },
    Upload,
    UploadProvenance,
    Delete {
        name: String,
        version: String,
    },
}

impl Route {
    /// Whether the route needs the credential: all but `/health` and `/info`, whose routes have
    /// no auth action (`routes.go`, `router.go` `masterHandler`).
    fn needs_auth(&self) -> bool {
        !matches!(self, Route::Health | Route::Info)
    }
}

/// ChartMuseum's error body: `{"error": message}` (gin.H).
fn error(status: StatusCode, message: &str) -> Response<Body> {
    super::json(status, &json!({"error": message}))
}

/// An answer with `content_type` and `bytes`.
fn data(content_type: &'static str, bytes: Vec<u8>) -> Response<Body> {
    let mut answer = Response::new(Body::from(bytes));
    answer.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    answer
}

async fn handle(State(shared): State<Shared>, request: Request<Body>) -> Response<Body> {
    shared.calls.record(&request);
    let api_disabled = shared.with(|i| i.api_disabled);
    // `router.go` `masterHandler`: the route first (none: 404), then the credential.
    let Some(route) = route(request.method(), request.uri().path(), !api_disabled) else {
        return error(StatusCode::NOT_FOUND, "not found");
    };
    if route.needs_auth() && !authorized(&shared, &request) {
        let refused = error(StatusCode::UNAUTHORIZED, "unauthorized");
        return super::with_header(refused, "www-authenticate", "Basic realm=\"ChartMuseum\"");
    }
    answer(&shared, route, request)
        .await
        .unwrap_or_else(|refused| refused)
}

/// Whether the request carries the configured credential: the `Authorization` header compared
/// as a whole to `Basic base64(user:pass)` (`chartmuseum/auth` `authorization.go`).
fn authorized(shared: &Shared, request: &Request<Body>) -> bool {
    let Some(expected) = &shared.authorization else {
        return true;
    };
    let header = request.headers().get(http::header::AUTHORIZATION);
    header.and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

/// The route a request names (`router/match.go` at depth 0): a path under `/api/` that ends in
/// `.yaml`, `.tgz` or `.prov` is a repository route, not an API one (`checkApiRoute`); methods
/// match exactly (no HEAD for `/charts/:filename`); API routes only while the API is enabled.
fn route(method: &Method, path: &str, api: bool) -> Option<Route> {
    let path = percent_decode(path)?;
    let repository_file = [".yaml", ".tgz", ".prov"].iter().any(|s| path.ends_with(s));
    if let Some(rest) = path.strip_prefix("/api/").filter(|_| !repository_file) {
        return api.then(|| api_route(method, rest)).flatten();
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["health"]) => Some(Route::Health),
        ("GET", ["info"]) => Some(Route::Info),
        ("GET", ["index.yaml"]) => Some(Route::Index),
        ("HEAD", ["index.yaml"]) => Some(Route::IndexHead),
        ("GET", ["charts", file]) => Some(Route::File(file.to_string())),
        _ => None,
    }
}

/// An API route (`routes.go` `chartManipulationRoutes`, and DELETE unless `--disable-delete`).
fn api_route(method: &Method, rest: &str) -> Option<Route> {
    let segments: Vec<&str> = rest.split('/').collect();
    let (name, version) = (segments.get(1), segments.get(2));
    let name = || name.map(|n| n.to_string()).unwrap_or_default();
    let version = || version.map(|v| v.to_string()).unwrap_or_default();
    let head = method == Method::HEAD;
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["charts"]) => Some(Route::AllCharts),
        ("GET" | "HEAD", ["charts", _]) => Some(Route::Chart { name: name(), head }),
        ("GET" | "HEAD", ["charts", _, _]) => Some(Route::Version {
            name: name(),
            version: version(),
            head,
        }),
        ("POST", ["charts"]) => Some(Route::Upload),
        ("POST", ["prov"]) => Some(Route::UploadProvenance),
        ("DELETE", ["charts", _, _]) => Some(Route::Delete {
            name: name(),
            version: version(),
        }),
        _ => None,
    }
}

async fn answer(shared: &Shared, route: Route, request: Request<Body>) -> Answer {
    let query = query_of(&request);
    let force = query.iter().any(|(k, _)| k == "force");
    match route {
        // GET /health (`handlers.go` `getHealthCheckHandler`).
        Route::Health => Ok(super::json(StatusCode::OK, &json!({"healthy": true}))),
        // GET /info (`getInfoHandler`).
        Route::Info => Ok(super::json(StatusCode::OK, &json!({"version": VERSION}))),
        Route::Index => Ok(index(shared)),
        // HEAD /index.yaml (`headIndexFileRequestHandler`): 200, nothing checked.
        Route::IndexHead => Ok(super::status(StatusCode::OK, "")),
        Route::File(file) => file_of(shared, &file),
        Route::AllCharts => all_charts(shared, &query),
        Route::Chart { name, head } => chart(shared, &name, head),
        Route::Version {
            name,
            version,
            head,
        } => chart_version(shared, &name, &version, head),
        Route::Upload => upload(shared, request, force).await,
        Route::UploadProvenance => upload_provenance(shared, request, force).await,
        Route::Delete { name, version } => delete(shared, &name, &version),
    }
}

/// GET /index.yaml (`getIndexFileRequestHandler`, `pkg/repo/index.go` `Regenerate`): the
/// index as ChartMuseum writes it (Helm's, plus `serverInfo: {}`; `generated` to the second),
/// `application/x-yaml`.
fn index(shared: &Shared) -> Response<Body> {
    let yaml = charts::index_yaml(&shared.entries(), &super::now_rfc3339(), true);
    data("application/x-yaml", yaml.into_bytes())
}

/// GET /charts/:filename (`getStorageObjectRequestHandler`, `storage.go` `getStorageObject`):
/// a `…tgz` as `application/x-tar`, a `…tgz.prov` as `application/pgp-signature`; another
/// extension 500, a missing file 404.
fn file_of(shared: &Shared, file: &str) -> Answer {
    let content_type = if file.ends_with("tgz.prov") {
        "application/pgp-signature"
    } else if file.ends_with("tgz") {
        "application/x-tar"
    } else {
        let message = "unsupported file extension";
        return Err(error(StatusCode::INTERNAL_SERVER_ERROR, message));
    };
    let bytes = shared.with(|i| i.objects.get(file).map(|o| o.bytes.clone()));
    let bytes = bytes.ok_or_else(|| error(StatusCode::NOT_FOUND, "object not found"))?;
    Ok(data(content_type, bytes))
}

/// GET /api/charts[?offset=N&limit=M] (`getAllChartsRequestHandler`, `api.go` `getAllCharts`):
/// name -> versions; with `offset` or `limit`, only the names `offset..offset+limit` of the
/// sorted names (a missing limit counts as -1, so `?offset=1` alone answers `{}`, as
/// ChartMuseum does).
fn all_charts(shared: &Shared, query: &[(String, String)]) -> Answer {
    let number = |key: &str| param(query, key).map(|v| v.parse::<i64>());
    let offset = match number("offset") {
        None => 0,
        Some(Ok(offset)) if offset >= 0 => offset,
        Some(_) => {
            let message = "offset is not a valid non-negative integer";
            return Err(error(StatusCode::BAD_REQUEST, message));
        }
    };
    let limit = match number("limit") {
        None => -1,
        Some(Ok(limit)) if limit > 0 => limit,
        Some(_) => {
            let message = "limit is not a valid positive integer";
            return Err(error(StatusCode::BAD_REQUEST, message));
        }
    };
    let entries = shared.index_entries();
    let shown: BTreeMap<String, Vec<Value>> = if offset == 0 && limit == -1 {
        entries
    } else {
        let end = offset.saturating_add(limit).min(entries.len() as i64);
        let range =
            usize::try_from(offset).unwrap_or(usize::MAX)..usize::try_from(end).unwrap_or(0);
        let chosen = entries
            .into_iter()
            .enumerate()
            .filter(|(i, _)| range.contains(i));
        chosen.map(|(_, entry)| entry).collect()
    };
    Ok(super::json(StatusCode::OK, &json!(shown)))
}

/// GET and HEAD /api/charts/:name (`getChartRequestHandler`, `headChartRequestHandler`,
/// `api.go` `getChart`): the chart's versions, newest first; 404 `chart not found`.
fn chart(shared: &Shared, name: &str, head: bool) -> Answer {
    let versions = shared.index_entries().remove(name);
    let versions = versions.ok_or_else(|| error(StatusCode::NOT_FOUND, "chart not found"))?;
    Ok(match head {
        true => super::status(StatusCode::OK, ""),
        false => super::json(StatusCode::OK, &json!(versions)),
    })
}

/// GET and HEAD /api/charts/:name/:version (`getChartVersionRequestHandler`, `api.go`
/// `getChartVersion`): Helm's `IndexFile.Get(name, version)`, `latest` meaning any version.
/// Not exact: an equal version first, else `version` taken as a semver constraint and the
/// newest version it allows answered.
fn chart_version(shared: &Shared, name: &str, version: &str, head: bool) -> Answer {
    let version = if version == "latest" { "" } else { version };
    let versions = shared.index_entries().remove(name);
    let versions = versions.ok_or_else(|| error(StatusCode::NOT_FOUND, "no chart name found"))?;
    let text = |v: &Value| v["version"].as_str().unwrap_or_default().to_string();
    let exact = versions
        .iter()
        .find(|v| !version.is_empty() && text(v) == version);
    let found = exact.or_else(|| versions.iter().find(|v| allows(version, &text(v))));
    let Some(found) = found else {
        let message = format!("no chart version found for {name}-{version}");
        return Err(error(StatusCode::NOT_FOUND, &message));
    };
    Ok(match head {
        true => super::status(StatusCode::OK, ""),
        false => super::json(StatusCode::OK, found),
    })
}

/// Whether the constraint `constraint` allows `version`, for the constraints written as a
/// (partial) version (`Masterminds/semver` `=`): empty, `*` or `x` allows every version;
/// `1` allows `1.x.x`, `1.2` allows `1.2.x`, `1.2.3` only itself; a `x`/`*` part ends the
/// fixed ones; a prerelease is only allowed by a constraint with one. Operators (`~`, `^`,
/// `>=`, ranges) are not understood: they allow nothing.
fn allows(constraint: &str, version: &str) -> bool {
    let Some(version) = charts::parse_version(version) else {
        return false;
    };
    let constraint = constraint.trim().trim_start_matches('=').trim();
    let constraint = constraint.strip_prefix('v').unwrap_or(constraint);
    let constraint = constraint.split_once('+').map_or(constraint, |(c, _)| c);
    let (core, prerelease) = match constraint.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (constraint, None),
    };
    if prerelease.is_none() && !version.prerelease.is_empty() {
        return false;
    }
    let mut fixed = Vec::new();
    for part in core.split('.').filter(|p| !p.is_empty()) {
        match part {
            "x" | "X" | "*" => break,
            number => match number.parse::<u64>() {
                Ok(n) if fixed.len() < 3 => fixed.push(n),
                _ => return false,
            },
        }
    }
    let numbers_match = version.numbers.iter().zip(&fixed).all(|(v, c)| v == c);
    match prerelease {
        Some(pre) => fixed.len() == 3 && numbers_match && version.prerelease.join(".") == pre,
        None => numbers_match,
    }
}

/// The request's body, whole; Err with ChartMuseum's 413 (`gin-contrib/size`: plain
/// `request too large`, `Connection: close`) when it is longer than the upload limit. The
/// rest of a long body is drained first, so that the client reads the answer.
async fn body_of(shared: &Shared, request: Request<Body>) -> Result<Vec<u8>, Response<Body>> {
    let limit = match shared.with(|i| i.max_upload) {
        0 => MAX_UPLOAD_SIZE,
        n => n,
    };
    let mut stream = request.into_body().into_data_stream();
    let (mut bytes, mut seen) = (Vec::new(), 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?;
        seen = seen.saturating_add(chunk.len());
        if seen <= limit {
            bytes.extend_from_slice(&chunk);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > limit {
        let refused = super::status(StatusCode::PAYLOAD_TOO_LARGE, "request too large");
        return Err(super::with_header(refused, "connection", "close"));
    }
    Ok(bytes)
}

/// A package's file name and metadata (`pkg/repo/chart.go` `ChartPackageFilenameFromContent`:
/// Helm's loader on the whole package): `<meta.name>-<meta.version>.tgz`; Err with the
/// loader's words.
fn package_file(package: &[u8]) -> Result<(String, Map<String, Value>), String> {
    let metadata = charts::chart_metadata(&charts::chart_yaml_of(package)?)?;
    let text = |key: &str| {
        metadata
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok((
        format!("{}-{}.tgz", text("name"), text("version")),
        metadata,
    ))
}

/// A provenance file's file name (`pkg/repo/provenance.go` `ProvenanceFilenameFromContent`):
/// it must start with `-----BEGIN PGP SIGNED MESSAGE-----`; name and version are the first
/// `\nname:[ *](.+)` and `\nversion:[ *](.+)`; `<name>-<version>.tgz.prov`.
fn provenance_file(provenance: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(provenance);
    if !text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
        return None;
    }
    let field = |key: &str| {
        let start = text.find(&format!("\n{key}:"))? + key.len() + 2;
        let rest = text[start..].strip_prefix([' ', '*'])?;
        let value = rest.split('\n').next().unwrap_or_default();
        (!value.is_empty()).then(|| value.to_string())
    };
    Some(format!("{}-{}.tgz.prov", field("name")?, field("version")?))
}

/// POST /api/charts (`handlers.go` `postRequestHandler`): a `multipart/form-data` body takes
/// the form route, anything else is the package itself.
async fn upload(shared: &Shared, request: Request<Body>, force: bool) -> Answer {
    let content_type = (request.headers().get(http::header::CONTENT_TYPE))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let media_type = content_type.split([';', ' ']).next().unwrap_or_default();
    let body = body_of(shared, request).await?;
    let answer = match media_type == "multipart/form-data" {
        true => upload_form(shared, &content_type, &body, force)?,
        false => upload_package(shared, body, force)?,
    };
    shared.with(|i| i.uploads += 1);
    Ok(answer)
}

/// The raw upload (`postPackageRequestHandler`, `api.go` `uploadChartPackage`): 400 for an
/// invalid chart, 409 `file already exists` when `<name>-<version>.tgz` is stored and the
/// query has no `force` (its presence is enough, whatever its value), else stored: 201.
fn upload_package(shared: &Shared, package: Vec<u8>, force: bool) -> Answer {
    let (file, metadata) =
        package_file(&package).map_err(|e| error(StatusCode::BAD_REQUEST, &e))?;
    single_segment(&file)?;
    if shared.exists(&file) && !force {
        return Err(error(StatusCode::CONFLICT, "file already exists"));
    }
    shared.store(file, package, Some(metadata));
    Ok(super::json(StatusCode::CREATED, &json!({"saved": true})))
}

/// 400 `<file> is improperly formatted` for a file name that is not one path segment (a
/// provenance file's name and version are any text): it would break out of the repository.
fn single_segment(file: &str) -> Result<(), Response<Body>> {
    match file.contains('/') {
        true => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("{file} is improperly formatted"),
        )),
        false => Ok(()),
    }
}

/// A file to store from a form.
struct FormFile {
    file: String,
    bytes: Vec<u8>,
    metadata: Option<Map<String, Value>>,
}

/// The form upload (`postPackageAndProvenanceRequestHandler`, `getChartAndProvFiles`): the
/// file parts `chart` and `prov` (parts without a file name are no files: Go's `FormFile`);
/// 400 for an invalid one or for none, 409 `chart already exists` when either is stored and
/// the query has no `force`, else both stored: 201.
fn upload_form(shared: &Shared, content_type: &str, body: &[u8], force: bool) -> Answer {
    let parts = boundary_of(content_type)
        .map(|b| form_files(body, &b))
        .unwrap_or_default();
    let part = |field: &str| parts.iter().find(|(name, _)| name == field).map(|(_, b)| b);
    let mut files: Vec<FormFile> = Vec::new();
    if let Some(package) = part(CHART_FIELD) {
        let (file, metadata) =
            package_file(package).map_err(|e| error(StatusCode::BAD_REQUEST, &e))?;
        files.push(FormFile {
            file,
            bytes: package.clone(),
            metadata: Some(metadata),
        });
    }
    if let Some(provenance) = part(PROV_FIELD) {
        let invalid = || error(StatusCode::BAD_REQUEST, "invalid provenance file");
        let file = provenance_file(provenance).ok_or_else(invalid)?;
        files.push(FormFile {
            file,
            bytes: provenance.clone(),
            metadata: None,
        });
    }
    if files.is_empty() {
        let message = format!(
            "no package or provenance file found in form fields {CHART_FIELD} and {PROV_FIELD}"
        );
        return Err(error(StatusCode::BAD_REQUEST, &message));
    }
    for file in &files {
        single_segment(&file.file)?;
    }
    if files.iter().any(|f| shared.exists(&f.file)) && !force {
        return Err(error(StatusCode::CONFLICT, "chart already exists"));
    }
    for file in files {
        shared.store(file.file, file.bytes, file.metadata);
    }
    Ok(super::json(StatusCode::CREATED, &json!({"saved": true})))
}

/// The `boundary` parameter of a `multipart/form-data` content type (possibly quoted).
fn boundary_of(content_type: &str) -> Option<String> {
    let parameters = content_type.split(';').skip(1).map(str::trim);
    let boundary = parameters
        .filter_map(|p| p.split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("boundary"))?
        .1;
    Some(boundary.trim().trim_matches('"').to_string()).filter(|b| !b.is_empty())
}

/// The file parts of a multipart body (RFC 7578): (field name, content) of each part whose
/// `Content-Disposition` has a `filename`; nothing when the body is no such form.
fn form_files(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("--{boundary}").into_bytes();
    let Some(first) = find(body, &delimiter, 0) else {
        return Vec::new();
    };
    let separator = [b"\r\n".as_slice(), &delimiter].concat();
    let mut files = Vec::new();
    let mut at = first + delimiter.len();
    while body.get(at..at + 2) == Some(b"\r\n") {
        let start = at + 2;
        let Some(end) = find(body, &separator, start) else {
            break;
        };
        files.extend(form_file(&body[start..end]));
        at = end + separator.len();
    }
    files
}

/// One part (headers, blank line, content): its field name and content when it is a file.
fn form_file(part: &[u8]) -> Option<(String, Vec<u8>)> {
    let split = find(part, b"\r\n\r\n", 0)?;
    let headers = String::from_utf8_lossy(&part[..split]);
    let disposition = headers
        .split("\r\n")
        .find_map(|h| {
            h.split_once(':')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
        })?
        .1;
    let parameter = |key: &str| {
        disposition.split(';').map(str::trim).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case(key)
                .then(|| v.trim().trim_matches('"').to_string())
        })
    };
    let name = parameter("name")?;
    parameter("filename").filter(|f| !f.is_empty())?;
    Some((name, part[split + 4..].to_vec()))
}

/// Where `needle` first occurs in `haystack` at or after `from`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let window = haystack.get(from..)?;
    window
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// POST /api/prov (`postProvenanceFileRequestHandler`, `api.go` `uploadProvenanceFile`): the
/// raw provenance file; 500 `invalid provenance file` when it is none (500, not 400), 409
/// `file already exists` without `force`, else stored: 201.
async fn upload_provenance(shared: &Shared, request: Request<Body>, force: bool) -> Answer {
    let provenance = body_of(shared, request).await?;
    let invalid = || error(StatusCode::INTERNAL_SERVER_ERROR, "invalid provenance file");
    let file = provenance_file(&provenance).ok_or_else(invalid)?;
    single_segment(&file)?;
    if shared.exists(&file) && !force {
        return Err(error(StatusCode::CONFLICT, "file already exists"));
    }
    shared.store(file, provenance, None);
    Ok(super::json(StatusCode::CREATED, &json!({"saved": true})))
}

/// DELETE /api/charts/:name/:version (`deleteChartVersionRequestHandler`, `api.go`
/// `deleteChartVersion`): `<name>-<version>.tgz` exactly (no constraint) and its provenance
/// file; 404 with the storage's error when the package is not stored.
fn delete(shared: &Shared, name: &str, version: &str) -> Answer {
    let file = format!("{name}-{version}.tgz");
    let removed = shared.with(|i| {
        let removed = i.objects.remove(&file).is_some();
        if removed {
            i.objects.remove(&format!("{file}.prov"));
        }
        removed
    });
    if !removed {
        let message = format!("remove {file}: no such file or directory");
        return Err(error(StatusCode::NOT_FOUND, &message));
    }
    Ok(super::json(StatusCode::OK, &json!({"deleted": true})))
}

#[cfg(test)]
mod tests;
