//! Replication end to end through the HTTP API on the local stack: policies with filters run to
//! an exact final status, schedules live on the emulator and fire the trigger, starts are once
//! per firing, `single_active_replication` skips.

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

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_policy_has_its_schedule_fires_once_per_firing_and_skips_while_one_runs() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    source
        .http()
        .push_image("cron/app", "1.0", &[layer(400, 3000)])
        .await;
    let (stack, api) = start("sched").await;
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;

    // Harbor's six-field cron that EventBridge cannot express is refused before anything is kept.
    let refused = api
        .post(
            "/replication/policies",
            &policy_body(
                "both-days",
                src,
                dst,
                json!({"trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 0 0 1 * 1"}}}),
            ),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.error().contains("trigger.trigger_settings.cron"));

    // Every minute: the schedule exists on the emulator in EventBridge's syntax and fires.
    let policy = create_policy(
        &api,
        "every-minute",
        src,
        dst,
        json!({"trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 */1 * * * *"}}}),
    )
    .await;
    assert_eq!(
        schedule(&stack, policy).await,
        Some(("cron(*/1 * * * ? *)".into(), "ENABLED".into()))
    );
    let fired = eventually(90, "a scheduled execution to finish", || async {
        let page = stack
            .adapters
            .store
            .list_executions(Some(policy), None, 10)
            .await
            .expect("list");
        page.items
            .into_iter()
            .find(|e| e.trigger == TriggerType::Scheduled && e.status.is_final())
    })
    .await;
    assert_eq!(
        fired.status,
        ExecutionStatus::Succeed,
        "{}",
        fired.status_text
    );
    assert_eq!(
        destination.http().manifest_digest("cron/app", "1.0").await,
        source.http().manifest_digest("cron/app", "1.0").await
    );

    // Daily on weekdays, disabled: the schedule changes and stops firing.
    let mut changed = policy_body(
        "every-minute",
        src,
        dst,
        json!({"trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 30 2 * * 1-5"}},
               "enabled": false, "single_active_replication": true}),
    );
    assert_eq!(
        api.put(&format!("/replication/policies/{policy}"), &changed)
            .await
            .status,
        200
    );
    assert_eq!(
        schedule(&stack, policy).await,
        Some(("cron(30 2 ? * MON-FRI *)".into(), "DISABLED".into()))
    );
    changed["enabled"] = json!(true);
    assert_eq!(
        api.put(&format!("/replication/policies/{policy}"), &changed)
            .await
            .status,
        200
    );

    // One firing delivered twice starts one execution.
    let before = stack
        .adapters
        .store
        .list_executions(Some(policy), None, 100)
        .await
        .expect("list")
        .items
        .len();
    let first = fire(&stack, policy, "2026-11-23T02:30:00Z").await;
    let again = fire(&stack, policy, "2026-11-23T02:30:00Z").await;
    assert!(first["execution_id"].as_i64().is_some(), "{first}");
    assert_eq!(again["execution_id"], Value::Null, "{again}");
    let after = stack
        .adapters
        .store
        .list_executions(Some(policy), None, 100)
        .await
        .expect("list")
        .items
        .len();
    assert_eq!(after, before + 1);

    // single_active_replication: while an execution runs, a firing records a skipped one.
    let running = stack
        .adapters
        .store
        .create_execution(policy, TriggerType::Manual, 1)
        .await
        .expect("running execution");
    let skipped = fire(&stack, policy, "2026-11-24T02:30:00Z").await;
    let skipped_id = skipped["execution_id"].as_i64().expect("skipped execution");
    let record = api
        .get(&format!("/replication/executions/{skipped_id}"))
        .await
        .json();
    assert_eq!(record["status"], "Stopped", "{record}");
    assert_eq!(record["trigger"], "scheduled");
    let text = record["status_text"].as_str().unwrap_or_default();
    assert!(
        text.contains("single_active_replication") && text.contains(&running.id.to_string()),
        "{text}"
    );
    stack
        .adapters
        .store
        .end_execution(running.id, ExecutionStatus::Stopped, "test over")
        .await
        .expect("end");

    // A manual trigger deletes the schedule, as does deleting the policy.
    let manual = policy_body("every-minute", src, dst, json!({}));
    assert_eq!(
        api.put(&format!("/replication/policies/{policy}"), &manual)
            .await
            .status,
        200
    );
    assert_eq!(schedule(&stack, policy).await, None);
    let nightly = create_policy(
        &api,
        "nightly",
        src,
        dst,
        json!({"trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 0 3 * * *"}}}),
    )
    .await;
    assert!(schedule(&stack, nightly).await.is_some());
    assert_eq!(
        api.delete(&format!("/replication/policies/{nightly}"))
            .await
            .status,
        200
    );
    assert_eq!(schedule(&stack, nightly).await, None);
    assert!(stack.adapters.store.get_policy(nightly).await.is_err());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pushes_and_deletes_at_the_source_replicate_through_its_webhook() {
    let mut source = TestRegistry::start();
    let destination = TestRegistry::start();
    let (stack, api) = start("events").await;
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let hook = api.get(&format!("/registries/{src}/webhook")).await.json();
    let origin = stack
        .api
        .split("/api/v2.0")
        .next()
        .expect("origin")
        .to_string();
    let hook_url = format!("{origin}{}", hook["url"].as_str().expect("url"));
    let authorization = hook["authorization"].as_str().expect("token").to_string();

    // Another registry's token, or none, is refused.
    let http = reqwest::Client::new();
    let other = api.get(&format!("/registries/{dst}/webhook")).await.json();
    for wrong in [
        other["authorization"].as_str().expect("token"),
        "Bearer nope",
    ] {
        let refused = http
            .post(&hook_url)
            .header("authorization", wrong)
            .body(r#"{"events":[]}"#)
            .send()
            .await
            .expect("post");
        assert_eq!(refused.status(), 401);
    }
    let garbled = http
        .post(&hook_url)
        .header("authorization", &authorization)
        .body("not an event")
        .send()
        .await
        .expect("post");
    assert_eq!(garbled.status(), 400);

    let policy = create_policy(
        &api,
        "on-push",
        src,
        dst,
        json!({"trigger": {"type": "event_based"}, "replicate_deletion": true,
                       "filters": [{"type": "name", "value": "apps/**"},
                                   {"type": "tag", "value": "v*"}]}),
    )
    .await;
    source.notify(&hook_url, &authorization);
    let http_source = source.http();

    // Outside the filters: a tag, a repository. Then one inside, which arrives within seconds.
    http_source
        .push_image("apps/web", "dev", &[layer(500, 2000)])
        .await;
    http_source
        .push_image("other/tool", "v1", &[layer(501, 2000)])
        .await;
    let pushed = http_source
        .push_image("apps/web", "v1", &[layer(502, 2000)])
        .await;
    let arrived = std::time::Instant::now();
    eventually(30, "the pushed tag at the destination", || async {
        destination.http().manifest_digest("apps/web", "v1").await
    })
    .await;
    assert!(arrived.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(
        destination.http().manifest_digest("apps/web", "v1").await,
        Some(pushed.clone())
    );
    let executions = eventually(30, "the event execution to finish", || async {
        let page = stack
            .adapters
            .store
            .list_executions(Some(policy), None, 10)
            .await
            .expect("list");
        page.items
            .iter()
            .all(|e| e.status.is_final())
            .then_some(page.items)
    })
    .await;
    assert_eq!(executions.len(), 1, "only the tag within the filters");
    assert_eq!(executions[0].trigger, TriggerType::EventBased);
    assert_eq!((executions[0].total, executions[0].succeed), (1, 1));
    assert_eq!(
        destination.http().manifest_digest("apps/web", "dev").await,
        None
    );
    assert_eq!(
        destination.http().manifest_digest("other/tool", "v1").await,
        None
    );

    // A delete at the source deletes at the destination: the destination's only tag on that
    // digest is within the filters.
    let deleted = http
        .delete(format!("{}/v2/apps/web/manifests/{pushed}", source.url()))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 202);
    eventually(30, "the deletion at the destination", || async {
        destination
            .http()
            .manifest_digest("apps/web", "v1")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    stack.stop().await;
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

#[tokio::test(flavor = "multi_thread")]
async fn a_filtered_policy_replicates_a_large_source_exactly_and_again_moves_nothing() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let http = source.http();
    let org = push_org(&http).await;
    let index = http
        .push_index("multi/arch", "v1.0", &["amd64", "arm64", "s390x"], 800)
        .await;
    let chart = http.push_chart("charts/demo", "v1.0", 810).await;
    let signed = http
        .push_image("signed/app", "v1.0", &[layer(820, 1500)])
        .await;
    let signature = http.push_cosign_signature("signed/app", &signed).await;
    let labelled = {
        let config = http.push_blob("labelled/app", b"{}").await;
        let content = layer(830, 900);
        let content_digest = http.push_blob("labelled/app", &content).await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": content_digest, "size": content.len()}],
            "annotations": {"team": "payments"},
        }))
        .expect("json");
        http.push_manifest(
            "labelled/app",
            "v1",
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
        .await
    };

    let (stack, api) = start("large").await;
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let policy = create_policy(
        &api,
        "mirror-v1",
        src,
        dst,
        json!({"dest_namespace": "mirror", "dest_namespace_replace_count": 0,
                       "filters": [{"type": "name", "value": "{org,multi,charts,signed}/**"},
                                   {"type": "tag", "value": "v1.*"}]}),
    )
    .await;
    let first = run(&api, policy).await;
    // 50 repositories x 2 tags, the index, the chart and the signed image.
    assert_eq!(first["status"], "Succeed", "{first}");
    assert_eq!(
        (first["total"].as_i64(), first["succeed"].as_i64()),
        (Some(103), Some(103))
    );
    let at_destination = destination.http();
    for repository in &org {
        for tag in ["v1.0", "v1.1"] {
            assert_eq!(
                at_destination
                    .manifest_digest(&format!("mirror/{repository}"), tag)
                    .await,
                http.manifest_digest(repository, tag).await,
                "{repository}:{tag}"
            );
        }
    }
    assert_eq!(
        at_destination
            .manifest_digest("mirror/org/team0/svc0", "v2.0")
            .await,
        None
    );
    assert_eq!(
        at_destination
            .manifest_digest("mirror/org/team0/svc0", "dev")
            .await,
        None
    );
    assert_eq!(
        at_destination
            .manifest_digest("mirror/multi/arch", "v1.0")
            .await,
        Some(index)
    );
    assert_eq!(
        at_destination
            .manifest_digest("mirror/charts/demo", "v1.0")
            .await,
        Some(chart)
    );
    let sig_tag = format!("sha256-{}.sig", signed.trim_start_matches("sha256:"));
    assert_eq!(
        at_destination
            .manifest_digest("mirror/signed/app", &sig_tag)
            .await,
        Some(signature),
        "the signature follows its image"
    );
    assert_eq!(
        at_destination
            .manifest_digest("mirror/labelled/app", "v1")
            .await,
        None
    );

    // The same run again moves no blob.
    let second = run(&api, policy).await;
    assert_eq!(second["status"], "Succeed", "{second}");
    assert_eq!(second["total"].as_i64(), Some(103));
    let listed = all_tasks(&api, second["id"].as_i64().expect("id"), 103).await;
    assert_eq!(listed.len(), 103);
    let moved: i64 = listed
        .iter()
        .map(|t| {
            t["bytes_copied"].as_i64().unwrap_or_default()
                + t["blobs_copied"].as_i64().unwrap_or_default()
        })
        .sum();
    assert_eq!(moved, 0);
    let unchanged = listed
        .iter()
        .filter(|t| {
            t["status_text"]
                .as_str()
                .unwrap_or_default()
                .starts_with("skipped: unchanged")
        })
        .count();
    assert_eq!(
        unchanged, 102,
        "every artifact but the signed one (its referrers are checked) at two HEADs"
    );

    // The resource filter and the label filter, from media types and annotations.
    let charts_only = create_policy(
        &api,
        "charts-only",
        src,
        dst,
        json!({"dest_namespace": "kinds", "dest_namespace_replace_count": 0,
                       "filters": [{"type": "name", "value": "{charts,labelled,multi}/**"},
                                   {"type": "resource", "value": "chart"}]}),
    )
    .await;
    let charts_run = run(&api, charts_only).await;
    assert_eq!(
        (charts_run["status"].as_str(), charts_run["total"].as_i64()),
        (Some("Succeed"), Some(1))
    );
    let listed = tasks(&api, charts_run["id"].as_i64().expect("id")).await;
    assert_eq!(listed[0]["resource_type"], "chart", "{listed:?}");
    assert!(at_destination
        .manifest_digest("kinds/charts/demo", "v1.0")
        .await
        .is_some());
    let by_label = create_policy(
        &api,
        "payments",
        src,
        dst,
        json!({"dest_namespace": "labels", "dest_namespace_replace_count": 0,
                       "filters": [{"type": "name", "value": "{charts,labelled,multi}/**"},
                                   {"type": "label", "value": ["team=payments"]}]}),
    )
    .await;
    let label_run = run(&api, by_label).await;
    assert_eq!(
        (label_run["status"].as_str(), label_run["total"].as_i64()),
        (Some("Succeed"), Some(1))
    );
    assert_eq!(
        at_destination
            .manifest_digest("labels/labelled/app", "v1")
            .await,
        Some(labelled)
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_a_100_task_execution_leaves_no_task_running_and_retry_copies_only_what_failed() {
    use ferry_tests::faults::{Action, Fault, FaultProxy};
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    push_org(&source.http()).await;
    // A slow destination: every manifest PUT waits 1.5 s, so 100 tasks take a while.
    let slow = FaultProxy::start(
        &destination.url(),
        vec![Fault {
            method: "PUT",
            path: "/manifests/".into(),
            action: Action::Delay(1500),
            times: 10_000,
        }],
    )
    .await;
    // A destination that refuses team1/svc3's manifests twice (its two v1 tags), for good.
    let refusing = FaultProxy::start(
        &destination.url(),
        vec![Fault {
            method: "PUT",
            path: "retry/org/team1/svc3/manifests/".into(),
            action: Action::Status(403, None),
            times: 2,
        }],
    )
    .await;
    let stack = LocalStack::start(
        "stop100",
        LocalStackOptions {
            visibility_timeout: 30,
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let src = add_registry(&api, "src", &source.url()).await;
    let slow_dst = add_registry(&api, "slow", &slow.url()).await;
    let refusing_dst = add_registry(&api, "refusing", &refusing.url()).await;

    let policy = create_policy(&api, "hundred",
                src,
                slow_dst,
                json!({"dest_namespace": "stop", "dest_namespace_replace_count": 0,
                       "filters": [{"type": "name", "value": "org/**"}, {"type": "tag", "value": "v1.*"}]})).await;
    let execution = api
        .post("/replication/executions", &json!({"policy_id": policy}))
        .await
        .created_id();
    eventually(120, "some tasks done and the listing complete", || async {
        let e = api
            .get(&format!("/replication/executions/{execution}"))
            .await
            .json();
        (e["total"].as_i64() == Some(100) && e["succeed"].as_i64().unwrap_or_default() > 0)
            .then_some(())
    })
    .await;
    assert_eq!(
        api.put(&format!("/replication/executions/{execution}"), &json!({}))
            .await
            .status,
        200
    );
    let stopped = finished(&api, execution).await;
    assert_eq!(stopped["status"], "Stopped", "{stopped}");
    let settled = eventually(120, "every task to end", || async {
        let listed = all_tasks(&api, execution, 100).await;
        listed
            .iter()
            .all(|t| t["status"] != "InProgress" && t["status"] != "Pending")
            .then_some(listed)
    })
    .await;
    assert_eq!(settled.len(), 100);
    let count = |status: &str| settled.iter().filter(|t| t["status"] == status).count();
    assert!(count("Stopped") > 0, "the stop came in the middle");
    assert_eq!(count("Succeed") + count("Stopped") + count("Failed"), 100);
    let record = api
        .get(&format!("/replication/executions/{execution}"))
        .await
        .json();
    assert_eq!(record["in_progress"], 0, "{record}");

    // Retry: only the failed tasks run again, as a new execution.
    let policy = create_policy(&api, "team1",
                src,
                refusing_dst,
                json!({"dest_namespace": "retry", "dest_namespace_replace_count": 0,
                       "filters": [{"type": "name", "value": "org/team1/**"}, {"type": "tag", "value": "v1.*"}]})).await;
    let failed = run(&api, policy).await;
    assert_eq!(failed["status"], "Failed", "{failed}");
    assert_eq!(
        (failed["total"].as_i64(), failed["failed"].as_i64()),
        (Some(20), Some(2))
    );
    let failed_id = failed["id"].as_i64().expect("id");
    let running = api
        .post(
            &format!("/replication/executions/{execution}/retry"),
            &json!({}),
        )
        .await;
    assert_eq!(
        running.status, 412,
        "a stopped execution with no failed task: {}",
        running.text
    );
    let retried = api
        .post(
            &format!("/replication/executions/{failed_id}/retry"),
            &json!({}),
        )
        .await
        .created_id();
    let retry = finished(&api, retried).await;
    assert_eq!(retry["status"], "Succeed", "{retry}");
    assert_eq!(
        (retry["total"].as_i64(), retry["succeed"].as_i64()),
        (Some(2), Some(2))
    );
    let retried_tasks = tasks(&api, retried).await;
    assert!(retried_tasks.iter().all(|t| t["src_resource"]
        .as_str()
        .unwrap_or_default()
        .contains("org/team1/svc3")));
    assert!(destination
        .http()
        .manifest_digest("retry/org/team1/svc3", "v1.0")
        .await
        .is_some());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn executions_beyond_the_newest_kept_are_swept_with_their_tasks_and_logs() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    source
        .http()
        .push_image("swept/app", "v1", &[layer(900, 1000)])
        .await;
    let stack = LocalStack::start(
        "sweep",
        LocalStackOptions {
            parameters: &[("KeepExecutions", "2")],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let policy = create_policy(&api, "swept", src, dst, json!({})).await;
    let mut ran = Vec::new();
    let mut first_task = None;
    for _ in 0..4 {
        let execution = run(&api, policy).await;
        let id = execution["id"].as_i64().expect("id");
        if first_task.is_none() {
            let listed = tasks(&api, id).await;
            first_task = listed.first().and_then(|t| t["id"].as_i64());
            let log = stack
                .adapters
                .logs
                .read(id, first_task.expect("a task"))
                .await;
            assert!(log.is_ok_and(|l| !l.is_empty()), "a log to sweep");
        }
        ran.push(id);
    }
    // The sweep runs right after the execution's end is written: wait for it.
    let mut newest = ran[2..].to_vec();
    newest.sort_unstable_by(|a, b| b.cmp(a));
    eventually(30, "the newest two kept, the rest swept", || async {
        let mut remaining: Vec<i64> = api
            .get(&format!("/replication/executions?policy_id={policy}"))
            .await
            .json()
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|e| e["id"].as_i64())
            .collect();
        remaining.sort_unstable_by(|a, b| b.cmp(a));
        (remaining == newest).then_some(())
    })
    .await;
    assert!(
        tasks(&api, ran[0]).await.is_empty(),
        "its tasks went with it"
    );
    assert_eq!(
        api.get(&format!("/replication/executions/{}", ran[0]))
            .await
            .status,
        404
    );
    let log = stack
        .adapters
        .logs
        .read(ran[0], first_task.expect("a task"))
        .await;
    assert!(
        log.map(|l| l.is_empty()).unwrap_or(true),
        "its logs went too"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_harbor_destination_gets_its_projects_before_any_copy() {
    use ferry_tests::faults::FaultProxy;
    let source = TestRegistry::start();
    let behind = TestRegistry::start();
    // Harbor's projects API in front of a real registry, for the robot account below.
    let harbor = FaultProxy::start_harbor(&behind.url(), "robot", "s3cret").await;
    let http = source.http();
    let app = http
        .push_image("team-a/app", "v1", &[layer(950, 1000)])
        .await;
    let cli = http
        .push_image("team-b/tools/cli", "v1", &[layer(951, 1000)])
        .await;
    let (stack, api) = start("harbor").await;
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = api
        .post(
            "/registries",
            &json!({"name": "harbor", "type": "harbor", "url": harbor.url(),
                    "credential": {"type": "basic", "access_key": "robot", "access_secret": "s3cret"}}),
        )
        .await
        .created_id();
    let policy = create_policy(&api, "to-harbor", src, dst, json!({})).await;
    let first = run(&api, policy).await;
    assert_eq!(first["status"], "Succeed", "{first}");
    assert_eq!(first["total"].as_i64(), Some(2));
    let (projects, requests) = harbor.projects();
    assert_eq!(projects, vec!["team-a".to_string(), "team-b".to_string()]);
    let swagger = ferry_tests::swagger::Swagger::load();
    for request in &requests {
        assert_eq!(
            swagger.check("ProjectReq", request, &[]),
            Vec::<String>::new()
        );
    }
    assert_eq!(
        behind.http().manifest_digest("team-a/app", "v1").await,
        Some(app)
    );
    assert_eq!(
        behind
            .http()
            .manifest_digest("team-b/tools/cli", "v1")
            .await,
        Some(cli)
    );

    // The projects exist now: asked after, not made again.
    let again = run(&api, policy).await;
    assert_eq!(again["status"], "Succeed", "{again}");
    assert_eq!(harbor.projects().1.len(), 2);

    // A project the destination refuses fails the execution before any task, saying why.
    let refused = create_policy(
        &api,
        "refused",
        src,
        dst,
        json!({"dest_namespace": "forbidden", "dest_namespace_replace_count": 0}),
    )
    .await;
    let failed = run(&api, refused).await;
    assert_eq!(failed["status"], "Failed", "{failed}");
    assert_eq!(failed["total"].as_i64(), Some(0));
    let text = failed["status_text"].as_str().unwrap_or_default();
    assert!(
        text.contains("preparing the destination")
            && text.contains("forbidden")
            && text.contains("403"),
        "{text}"
    );
    stack.stop().await;
}
