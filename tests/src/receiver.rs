//! A webhook receiver for the notification tests: it records every POST (its headers and JSON
//! body) and answers a fixed status, as a team's chat bridge or pager endpoint would.

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{Request, StatusCode};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: serde_json::Value,
}

#[derive(Clone)]
struct Shared {
    status: StatusCode,
    received: Arc<Mutex<Vec<Received>>>,
}

pub struct WebhookReceiver {
    url: String,
    shared: Shared,
    _server: crate::fakes::Server,
}

impl WebhookReceiver {
    /// A receiver answering every request with `status`.
    pub async fn start(status: u16) -> Self {
        let (listener, url) = crate::fakes::Server::bind().await;
        let shared = Shared {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            received: Arc::default(),
        };
        let router = axum::Router::new()
            .fallback(receive)
            .with_state(shared.clone());
        let _server = crate::fakes::Server::serve(listener, router);
        Self {
            url: format!("{url}/hooks"),
            shared,
            _server,
        }
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn receive(State(shared): State<Shared>, request: Request<Body>) -> StatusCode {
    let (parts, body) = request.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let bytes = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    shared
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Received {
            method: parts.method.to_string(),
            authorization: header("authorization"),
            content_type: header("content-type"),
            body,
        });
    shared.status
}
