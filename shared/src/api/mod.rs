//! The HTTP API, Harbor v2.0 compatible, over plain `http` types: the `api` function maps
//! API Gateway events to these requests and back.

pub mod auth;
pub mod errors;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};

pub use auth::AdminPassword;
use errors::ApiError;

pub const BASE_PATH: &str = "/api/v2.0";
pub const REQUEST_ID: &str = "x-request-id";

pub struct Api {
    pub admin: AdminPassword,
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
        let _entered = span.enter();
        let mut response = match self.route(&request) {
            Ok(response) => response,
            Err(error) => error.into_response(),
        };
        tracing::info!(status = response.status().as_u16(), "answered");
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        response
    }

    fn route(&self, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
        let path = request.uri().path().trim_end_matches('/');
        let Some(route) = path.strip_prefix(BASE_PATH) else {
            return Err(ApiError::not_found(format!(
                "{path} is not under {BASE_PATH}"
            )));
        };
        let method = request.method();
        match route {
            "/ping" if method == Method::GET || method == Method::HEAD => {
                Ok(text(StatusCode::OK, "Pong"))
            }
            "/systeminfo" if method == Method::GET => Ok(json(StatusCode::OK, &system_info())),
            "/ping" | "/systeminfo" => Err(ApiError::method_not_allowed(method)),
            _ => {
                self.admin.check(request.headers())?;
                Err(ApiError::not_found(format!("no route {method} {path}")))
            }
        }
    }
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
