//! The HTTP API, Harbor v2.0 compatible, over plain `http` types: the `api` function maps
//! API Gateway events to these requests and back.

pub mod access;
pub mod auth;
mod confinement;
mod console;
pub mod errors;
mod executions;
mod handlers;
pub mod listing;
pub mod openapi;
mod policies;
mod pull;
mod pull_auth;
pub mod pull_state;
#[cfg(test)]
mod pull_tests;
pub mod registries;
mod robots;
mod routes;
#[cfg(test)]
mod tests;
mod webhooks;

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use serde::de::DeserializeOwned;

pub use access::{Caller, ClientAddress};
pub use auth::AdminPassword;
pub use errors::ApiError;
pub use routes::{Endpoint, Route, ROUTES};

use crate::model::login::LoginThrottle;
use crate::ports::access::{LoginAttempts, RobotStore};
use crate::ports::connect::Connect;
use crate::ports::logs::TaskLogSink;
use crate::ports::queue::MessageQueue;
use crate::ports::schedules::PolicySchedules;
use crate::ports::store::Store;
use crate::replication::registries::CheckLimit;
use routes::match_path;

pub const BASE_PATH: &str = "/api/v2.0";
pub const REQUEST_ID: &str = "x-request-id";
/// Bodies over this are refused with 413: no Harbor request comes near it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub struct Api {
    pub admin: AdminPassword,
    /// Robot accounts, callers besides the admin.
    pub robots: Arc<dyn RobotStore>,
    /// Failed logins, counted per user and per client address.
    pub logins: Arc<dyn LoginAttempts>,
    pub throttle: LoginThrottle,
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn MessageQueue>,
    pub logs: Arc<dyn TaskLogSink>,
    pub connect: Arc<dyn Connect>,
    /// The schedules of scheduled policies.
    pub schedules: Arc<dyn PolicySchedules>,
    /// The registry an empty policy side stands for.
    pub home_registry: Option<i64>,
    /// How long a registry's health check may take before the answer is a 400.
    pub check_limit: CheckLimit,
    /// Webhook policies and their deliveries.
    pub webhooks: Arc<dyn crate::ports::notify::WebhookStore>,
    /// Where webhook receivers may be (the deployment's egress rule).
    pub addresses: crate::model::addresses::AddressPolicy,
    /// The artifact types a `resource` filter may name.
    pub types: Arc<crate::model::artifact_types::ArtifactTypes>,
    /// The pull endpoint's settings and what it keeps between requests (auto-sync on pull).
    pub pull: pull_state::PullState,
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
        let answer = crate::telemetry::correlated(Some(request_id.clone()), self.answer(&request));
        let response = tracing::Instrument::instrument(answer, span.clone()).await;
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
        // The web console's static files, public: the page authenticates its own API calls.
        if let Some(asset) = console::asset(request.method(), full_path) {
            return Ok(asset);
        }
        // The distribution pull API of auto-sync policies, before Harbor's routes.
        if let Some(path) = pull::PullPath::of(full_path) {
            return Ok(self.answer_pull(request, path).await);
        }
        let trimmed = full_path.trim_end_matches('/');
        let Some(route) = trimmed.strip_prefix(BASE_PATH) else {
            return Err(ApiError::not_found(format!(
                "{full_path} is not under {BASE_PATH}"
            )));
        };
        let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
        // HEAD is answered as GET, without the body.
        let method = if request.method() == Method::HEAD {
            "GET"
        } else {
            request.method().as_str()
        };
        let mut path_fits = false;
        let mut matched = None;
        let address = request.extensions().get::<ClientAddress>().map(|a| a.0);
        for candidate in ROUTES {
            let fits = match match_path(candidate.path, &segments) {
                Ok(fits) => fits,
                // A bad path parameter is told only to a caller who may call the route.
                Err(e) if candidate.method == method => {
                    if !candidate.public {
                        self.authenticate(candidate, request.headers(), address)
                            .await?;
                    }
                    return Err(e);
                }
                Err(_) => None,
            };
            if let Some(params) = fits {
                path_fits = true;
                if candidate.method == method {
                    matched = Some((candidate, params));
                    break;
                }
            }
        }
        let Some((route, params)) = matched else {
            return Err(if path_fits {
                ApiError::method_not_allowed(request.method())
            } else {
                ApiError::not_found(format!("no route {} {full_path}", request.method()))
            });
        };
        // Public routes need no caller; the admin's rights stand in for "anyone" there.
        let caller = if route.public {
            Caller::Admin
        } else {
            self.authenticate(route, request.headers(), address).await?
        };
        let caller = &caller;
        let (query, body) = (request.uri().query(), request.body());
        match route.endpoint {
            Endpoint::Ping => Ok(text(StatusCode::OK, "Pong")),
            Endpoint::SystemInfo => Ok(json(StatusCode::OK, &system_info())),
            Endpoint::OpenApi => Ok(json(StatusCode::OK, &openapi::document())),
            Endpoint::ListRegistries => self.list_registries(query, trimmed).await,
            Endpoint::CreateRegistry => self.create_registry(body).await,
            Endpoint::PingRegistry => self.ping_registry(body).await,
            Endpoint::GetRegistry => self.get_registry(params.id()?).await,
            Endpoint::UpdateRegistry => self.update_registry(params.id()?, body).await,
            Endpoint::DeleteRegistry => self.delete_registry(params.id()?).await,
            Endpoint::RegistryInfo => self.registry_info(params.id()?).await,
            Endpoint::RegistryWebhook => self.registry_webhook(params.id()?).await,
            Endpoint::RotateWebhook => self.rotate_webhook(params.id()?).await,
            Endpoint::ReceiveWebhook => {
                self.receive_webhook(params.id()?, request.headers(), body)
                    .await
            }
            Endpoint::ListAdapters => Ok(self.adapters()),
            Endpoint::ListAdapterInfos => Ok(self.adapter_infos()),
            Endpoint::ListPolicies => self.list_policies(caller, query, trimmed).await,
            Endpoint::CreatePolicy => self.create_policy(caller, body).await,
            Endpoint::GetPolicy => self.get_policy(caller, params.id()?).await,
            Endpoint::UpdatePolicy => self.update_policy(caller, params.id()?, body).await,
            Endpoint::DeletePolicy => self.delete_policy(caller, params.id()?).await,
            Endpoint::ListHandlers => self.list_handlers(caller, params.id()?).await,
            Endpoint::CreateHandler => self.create_handler(caller, params.id()?, body).await,
            Endpoint::GetHandler => {
                self.get_handler(caller, params.id()?, params.handler_id()?)
                    .await
            }
            Endpoint::UpdateHandler => {
                self.update_handler(caller, params.id()?, params.handler_id()?, body)
                    .await
            }
            Endpoint::DeleteHandler => {
                self.delete_handler(caller, params.id()?, params.handler_id()?)
                    .await
            }
            Endpoint::ListExecutions => self.list_executions(caller, query, trimmed).await,
            Endpoint::StartExecution => self.start_execution(caller, body).await,
            Endpoint::GetExecution => self.get_execution(caller, params.id()?).await,
            Endpoint::StopExecution => self.stop_execution(caller, params.id()?).await,
            Endpoint::RetryExecution => self.retry_execution(caller, params.id()?).await,
            Endpoint::ListTasks => self.list_tasks(caller, params.id()?, query, trimmed).await,
            Endpoint::TaskLog => self.task_log(caller, params.id()?, params.task_id()?).await,
            Endpoint::ListArtifacts => {
                self.list_artifacts(caller, params.id()?, query, trimmed)
                    .await
            }
            Endpoint::ListRobots => self.list_robots(query, trimmed).await,
            Endpoint::CreateRobot => self.create_robot(body).await,
            Endpoint::GetRobot => self.get_robot(params.id()?).await,
            Endpoint::UpdateRobot => self.update_robot(params.id()?, body).await,
            Endpoint::RefreshRobotSecret => self.refresh_robot_secret(params.id()?, body).await,
            Endpoint::DeleteRobot => self.delete_robot(params.id()?).await,
            Endpoint::ListWebhookPolicies => self.list_webhook_policies(query, trimmed).await,
            Endpoint::CreateWebhookPolicy => self.create_webhook_policy(body).await,
            Endpoint::GetWebhookPolicy => self.get_webhook_policy(params.id()?).await,
            Endpoint::UpdateWebhookPolicy => self.update_webhook_policy(params.id()?, body).await,
            Endpoint::DeleteWebhookPolicy => self.delete_webhook_policy(params.id()?).await,
            Endpoint::ListWebhookDeliveries => {
                self.list_webhook_deliveries(params.id()?, query, trimmed)
                    .await
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
        "notification_enable": true,
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
