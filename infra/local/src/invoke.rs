//! Invoking functions. Two ways, one trait:
//! - [`RuntimeHost`] runs the function binaries itself behind its own Lambda Runtime API, as
//!   many instances per function as its concurrency allows (what the tests use);
//! - [`HttpInvoker`] posts to an invoke endpoint, such as `cargo lambda watch`'s (what `make up`
//!   uses, so code changes reload).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::stack::FunctionSpec;

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("{function} returned an error: {body}")]
    Function { function: String, body: String },
    #[error("{function} did not answer within {timeout:?}")]
    Timeout { function: String, timeout: Duration },
    #[error("{function} could not be invoked: {message}")]
    Unavailable { function: String, message: String },
}

#[async_trait]
pub trait Invoker: Send + Sync {
    async fn invoke(&self, function: &FunctionSpec, payload: Bytes) -> Result<Bytes, InvokeError>;
}

/// Posts invocations to `{base}/2015-03-31/functions/{binary}/invocations`.
pub struct HttpInvoker {
    base: String,
    http: reqwest::Client,
}

impl HttpInvoker {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }
}

#[async_trait]
impl Invoker for HttpInvoker {
    async fn invoke(&self, function: &FunctionSpec, payload: Bytes) -> Result<Bytes, InvokeError> {
        let url = format!(
            "{}/2015-03-31/functions/{}/invocations",
            self.base, function.binary
        );
        let unavailable = |message: String| InvokeError::Unavailable {
            function: function.binary.clone(),
            message,
        };
        let response = self
            .http
            .post(&url)
            .timeout(function.timeout + Duration::from_secs(30))
            .body(payload)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let failed = !response.status().is_success()
            || response.headers().contains_key("x-amz-function-error");
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if failed {
            return Err(InvokeError::Function {
                function: function.binary.clone(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        Ok(body)
    }
}

struct Invocation {
    request_id: String,
    payload: Bytes,
    deadline: SystemTime,
    reply: oneshot::Sender<Result<Bytes, String>>,
}

/// One function's Runtime API: invocations wait in a queue until an instance asks for the next.
struct RuntimeApi {
    function: FunctionSpec,
    waiting: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    sender: mpsc::UnboundedSender<Invocation>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Result<Bytes, String>>>>,
}

async fn next_invocation(State(api): State<Arc<RuntimeApi>>) -> Response {
    let invocation = {
        let mut waiting = api.waiting.lock().await;
        match waiting.recv().await {
            Some(i) => i,
            None => return StatusCode::GONE.into_response(),
        }
    };
    let deadline_ms = invocation
        .deadline
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    api.in_flight
        .lock()
        .await
        .insert(invocation.request_id.clone(), invocation.reply);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", invocation.request_id);
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        api.function.arn.clone(),
    );
    put(
        "lambda-runtime-trace-id",
        format!("Root=1-{}", uuid::Uuid::new_v4().simple()),
    );
    put("content-type", "application/json".into());
    (StatusCode::OK, headers, invocation.payload).into_response()
}

async fn respond(
    State(api): State<Arc<RuntimeApi>>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> StatusCode {
    if let Some(reply) = api.in_flight.lock().await.remove(&request_id) {
        let _ = reply.send(Ok(body));
    }
    StatusCode::ACCEPTED
}

async fn fail(
    State(api): State<Arc<RuntimeApi>>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> StatusCode {
    if let Some(reply) = api.in_flight.lock().await.remove(&request_id) {
        let _ = reply.send(Err(String::from_utf8_lossy(&body).into_owned()));
    }
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<Arc<RuntimeApi>>, body: Bytes) -> StatusCode {
    tracing::error!(function = %api.function.binary, error = %String::from_utf8_lossy(&body), "function failed to start");
    StatusCode::ACCEPTED
}

/// Runs each function's binary from `binaries`, `concurrency` instances each, with the
/// function's environment from the template; restarts an instance that exits.
pub struct RuntimeHost {
    apis: HashMap<String, Arc<RuntimeApi>>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl RuntimeHost {
    pub async fn start(
        functions: &[FunctionSpec],
        binaries: PathBuf,
        concurrency: &dyn Fn(&FunctionSpec) -> usize,
        extra_env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let mut apis = HashMap::new();
        let mut tasks = Vec::new();
        for function in functions {
            let (sender, receiver) = mpsc::unbounded_channel();
            let api = Arc::new(RuntimeApi {
                function: function.clone(),
                waiting: Mutex::new(receiver),
                sender,
                in_flight: Mutex::new(HashMap::new()),
            });
            let router = Router::new()
                .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
                .route(
                    "/2018-06-01/runtime/invocation/{id}/response",
                    post(respond),
                )
                .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
                .route("/2018-06-01/runtime/init/error", post(init_error))
                .with_state(Arc::clone(&api));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let address = listener.local_addr()?;
            let mut stop = shutdown.subscribe();
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stop.changed().await;
                    })
                    .await;
            }));
            let program = binaries.join(&function.binary);
            if !program.exists() {
                anyhow::bail!("{} is not built: {}", function.binary, program.display());
            }
            for instance in 0..concurrency(function).max(1) {
                tasks.push(tokio::spawn(supervise(
                    program.clone(),
                    function.clone(),
                    address.to_string(),
                    instance,
                    extra_env.to_vec(),
                    shutdown.subscribe(),
                )));
            }
            apis.insert(function.binary.clone(), api);
        }
        Ok(Self {
            apis,
            shutdown,
            tasks: Mutex::new(tasks),
        })
    }

    pub async fn stop(&self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.lock().await.drain(..) {
            let _ = task.await;
        }
    }
}

async fn supervise(
    program: PathBuf,
    function: FunctionSpec,
    runtime_api: String,
    instance: usize,
    extra_env: Vec<(String, String)>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let mut command = tokio::process::Command::new(&program);
        command
            .envs(&function.environment)
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", &function.function_name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                function.memory_mb.to_string(),
            )
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", function.function_name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/{instance}"))
            .env("FERRY_LOG_TEXT", "1")
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                tracing::error!(function = %function.binary, error = %e, "cannot start");
                return;
            }
        };
        tokio::select! {
            status = child.wait() => {
                tracing::warn!(function = %function.binary, instance, ?status, "instance exited; restarting");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            _ = stop.changed() => {
                let _ = child.kill().await;
                return;
            }
        }
    }
}

