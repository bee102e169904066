//! The IAM guard: an HTTP proxy between the function processes and the AWS emulators that
//! refuses, as AWS would, every call the calling function's policy in infra/template.yaml
//! does not allow. The emulators allow everything, so without it a missing grant would show
//! first in a deployment; with it, every integration test and `make up` run the functions
//! under their template policies.
//!
//! The caller is the function whose binary is the SDK app name in the request's user agent
//! (`app/ferry-transfer`); requests without one (the tests' own clients, the event plane)
//! pass unchecked, as do services other than DynamoDB, SQS and S3 (see `iam_request.rs`).
//! Requests go to the upstream of their service (the `AWS_ENDPOINT_URL_<SERVICE>` the
//! functions would have used, else `AWS_ENDPOINT_URL`); responses stream back as they come.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use bytes::Bytes;

use crate::iam::{Access, Decision, FunctionPolicies, RolePolicy};
use crate::iam_request::{accesses, app_name, signing_service, ArnScope, AwsRequest, Protocol};

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("the IAM guard cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the IAM guard's HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

const ENDPOINT_VARIABLE: &str = "AWS_ENDPOINT_URL";

/// Where the guard sends what it lets through: per service (by signing name), else the default.
#[derive(Debug, Clone)]
pub struct Upstreams {
    default: String,
    by_service: HashMap<String, String>,
}

impl Upstreams {
    /// From the endpoint variables the functions would have been given; None without
    /// `AWS_ENDPOINT_URL` (the functions would reach AWS itself: nothing to stand in front of).
    pub fn from_env(env: &[(String, String)]) -> Option<Self> {
        let mut default = None;
        let mut by_service = HashMap::new();
        for (name, value) in env {
            let value = value.trim_end_matches('/').to_string();
            if name == ENDPOINT_VARIABLE {
                default = Some(value);
            } else if let Some(service) = name.strip_prefix("AWS_ENDPOINT_URL_") {
                // The variable's service id (DYNAMODB, SECRETS_MANAGER) as a signing name.
                by_service.insert(service.replace('_', "").to_ascii_lowercase(), value);
            }
        }
        Some(Self {
            default: default?,
            by_service,
        })
    }

    fn for_service(&self, service: Option<&str>) -> &str {
        service
            .and_then(|s| self.by_service.get(s))
            .unwrap_or(&self.default)
    }
}

/// `env` with every AWS endpoint variable pointing at the guard instead.
pub fn guarded_env(env: &[(String, String)], guard: SocketAddr) -> Vec<(String, String)> {
    let url = format!("http://{guard}");
    env.iter()
        .filter(|(name, _)| !name.starts_with(ENDPOINT_VARIABLE))
        .cloned()
        .chain([
            (ENDPOINT_VARIABLE.to_string(), url.clone()),
            (format!("{ENDPOINT_VARIABLE}_DYNAMODB"), url),
        ])
        .collect()
}

struct Guard {
    policies: FunctionPolicies,
    upstreams: Upstreams,
    scope: ArnScope,
    stack_name: String,
    http: reqwest::Client,
    denials: Arc<AtomicU64>,
}

/// A running guard.
pub struct IamGuard {
    pub address: SocketAddr,
    denials: Arc<AtomicU64>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl IamGuard {
    /// Requests refused so far.
    pub fn denials(&self) -> u64 {
        self.denials.load(Ordering::Relaxed)
    }

    /// Stops taking connections and waits for the requests under way.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

pub struct GuardSettings {
    pub listen: SocketAddr,
    pub policies: FunctionPolicies,
    pub upstreams: Upstreams,
    pub scope: ArnScope,
    pub stack_name: String,
}

pub async fn start(settings: GuardSettings) -> Result<IamGuard, GuardError> {
    let listen_error = |source| GuardError::Listen {
        address: settings.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(listen_error)?;
    let address = listener.local_addr().map_err(listen_error)?;
    let denials = Arc::new(AtomicU64::new(0));
    let guard = Arc::new(Guard {
        policies: settings.policies,
        upstreams: settings.upstreams,
        scope: settings.scope,
        stack_name: settings.stack_name,
        // One pooled client for every request; redirects go back to the caller as they are.
        http: reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        denials: Arc::clone(&denials),
    });
    let router = axum::Router::new().fallback(handle).with_state(guard);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.changed().await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the IAM guard stopped");
        }
    });
    Ok(IamGuard {
        address,
        denials,
        stop,
        task,
    })
}

fn plain(status: StatusCode, message: String) -> Response<Body> {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = status;
    response
}

async fn handle(State(guard): State<Arc<Guard>>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    // Whole, since a JSON body says what a request is; the functions' bodies are small.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("reading the body: {e}")),
    };
    let request = AwsRequest {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &body,
    };
    if let Some(denial) = guard.refusal(&request) {
        guard.denials.fetch_add(1, Ordering::Relaxed);
        return denial;
    }
    guard.forward(parts, body).await
}

