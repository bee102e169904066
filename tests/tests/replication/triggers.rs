//! Scheduled and event-based policies: schedules that fire once per firing, webhook pushes and
//! deletes.

use super::*;

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

    let fired = first["execution_id"].as_i64().unwrap_or_default();
    assert_eq!(finished(&api, fired).await["status"], "Succeed");

    // single_active_replication: while an execution runs, a firing records a skipped one.
    let running = stack
        .adapters
        .store
        .create_execution(
            policy,
            TriggerType::Manual,
            1,
            &ferry::ports::store::Launch::Listing,
        )
        .await
        .expect("running execution");
    // It runs: it holds the policy's one place, as a start would have made it.
    assert_eq!(
        stack
            .adapters
            .store
            .claim_active(policy, running.id)
            .await
            .expect("claimed"),
        None
    );
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
    let hook = api
        .post(&format!("/registries/{src}/webhook"), &json!({}))
        .await
        .json();
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
    let other = api
        .post(&format!("/registries/{dst}/webhook"), &json!({}))
        .await
        .json();
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

#[tokio::test(flavor = "multi_thread")]
async fn the_reaper_is_scheduled_by_the_template_and_relaunches_an_execution_never_listed() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let pushed = source
        .http()
        .push_image("lost/app", "1.0", &[layer(600, 3000)])
        .await;
    let stack = LocalStack::start(
        "reaper",
        LocalStackOptions {
            extra_env: &[("FERRY_REAPER_STALE_SECS", "1")],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let trigger = stack
        .plane
        .stack
        .function("ferry-trigger")
        .expect("trigger function");
    let schedules: Vec<(String, String)> = trigger
        .schedules
        .iter()
        .map(|s| (s.expression.clone(), s.input.clone()))
        .collect();
    assert_eq!(
        schedules,
        vec![
            (
                "rate(5 minutes)".to_string(),
                r#"{"reap": true}"#.to_string()
            ),
            (
                "rate(5 minutes)".to_string(),
                r#"{"health": true}"#.to_string()
            )
        ]
    );

    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let policy = create_policy(&api, "lost", src, dst, json!({})).await;
    // What a start leaves when its process dies between recording the execution and sending
    // its list message.
    let orphan = stack
        .adapters
        .store
        .create_execution(
            policy,
            TriggerType::Manual,
            1,
            &ferry::ports::store::Launch::Listing,
        )
        .await
        .expect("execution");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let answer = stack
        .plane
        .invoker
        .invoke(trigger, json!({"reap": true}).to_string().into())
        .await
        .expect("trigger answers");
    let reaped: Value = serde_json::from_slice(&answer).expect("json");
    assert_eq!(reaped["relaunched"], 1, "{reaped}");
    let ended = finished(&api, orphan.id).await;
    assert_eq!(ended["status"], "Succeed", "{ended}");
    assert_eq!(ended["total"], 1, "{ended}");
    assert_eq!(
        destination.http().manifest_digest("lost/app", "1.0").await,
        Some(pushed)
    );
    stack.stop().await;
}

/// Seed 000's pull-based replication by webhook: a policy pulling from a Harbor into the home
/// registry (an empty destination) runs when Harbor's webhook tells of a push, with Harbor's
/// own payload; a payload of another project starts nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_pull_based_policy_runs_on_the_remote_harbors_webhook() {
    let home = TestRegistry::start();
    let behind = TestRegistry::start();
    let pushed = behind
        .http()
        .push_image("corp/app", "1.0", &[layer(530, 2000)])
        .await;
    let harbor =
        ferry_tests::fakes::harbor::FakeHarbor::start(&behind.url(), &[("robot$puller", "s3cret")])
            .await;
    let stack = LocalStack::start(
        "pull-events",
        LocalStackOptions {
            parameters: &[("HomeRegistryId", "1")],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    assert_eq!(add_registry(&api, "home", &home.url()).await, 1);
    let remote = api
        .post(
            "/registries",
            &json!({"name": "remote-harbor", "type": "harbor", "url": harbor.url(),
                    "credential": {"type": "basic", "access_key": "robot$puller", "access_secret": "s3cret"}}),
        )
        .await
        .created_id();
    let created = api
        .post(
            "/replication/policies",
            &json!({"name": "pull-corp", "src_registry": {"id": remote},
                    "trigger": {"type": "event_based"},
                    "filters": [{"type": "name", "value": "corp/**"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let policy = created.created_id();
    let shown = api
        .get(&format!("/replication/policies/{policy}"))
        .await
        .json();
    assert_eq!(
        shown["dest_registry"]["id"], 1,
        "the home registry: {shown}"
    );

    let hook = api
        .post(&format!("/registries/{remote}/webhook"), &json!({}))
        .await
        .json();
    let origin = stack
        .api
        .split("/api/v2.0")
        .next()
        .expect("origin")
        .to_string();
    let hook_url = format!("{origin}{}", hook["url"].as_str().expect("url"));
    let authorization = hook["authorization"].as_str().expect("token").to_string();
    // Harbor's webhook payload for a push (its notification model's PUSH_ARTIFACT event).
    let payload = |project: &str, digest: &str| {
        json!({"type": "PUSH_ARTIFACT", "occur_at": 1764633600, "operator": "admin",
               "event_data": {"resources": [{"digest": digest, "tag": "1.0",
                                              "resource_url": format!("harbor/{project}/app:1.0")}],
                              "repository": {"date_created": 1764633600, "name": "app",
                                             "namespace": project,
                                             "repo_full_name": format!("{project}/app"),
                                             "repo_type": "private"}}})
    };
    let http = reqwest::Client::new();
    for body in [payload("other", &pushed), payload("corp", &pushed)] {
        let answer = http
            .post(&hook_url)
            .header("authorization", &authorization)
            .json(&body)
            .send()
            .await
            .expect("post");
        assert!(answer.status().is_success(), "{}", answer.status());
    }
    eventually(
        60,
        "the pushed tag pulled into the home registry",
        || async { home.http().manifest_digest("corp/app", "1.0").await },
    )
    .await;
    assert_eq!(
        home.http().manifest_digest("corp/app", "1.0").await,
        Some(pushed)
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
    assert_eq!(
        executions.len(),
        1,
        "the other project's push started nothing"
    );
    assert_eq!(executions[0].trigger, TriggerType::EventBased);
    assert_eq!(executions[0].succeed, 1);
    assert_eq!(home.http().manifest_digest("other/app", "1.0").await, None);
    stack.stop().await;
}

/// The health monitor's round (the trigger's `{"health": true}`, on its schedule): a stopped
/// registry is marked unhealthy with the reason and the time, its policies' new executions
/// fail at once saying so, and once it runs again it is marked healthy and they run.
#[tokio::test(flavor = "multi_thread")]
async fn the_health_monitor_marks_a_stopped_registry_unhealthy_and_a_restarted_one_healthy() {
    let source = TestRegistry::start();
    let mut destination = TestRegistry::start();
    source
        .http()
        .push_image("health/app", "1.0", &[layer(7301, 2000)])
        .await;
    let (stack, api) = start("health").await;
    let trigger = stack
        .plane
        .stack
        .function("ferry-trigger")
        .expect("trigger function");
    let round = || async {
        let answer = stack
            .plane
            .invoker
            .invoke(trigger, json!({"health": true}).to_string().into())
            .await
            .expect("trigger answers");
        serde_json::from_slice::<Value>(&answer).expect("json")
    };
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let policy = create_policy(&api, "health", src, dst, json!({})).await;
    assert_eq!(round().await["healthy"], 2);

    destination.kill();
    let found = round().await;
    assert_eq!(
        (found["unhealthy"].as_u64(), found["changed"].as_u64()),
        (Some(1), Some(1)),
        "{found}"
    );
    let registry: Value = api.get(&format!("/registries/{dst}")).await.json();
    assert_eq!(registry["status"], "unhealthy", "{registry}");
    let reason = registry["health"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains(&destination.url()), "{registry}");
    assert!(registry["health"]["checked_time"].is_string(), "{registry}");
    // The list shows it too, as Harbor's does.
    let listed: Value = api.get("/registries").await.json();
    assert!(
        listed.as_array().is_some_and(|all| all
            .iter()
            .any(|r| r["id"] == dst && r["status"] == "unhealthy")),
        "{listed}"
    );
    let failed = run(&api, policy).await;
    assert_eq!(failed["status"], "Failed", "{failed}");
    let text = failed["status_text"].as_str().unwrap_or_default();
    assert!(
        text.contains("destination registry dst") && text.contains("unhealthy"),
        "{text}"
    );
    assert_eq!(failed["total"], 0, "failed before any task: {failed}");

    destination.restart();
    let found = round().await;
    assert_eq!(
        (found["healthy"].as_u64(), found["changed"].as_u64()),
        (Some(2), Some(1)),
        "{found}"
    );
    let registry: Value = api.get(&format!("/registries/{dst}")).await.json();
    assert_eq!(registry["status"], "healthy", "{registry}");
    assert!(registry["health"].get("reason").is_none(), "{registry}");
    let ran = run(&api, policy).await;
    assert_eq!(ran["status"], "Succeed", "{ran}");
    stack.stop().await;
}