#[async_trait]
impl Invoker for RuntimeHost {
    async fn invoke(&self, function: &FunctionSpec, payload: Bytes) -> Result<Bytes, InvokeError> {
        let api = self
            .apis
            .get(&function.binary)
            .ok_or_else(|| InvokeError::Unavailable {
                function: function.binary.clone(),
                message: "not hosted here".into(),
            })?;
        let (reply, answer) = oneshot::channel();
        let request_id = uuid::Uuid::new_v4().to_string();
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload,
            deadline: SystemTime::now() + function.timeout,
            reply,
        };
        api.sender
            .send(invocation)
            .map_err(|_| InvokeError::Unavailable {
                function: function.binary.clone(),
                message: "the runtime is shut down".into(),
            })?;
        match tokio::time::timeout(function.timeout + Duration::from_secs(2), answer).await {
            Ok(Ok(Ok(body))) => Ok(body),
            Ok(Ok(Err(body))) => Err(InvokeError::Function {
                function: function.binary.clone(),
                body,
            }),
            Ok(Err(_)) => Err(InvokeError::Unavailable {
                function: function.binary.clone(),
                message: "the instance went away".into(),
            }),
            Err(_) => {
                api.in_flight.lock().await.remove(&request_id);
                Err(InvokeError::Timeout {
                    function: function.binary.clone(),
                    timeout: function.timeout,
                })
            }
        }
    }
}
