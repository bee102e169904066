//! A processor extender for the artifact type tests (seed 004's out-of-tree processor): it
//! answers `POST /abstractmetadata` with the `extra_attrs` it was given, after a delay (one
//! longer than Ferry's timeout stands for an extender that hangs), and records each request.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::Request;
use axum::Json;

/// One request the extender got.
#[derive(Debug, Clone)]
pub struct Asked {
    pub path: String,
    pub authorization: Option<String>,
    pub body: serde_json::Value,
}

#[derive(Clone)]
struct Shared {
    extra_attrs: serde_json::Value,
    delay: Duration,
    asked: Arc<Mutex<Vec<Asked>>>,
}

pub struct ProcessorExtender {
    url: String,
    shared: Shared,
    _server: crate::fakes::Server,
}

impl ProcessorExtender {
    pub async fn start(extra_attrs: serde_json::Value, delay: Duration) -> Self {
        let (listener, url) = crate::fakes::Server::bind().await;
        let shared = Shared {
            extra_attrs,
            delay,
            asked: Arc::default(),
        };
        let router = axum::Router::new()
            .fallback(abstract_metadata)
            .with_state(shared.clone());
        let _server = crate::fakes::Server::serve(listener, router);
        Self {
            url,
            shared,
            _server,
        }
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn asked(&self) -> Vec<Asked> {
        self.shared
            .asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn abstract_metadata(
    State(shared): State<Shared>,
    request: Request<Body>,
) -> Json<serde_json::Value> {
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, 1 << 22).await.unwrap_or_default();
    shared
        .asked
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Asked {
            path: parts.uri.path().to_string(),
            authorization: parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: serde_json::from_slice(&bytes).unwrap_or_default(),
        });
    tokio::time::sleep(shared.delay).await;
    Json(serde_json::json!({"artifact": {"extra_attrs": shared.extra_attrs}, "error": ""}))
}
