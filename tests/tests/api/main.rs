//! The Harbor v2.0 replication API over HTTP, through the local gateway to the `api` binary:
//! every route, the status codes Harbor's clients rely on, pagination, `q`, `sort`, auth, bad
//! input, and Harbor's swagger shapes in both directions.

mod console;
mod executions;
mod fuzz;
mod policies;
mod registries;
mod scope;
mod security;
mod service;

use ferry_tests::api_client::{read, ApiClient};
use ferry_tests::images::layer;
use ferry_tests::registry::TestRegistry;
use ferry_tests::swagger::Swagger;
use ferry_tests::{eventually, LocalStack, LocalStackOptions, ADMIN_PASSWORD};
use serde_json::{json, Value};

/// Fields Ferry adds to Harbor's task (transfer figures and a reason); clients ignore them.
const TASK_EXTENSIONS: &[&str] = &[
    "status_text",
    "bytes_copied",
    "blobs_copied",
    "blobs_skipped",
    "blobs_mounted",
    "resource",
    "continuations",
];

fn registry_body(name: &str, url: &str) -> Value {
    json!({"name": name, "type": "docker-registry", "url": url, "description": "test",
           "credential": {"type": "basic", "access_key": "robot", "access_secret": "s3cret"}})
}

async fn start() -> (LocalStack, ApiClient) {
    let stack = LocalStack::start("api", LocalStackOptions::default()).await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    (stack, api)
}
