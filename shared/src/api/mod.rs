//! The HTTP API, Harbor v2.0 compatible, over plain `http` types: the `api` function maps
//! API Gateway events to these requests and back.

pub mod auth;
pub mod errors;
mod executions;
pub mod listing;
mod policies;
pub mod registries;

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use serde::de::DeserializeOwned;

pub use auth::AdminPassword;
pub use errors::ApiError;

use crate::ports::logs::TaskLogSink;
use crate::ports::queue::MessageQueue;
use crate::ports::store::Store;
use crate::replication::transfer::Connect;

pub const BASE_PATH: &str = "/api/v2.0";
pub const REQUEST_ID: &str = "x-request-id";
/// Bodies over this are refused with 413: no Harbor request comes near it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Every route the API serves: method and path template under [`BASE_PATH`].
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/ping"),
    ("GET", "/systeminfo"),
    ("GET", "/registries"),
    ("POST", "/registries"),
    ("POST", "/registries/ping"),
    ("GET", "/registries/{id}"),
    ("PUT", "/registries/{id}"),
    ("DELETE", "/registries/{id}"),
    ("GET", "/registries/{id}/info"),
    ("GET", "/replication/adapters"),
    ("GET", "/replication/adapterinfos"),
    ("GET", "/replication/policies"),
    ("POST", "/replication/policies"),
    ("GET", "/replication/policies/{id}"),
    ("PUT", "/replication/policies/{id}"),
    ("DELETE", "/replication/policies/{id}"),
    ("GET", "/replication/executions"),
    ("POST", "/replication/executions"),
    ("GET", "/replication/executions/{id}"),
    ("PUT", "/replication/executions/{id}"),
    ("GET", "/replication/executions/{id}/tasks"),
    ("GET", "/replication/executions/{id}/tasks/{task_id}/log"),
];

pub struct Api {
    pub admin: AdminPassword,
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn MessageQueue>,
    pub logs: Arc<dyn TaskLogSink>,
    pub connect: Arc<Connect>,
    /// The registry an empty policy side stands for.
    pub home_registry: Option<i64>,
}

fn id(field: &str, segment: &str) -> Result<i64, ApiError> {
    segment
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!("{field}: {segment:?} is not a positive integer"))
        })
}

/// Parses a JSON body, naming the field that does not fit; unknown fields are ignored.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("body: a JSON body is required"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::bad_request(format!("{field}: {inner}"))
    })
}

/// 201 with the new resource's `Location`.
fn created(resource: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::CREATED;
    if let Ok(location) = HeaderValue::from_str(&format!("{BASE_PATH}{resource}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

impl Api {
    /// Answers one request; every answer carries the request's `X-Request-Id` (or a new one).
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        let request_id = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let span = tracing::info_span!("request", request_id = %request_id, method = %request.method(), path = %request.uri().path());
        let response = tracing::Instrument::instrument(self.answer(&request), span.clone()).await;
        let mut response = match response {
            Ok(response) => response,
            Err(error) => {
                if error.status.is_server_error() {
                    span.in_scope(|| tracing::error!(error = %error.message, "failed"));
                }
                error.into_response()
            }
        };
        span.in_scope(|| tracing::info!(status = response.status().as_u16(), "answered"));
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        if request.method() == Method::HEAD {
            *response.body_mut() = Bytes::new();
        }
        response
    }

    async fn answer(&self, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
        if request.body().len() > MAX_BODY_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("the body is over {MAX_BODY_BYTES} bytes"),
            ));
        }
        let full_path = request.uri().path();
        let trimmed = full_path.trim_end_matches('/');
        let Some(route) = trimmed.strip_prefix(BASE_PATH) else {
            return Err(ApiError::not_found(format!(
                "{full_path} is not under {BASE_PATH}"
            )));
        };
        let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
        let method = request.method().clone();
        let get = method == Method::GET || method == Method::HEAD;
        let (query, body) = (request.uri().query(), request.body());
        match segments.as_slice() {
            ["ping"] if get => return Ok(text(StatusCode::OK, "Pong")),
            ["systeminfo"] if get => return Ok(json(StatusCode::OK, &system_info())),
            _ => {}
        }
        self.admin.check(request.headers())?;
        match (method.as_str(), segments.as_slice()) {
            (_, ["registries"]) if get => self.list_registries(query, trimmed).await,
            ("POST", ["registries"]) => self.create_registry(body).await,
            ("POST", ["registries", "ping"]) => self.ping_registry(body).await,
            (_, ["registries", r]) if get => self.get_registry(id("id", r)?).await,
            ("PUT", ["registries", r]) => self.update_registry(id("id", r)?, body).await,
            ("DELETE", ["registries", r]) => self.delete_registry(id("id", r)?).await,
            (_, ["registries", r, "info"]) if get => self.registry_info(id("id", r)?).await,
            (_, ["replication", "adapters"]) if get => Ok(self.adapters()),
            (_, ["replication", "adapterinfos"]) if get => Ok(self.adapter_infos()),
            (_, ["replication", "policies"]) if get => self.list_policies(query, trimmed).await,
            ("POST", ["replication", "policies"]) => self.create_policy(body).await,
            (_, ["replication", "policies", p]) if get => self.get_policy(id("id", p)?).await,
            ("PUT", ["replication", "policies", p]) => self.update_policy(id("id", p)?, body).await,
            ("DELETE", ["replication", "policies", p]) => self.delete_policy(id("id", p)?).await,
            (_, ["replication", "executions"]) if get => self.list_executions(query, trimmed).await,
            ("POST", ["replication", "executions"]) => self.start_execution(body).await,
            (_, ["replication", "executions", e]) if get => self.get_execution(id("id", e)?).await,
            ("PUT", ["replication", "executions", e]) => self.stop_execution(id("id", e)?).await,
            (_, ["replication", "executions", e, "tasks"]) if get => {
                self.list_tasks(id("id", e)?, query, trimmed).await
            }
            (_, ["replication", "executions", e, "tasks", t, "log"]) if get => {
                self.task_log(id("id", e)?, id("task_id", t)?).await
            }
            _ if route_exists(&segments) => Err(ApiError::method_not_allowed(&method)),
            _ => Err(ApiError::not_found(format!(
                "no route {method} {full_path}"
            ))),
        }
    }
}

/// Whether some method serves this path (so another method is a 405, not a 404).
fn route_exists(segments: &[&str]) -> bool {
    ROUTES.iter().any(|(_, template)| {
        let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(segments)
                .all(|(t, s)| t.starts_with('{') || t == s)
    })
}

fn system_info() -> serde_json::Value {
    serde_json::json!({
        "harbor_version": concat!("ferry-", env!("CARGO_PKG_VERSION")),
        "auth_mode": "db_auth",
        "registry_url": "",
        "with_chartmuseum": false,
        "self_registration": false,
        "has_ca_root": false,
        "read_only": false,
        "notification_enable": false,
    })
}

pub(crate) fn text(status: StatusCode, body: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::copy_from_slice(body.as_bytes()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

pub(crate) fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response<Bytes> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Bytes::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