impl Guard {
    /// The answer AWS gives when the calling function's policy does not allow the request.
    fn refusal(&self, request: &AwsRequest<'_>) -> Option<Response<Body>> {
        let role = app_name(request.headers).and_then(|app| self.policies.for_binary(app))?;
        let protocol = Protocol::of(request.headers)?;
        let wanted = match accesses(protocol, request, &self.scope) {
            Ok(wanted) => wanted,
            Err(e) => {
                // The emulator answers a malformed request as AWS would.
                tracing::warn!(function = %role.function, error = %e, "IAM guard: request not understood; let through");
                return None;
            }
        };
        let (access, decision) = wanted
            .iter()
            .map(|a| (a, role.decide(a)))
            .find(|(_, d)| *d != Decision::Allowed)?;
        tracing::error!(
            function = %role.function,
            action = %access.action,
            resource = %access.resource,
            ?decision,
            "IAM guard: infra/template.yaml does not allow this call; refused as AWS would refuse it"
        );
        Some(denial(protocol, &self.message(role, access, decision)))
    }

    fn message(&self, role: &RolePolicy, access: &Access, decision: Decision) -> String {
        let why = match decision {
            Decision::ExplicitlyDenied => {
                "with an explicit deny in an identity-based policy".to_string()
            }
            _ => format!(
                "because no identity-based policy allows the {} action",
                access.action
            ),
        };
        format!(
            "User: arn:aws:sts::{}:assumed-role/{}/{} is not authorized to perform: {} on resource: {} {why}",
            self.scope.account,
            role.role_name(&self.stack_name),
            role.function_name,
            access.action,
            access.resource,
        )
    }

    async fn forward(&self, parts: axum::http::request::Parts, body: Bytes) -> Response<Body> {
        let service = signing_service(&parts.headers);
        let upstream = self.upstreams.for_service(service.as_deref());
        let url = format!(
            "{upstream}{}",
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        );
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        // The client sets both from the URL and the body; the body is here whole already.
        headers.remove(header::HOST);
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::EXPECT);
        let sent = self
            .http
            .request(parts.method, url)
            .headers(headers)
            .body(body)
            .send()
            .await;
        let upstream_response = match sent {
            Ok(response) => response,
            Err(e) => {
                return plain(
                    StatusCode::BAD_GATEWAY,
                    format!("IAM guard: {upstream} did not answer: {e}"),
                )
            }
        };
        let status = upstream_response.status();
        let mut headers = upstream_response.headers().clone();
        strip_hop_by_hop(&mut headers);
        let mut response = Response::new(Body::from_stream(upstream_response.bytes_stream()));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

/// AccessDenied as each protocol answers it.
fn denial(protocol: Protocol, message: &str) -> Response<Body> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let xml_text = xml_escaped(message);
    let (status, content_type, body, extra): (_, _, String, &[(&str, &str)]) = match protocol {
        Protocol::DynamoDb => (
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.0",
            serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
                "message": message,
            })
            .to_string(),
            &[("x-amzn-errortype", "AccessDeniedException")],
        ),
        Protocol::SqsJson => (
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.0",
            serde_json::json!({
                "__type": "com.amazonaws.sqs#AccessDenied",
                "message": message,
            })
            .to_string(),
            &[("x-amzn-query-error", "AccessDenied;Sender")],
        ),
        Protocol::SqsQuery => (
            StatusCode::FORBIDDEN,
            "text/xml",
            format!(
                "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{xml_text}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            ),
            &[],
        ),
        Protocol::S3 => (
            StatusCode::FORBIDDEN,
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>{xml_text}</Message><RequestId>{request_id}</RequestId></Error>"
            ),
            &[],
        ),
    };
    let mut response = plain(status, body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in extra {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        let name = if protocol == Protocol::S3 {
            "x-amz-request-id"
        } else {
            "x-amzn-requestid"
        };
        headers.insert(name, id);
    }
    response
}

