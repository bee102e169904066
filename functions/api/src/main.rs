//! The `api` function: API Gateway HTTP API events to Ferry's Harbor v2.0 compatible API.

use std::sync::Arc;

use ferry::api::{AdminPassword, Api};
use ferry::config::{parsed_or, Services};
use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ferry::telemetry::init();
    let config = ferry::aws::load_config().await;
    let services = Services::from_env(&config)?;
    let home: i64 = parsed_or("FERRY_HOME_REGISTRY_ID", 0)?;
    let api = Arc::new(Api {
        admin: AdminPassword::from_env(&config).await?,
        store: services.store,
        queue: services.queue,
        logs: services.logs,
        connect: ferry::config::registry_connector(1)?,
        schedules: ferry::config::schedules_from_env(&config)?,
        home_registry: (home > 0).then_some(home),
    });
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
