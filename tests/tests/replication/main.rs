//! Replication end to end through the HTTP API on the local stack: policies with filters run to
//! an exact final status, schedules live on the emulator and fire the trigger, starts are once
//! per firing, `single_active_replication` skips.

mod budgets;
mod cli;
mod concurrency;
mod destinations;
mod failures;
mod fleets;
mod kinds;

mod listing;
mod metrics;
mod names;
mod notifications;
mod plan;
mod platforms;
mod prepare;
mod prune;
mod pull;
mod triggers;
mod types;
mod versions;

use ferry::model::{ExecutionStatus, TriggerType};
use ferry::ports::{ExecutionStore, PolicyStore, TaskLogSink};
use ferry_tests::api_client::ApiClient;
use ferry_tests::images::layer;
use ferry_tests::registry::TestRegistry;
use ferry_tests::{eventually, LocalStack, LocalStackOptions, ADMIN_PASSWORD};
use serde_json::{json, Value};

async fn start(name: &str) -> (LocalStack, ApiClient) {
    let stack = LocalStack::start(name, LocalStackOptions::default()).await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    (stack, api)
}

async fn add_registry(api: &ApiClient, name: &str, url: &str) -> i64 {
    api.post(
        "/registries",
        &json!({"name": name, "type": "docker-registry", "url": url}),
    )
    .await
    .created_id()
}

fn policy_body(name: &str, src: i64, dst: i64, extra: Value) -> Value {
    let mut body = json!({
        "name": name,
        "src_registry": {"id": src},
        "dest_registry": {"id": dst},
        "dest_namespace": "",
        "dest_namespace_replace_count": -1,
        "trigger": {"type": "manual"},
        "filters": [],
        "enabled": true,
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            body.insert(key.clone(), value.clone());
        }
    }
    body
}

async fn create_policy(api: &ApiClient, name: &str, src: i64, dst: i64, extra: Value) -> i64 {
    api.post("/replication/policies", &policy_body(name, src, dst, extra))
        .await
        .created_id()
}

async fn schedule(stack: &LocalStack, policy_id: i64) -> Option<(String, String)> {
    let found = aws_sdk_scheduler::Client::new(&stack.adapters.sdk)
        .get_schedule()
        .group_name(&stack.plane.stack.schedule_groups[0])
        .name(format!("policy-{policy_id}"))
        .send()
        .await
        .ok()?;
    Some((
        found.schedule_expression().unwrap_or_default().to_string(),
        found
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
    ))
}

async fn fire(stack: &LocalStack, policy_id: i64, scheduled_time: &str) -> Value {
    let trigger = stack
        .plane
        .stack
        .function("ferry-trigger")
        .expect("trigger function");
    let answer = stack
        .plane
        .invoker
        .invoke(
            trigger,
            json!({"policy_id": policy_id, "scheduled_time": scheduled_time})
                .to_string()
                .into(),
        )
        .await
        .expect("trigger answers");
    serde_json::from_slice(&answer).expect("json")
}

/// `org/team<t>/svc<i>` for 5 teams of 10 services, each tagged `v1.0`, `v1.1`, `v2.0` and
/// `dev` (one image per repository under four tags): 50 nested repositories, 200 tags.
async fn push_org(http: &ferry_tests::images::RegistryHttp) -> Vec<String> {
    let base = layer(600, 4000);
    let mut repositories = Vec::new();
    for team in 0..5u64 {
        for service in 0..10u64 {
            let repository = format!("org/team{team}/svc{service}");
            http.push_image(
                &repository,
                "v1.0",
                &[base.clone(), layer(700 + team * 10 + service, 1000)],
            )
            .await;
            let manifest = http.manifest(&repository, "v1.0").await.expect("manifest");
            for tag in ["v1.1", "v2.0", "dev"] {
                http.push_manifest(
                    &repository,
                    tag,
                    "application/vnd.oci.image.manifest.v1+json",
                    &manifest,
                )
                .await;
            }
            repositories.push(repository);
        }
    }
    repositories
}

async fn finished(api: &ApiClient, execution: i64) -> Value {
    eventually(180, "the execution to finish", || async {
        let e = api
            .get(&format!("/replication/executions/{execution}"))
            .await
            .json();
        (e["status"] != "InProgress").then_some(e)
    })
    .await
}

async fn run(api: &ApiClient, policy: i64) -> Value {
    let execution = api
        .post("/replication/executions", &json!({"policy_id": policy}))
        .await
        .created_id();
    finished(api, execution).await
}

async fn tasks(api: &ApiClient, execution: i64) -> Vec<Value> {
    api.get(&format!(
        "/replication/executions/{execution}/tasks?page_size=100&page=1"
    ))
    .await
    .json()
    .as_array()
    .cloned()
    .unwrap_or_default()
}

async fn all_tasks(api: &ApiClient, execution: i64, total: usize) -> Vec<Value> {
    let mut all = Vec::new();
    for page in 1..=total.div_ceil(100).max(1) {
        let listed = api
            .get(&format!(
                "/replication/executions/{execution}/tasks?page_size=100&page={page}"
            ))
            .await
            .json();
        all.extend(listed.as_array().cloned().unwrap_or_default());
    }
    all
}
