//! The HTTP API gateway: HTTP requests to API Gateway v2 (payload format 2.0) events for the
//! function the template routes `HttpApi` events to, and its answers back to HTTP.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use base64::Engine;
use serde_json::{json, Value};

use crate::invoke::Invoker;
use crate::stack::FunctionSpec;

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

#[derive(Clone)]
pub struct Gateway {
    pub invoker: Arc<dyn Invoker>,
    pub function: FunctionSpec,
}

pub async fn serve(
    gateway: Gateway,
    listener: tokio::net::TcpListener,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let router = axum::Router::new().fallback(forward).with_state(gateway);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop.changed().await;
    })
    .await
}

fn plain(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(message.to_string()));
    *response.status_mut() = status;
    response
}

async fn forward(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = parts.uri.query().unwrap_or_default().to_string();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(k.into_owned())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v.into_owned());
    }
    let path = parts.uri.path().to_string();
    let (body_text, encoded) = match std::str::from_utf8(&body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(&body),
            true,
        ),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let event = json!({
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "queryStringParameters": if query.is_empty() { Value::Null } else { json!(query) },
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get("host").cloned().unwrap_or_default(),
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
            "time": "",
            "timeEpoch": now.as_millis() as u64,
        },
        "body": if body.is_empty() { Value::Null } else { json!(body_text) },
        "isBase64Encoded": encoded,
    });
    let answer = match gateway
        .invoker
        .invoke(&gateway.function, event.to_string().into())
        .await
    {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(error = %e, "api invocation failed");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "{\"message\":\"Internal Server Error\"}",
            );
        }
    };
    let Ok(answer) = serde_json::from_slice::<Value>(&answer) else {
        return plain(
            StatusCode::BAD_GATEWAY,
            "{\"message\":\"Internal Server Error\"}",
        );
    };
    let status = answer
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    let body = answer
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body = if answer
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let mut add = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            response.headers_mut().append(n, v);
        }
    };
    if let Some(Value::Object(headers)) = answer.get("headers") {
        for (name, value) in headers {
            if let Some(v) = value.as_str() {
                add(name, v);
            }
        }
    }
    if let Some(Value::Object(headers)) = answer.get("multiValueHeaders") {
        for (name, values) in headers {
            for v in values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                add(name, v);
            }
        }
    }
    if let Some(Value::Array(cookies)) = answer.get("cookies") {
        for cookie in cookies.iter().filter_map(Value::as_str) {
            add("set-cookie", cookie);
        }
    }
    response
}
