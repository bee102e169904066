//! A plan through the API (`"dry_run": true`) on the local stack: the execution and its tasks
//! say what would happen, the destination is untouched, and the real execution that follows
//! does, task by task, what the plan said.

use super::*;

/// Each task's source and what it came to: copy, overwrite, unchanged or held.
async fn outcomes(api: &ApiClient, execution: i64) -> Vec<(String, String)> {
    let tasks = api
        .get(&format!("/replication/executions/{execution}/tasks"))
        .await
        .json();
    let mut outcomes: Vec<(String, String)> = tasks
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            let text = t["status_text"].as_str().unwrap_or_default();
            let kind = if text.starts_with("plan: copy") || text.is_empty() {
                "copy"
            } else if text.starts_with("plan: overwrite") {
                "overwrite"
            } else if text.contains("unchanged") {
                "unchanged"
            } else if text.contains("override is off") {
                "held"
            } else {
                "other"
            };
            (
                t["src_resource"].as_str().unwrap_or_default().to_string(),
                kind.to_string(),
            )
        })
        .collect();
    outcomes.sort();
    outcomes
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_plans_what_the_next_run_does_and_writes_nothing() {
    let (stack, api) = start("plan").await;
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let (src_http, dst_http) = (source.http(), destination.http());
    src_http
        .push_image("team/new", "1.0", &[layer(950, 900)])
        .await;
    src_http
        .push_image("team/same", "1.0", &[layer(951, 900)])
        .await;
    dst_http
        .push_image("team/same", "1.0", &[layer(951, 900)])
        .await;
    src_http
        .push_image("team/held", "1.0", &[layer(952, 900)])
        .await;
    dst_http
        .push_image("team/held", "1.0", &[layer(953, 900)])
        .await;
    let held_before = dst_http.manifest_digest("team/held", "1.0").await;
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let policy = create_policy(
        &api,
        "planned",
        src,
        dst,
        json!({"override": false, "filters": [{"type": "name", "value": "team/**"}]}),
    )
    .await;
    let plan = api
        .post(
            "/replication/executions",
            &json!({"policy_id": policy, "dry_run": true}),
        )
        .await
        .created_id();
    let planned = finished(&api, plan).await;
    assert_eq!(planned["status"], "Succeed", "{planned}");
    assert_eq!(planned["dry_run"], true, "{planned}");
    assert_eq!(planned["total"], 3);
    let plan_outcomes = outcomes(&api, plan).await;
    assert_eq!(
        plan_outcomes,
        vec![
            ("team/held:1.0".to_string(), "held".to_string()),
            ("team/new:1.0".to_string(), "copy".to_string()),
            ("team/same:1.0".to_string(), "unchanged".to_string()),
        ]
    );
    assert!(
        dst_http.manifest_digest("team/new", "1.0").await.is_none(),
        "nothing copied"
    );

    let real = api
        .post("/replication/executions", &json!({"policy_id": policy}))
        .await
        .created_id();
    let done = finished(&api, real).await;
    assert_eq!(done["status"], "Succeed", "{done}");
    assert!(
        done.get("dry_run").is_none(),
        "a real execution has no dry_run: {done}"
    );
    assert_eq!(done["total"], planned["total"]);
    assert_eq!(outcomes(&api, real).await, plan_outcomes, "task by task");
    assert!(dst_http.manifest_digest("team/new", "1.0").await.is_some());
    assert_eq!(
        dst_http.manifest_digest("team/held", "1.0").await,
        held_before
    );
    drop(stack);
}
