//! The `api` function: API Gateway HTTP API events to Ferry's Harbor v2.0 compatible API.

use std::sync::Arc;

use ferry::api::{Api, ClientAddress};
use lambda_http::request::RequestContext;
use lambda_http::{run, service_fn, Body, Error, Request, RequestExt, Response};

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

/// The caller's address as API Gateway saw it, for the failed-login throttle.
fn client_address(request: &Request) -> Option<ClientAddress> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context
            .http
            .source_ip
            .as_deref()
            .and_then(|ip| ip.parse().ok())
            .map(ClientAddress),
        _ => None,
    }
}

async fn handle(api: &Api, request: Request) -> Result<Response<Body>, Error> {
    let address = client_address(&request);
    let (mut parts, body) = request.into_parts();
    if let Some(address) = address {
        parts.extensions.insert(address);
    }
    let body = match body {
        Body::Empty => bytes::Bytes::new(),
        Body::Text(text) => bytes::Bytes::from(text),
        Body::Binary(binary) => bytes::Bytes::from(binary),
        _ => bytes::Bytes::new(),
    };
    let response = api.handle(http::Request::from_parts(parts, body)).await;
    ferry::telemetry::metrics::flush();
    let (parts, body) = response.into_parts();
    let body = match String::from_utf8(body.to_vec()) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(binary) => Body::Binary(binary.into_bytes()),
    };
    Ok(Response::from_parts(parts, body))
}