fn xml_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn upstreams_come_from_the_endpoint_variables() {
        let upstreams = Upstreams::from_env(&env(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1/"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:2"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:3"),
            ("AWS_REGION", "r"),
        ]))
        .expect("upstreams");
        assert_eq!(
            upstreams.for_service(Some("dynamodb")),
            "http://127.0.0.1:2"
        );
        assert_eq!(
            upstreams.for_service(Some("secretsmanager")),
            "http://127.0.0.1:3"
        );
        assert_eq!(upstreams.for_service(Some("sqs")), "http://127.0.0.1:1");
        assert_eq!(upstreams.for_service(None), "http://127.0.0.1:1");
        assert!(Upstreams::from_env(&env(&[("AWS_ENDPOINT_URL_S3", "http://x")])).is_none());
    }

    #[test]
    fn the_functions_are_pointed_at_the_guard() {
        let guarded = guarded_env(
            &env(&[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
                ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:2"),
                ("AWS_REGION", "r"),
            ]),
            "127.0.0.1:9".parse().expect("address"),
        );
        assert_eq!(
            guarded,
            env(&[
                ("AWS_REGION", "r"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9"),
            ])
        );
    }

    #[tokio::test]
    async fn a_refused_call_is_answered_as_aws_answers_it() {
        let response = denial(Protocol::DynamoDb, "User: x is not authorized");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response
                .headers()
                .get("x-amzn-errortype")
                .map(|v| v.as_bytes()),
            Some(&b"AccessDeniedException"[..])
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            body["__type"],
            "com.amazonaws.dynamodb.v20120810#AccessDeniedException"
        );
        let response = denial(Protocol::S3, "a < b");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("<Code>AccessDenied</Code><Message>a &lt; b</Message>"));
    }

    /// An upstream that answers every request with 200 and the path it was asked for.
    async fn echo_upstream() -> String {
        let router = axum::Router::new()
            .fallback(|request: Request<Body>| async move { request.uri().path().to_string() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn the_guard_refuses_what_the_template_does_not_allow_and_forwards_the_rest() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
        let template = crate::template::Template::load(&path).expect("template");
        let settings = crate::template::StackSettings {
            stack_name: "s".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            parameters: template.parameter_defaults(),
        };
        let (mut resolved, _) =
            crate::stack::resolve_names(&template.resources(), &settings).expect("names");
        resolved.attributes.insert(
            ("SecretsKey".into(), "Arn".into()),
            "arn:aws:kms:us-east-1:123456789012:key/k".into(),
        );
        let upstream = echo_upstream().await;
        let guard = start(GuardSettings {
            listen: "127.0.0.1:0".parse().expect("address"),
            policies: FunctionPolicies::from_template(&template, &settings, &resolved)
                .expect("policies"),
            upstreams: Upstreams::from_env(&env(&[("AWS_ENDPOINT_URL", &upstream)]))
                .expect("upstreams"),
            scope: ArnScope {
                region: settings.region.clone(),
                account: settings.account.clone(),
            },
            stack_name: "s".into(),
        })
        .await
        .expect("guard");
        let client = reqwest::Client::new();
        let call = |operation: &str, agent: &str| {
            client
                .post(format!("http://{}/dynamodb", guard.address))
                .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
                .header("x-amz-user-agent", agent.to_string())
                .body(r#"{"TableName":"s-executions","Key":{}}"#)
                .send()
        };
        let refused = call("DeleteItem", "aws-sdk-rust/1 app/ferry-api")
            .await
            .expect("send");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let message = refused.text().await.expect("body");
        assert!(
            message.contains("assumed-role/s-ApiFunctionRole/s-api is not authorized to perform: dynamodb:DeleteItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/s-executions because no identity-based policy allows the dynamodb:DeleteItem action"),
            "{message}"
        );
        let allowed = call("GetItem", "aws-sdk-rust/1 app/ferry-api")
            .await
            .expect("send");
        assert_eq!(allowed.status(), StatusCode::OK);
        assert_eq!(allowed.text().await.expect("body"), "/dynamodb");
        let unknown = call("DeleteItem", "aws-sdk-rust/1").await.expect("send");
        assert_eq!(unknown.status(), StatusCode::OK);
        assert_eq!(guard.denials(), 1);
        guard.stop().await;
    }
}
