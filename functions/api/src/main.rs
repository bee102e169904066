//! The `api` function: API Gateway HTTP API events to Ferry's Harbor v2.0 compatible API.

use std::sync::Arc;

use ferry::api::Api;
use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry::telemetry::init();
    let api = Arc::new(ferry::wiring::Services::from_env().await?.api().await?);
    run(service_fn(move |request: Request| {
        let api = Arc::clone(&api);
        async move { handle(&api, request).await }
    }))
    .await
}

async fn handle(api: &Api, request: Request) -> Result<Response<Body>, Error> {
    let (parts, body) = request.into_parts();
    let body = match body {
        Body::Empty => bytes::Bytes::new(),
        Body::Text(text) => bytes::Bytes::from(text),
        Body::Binary(binary) => bytes::Bytes::from(binary),
        _ => bytes::Bytes::new(),
    };
    let response = api.handle(http::Request::from_parts(parts, body)).await;
    let (parts, body) = response.into_parts();
    let body = match String::from_utf8(body.to_vec()) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(binary) => Body::Binary(binary.into_bytes()),
    };
    Ok(Response::from_parts(parts, body))
}
