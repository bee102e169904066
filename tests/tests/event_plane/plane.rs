//! The event plane's other parts: the HTTP gateway and schedules firing the trigger.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_serves_the_api_function() {
    let stack = LocalStack::start("gateway", LocalStackOptions::default()).await;
    let http = reqwest::Client::new();
    let ping = http
        .get(format!("{}/ping", stack.api))
        .header("x-request-id", "trace-me")
        .send()
        .await
        .expect("ping");
    assert_eq!(ping.status(), 200);
    assert_eq!(ping.headers()["x-request-id"], "trace-me");
    assert_eq!(ping.text().await.expect("body"), "Pong");

    let info = http
        .get(format!("{}/systeminfo", stack.api))
        .send()
        .await
        .expect("systeminfo");
    assert_eq!(info.status(), 200);
    let info: serde_json::Value = info.json().await.expect("json");
    assert!(info["harbor_version"]
        .as_str()
        .unwrap_or_default()
        .starts_with("ferry-"));

    let anonymous = http
        .get(format!("{}/registries", stack.api))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    assert!(
        anonymous.headers().contains_key("x-request-id"),
        "a request id is generated"
    );
    let body: serde_json::Value = anonymous.json().await.expect("harbor error body");
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");

    let wrong = http
        .get(format!("{}/registries", stack.api))
        .basic_auth("admin", Some("nope"))
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), 401);
    let unknown = http
        .get(format!("{}/no-such-route", stack.api))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 404);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_fires_trigger_and_the_execution_runs_through_lister_and_transfer() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let stack = LocalStack::start("schedule", LocalStackOptions::default()).await;
    let src_id = add_registry(&stack, "src", &source.url()).await;
    let dst_id = add_registry(&stack, "dst", &destination.url()).await;
    let nested = source
        .http()
        .push_image("team/tools/app", "1.0", &[layer(10, 2000)])
        .await;
    let plain = source
        .http()
        .push_image("web", "2.0", &[layer(11, 2000), layer(10, 2000)])
        .await;
    let policy = stack
        .adapters
        .store
        .create_policy(&ReplicationPolicy {
            name: "nightly".into(),
            src_registry: Some(Registry {
                id: src_id,
                ..Registry::default()
            }),
            dest_registry: Some(Registry {
                id: dst_id,
                ..Registry::default()
            }),
            dest_namespace: "mirror".into(),
            dest_namespace_replace_count: 0,
            ..ReplicationPolicy::default()
        })
        .await
        .expect("policy");

    let trigger = stack
        .plane
        .stack
        .function("ferry-trigger")
        .expect("trigger function");
    let at = (time::OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .expect("time");
    aws_sdk_scheduler::Client::new(&stack.adapters.sdk)
        .create_schedule()
        .group_name(&stack.plane.stack.schedule_groups[0])
        .name(format!("policy-{}", policy.id))
        .schedule_expression(format!("at({at})"))
        .flexible_time_window(
            aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
                .mode(aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off)
                .build()
                .expect("window"),
        )
        .target(
            aws_sdk_scheduler::types::Target::builder()
                .arn(&trigger.arn)
                .role_arn("arn:aws:iam::123456789012:role/scheduler")
                .input(serde_json::json!({"policy_id": policy.id}).to_string())
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("schedule");

    let execution = eventually(60, "a finished scheduled execution", || async {
        let page = stack
            .adapters
            .store
            .list_executions(Some(policy.id), None, 10)
            .await
            .expect("list");
        page.items.into_iter().find(|e| e.status.is_final())
    })
    .await;
    assert_eq!(execution.trigger, TriggerType::Scheduled);
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeed,
        "{}",
        execution.status_text
    );
    assert_eq!((execution.total, execution.succeed), (2, 2));
    assert_eq!(
        destination
            .http()
            .manifest_digest("mirror/team/tools/app", "1.0")
            .await,
        Some(nested)
    );
    assert_eq!(
        destination
            .http()
            .manifest_digest("mirror/web", "2.0")
            .await,
        Some(plain)
    );
    stack.stop().await;
}
