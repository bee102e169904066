//! What an execution leaves behind: swept history, and a Harbor destination's projects.

use super::*;

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
            let task = first_task.expect("a task");
            // A short log is kept with its task; what a retried delivery writes goes to S3.
            stack
                .adapters
                .logs
                .append(id, task, "00000-00000", &["attempt 0 failed".into()])
                .await
                .expect("a log in S3");
            let log = api
                .get(&format!("/replication/executions/{id}/tasks/{task}/log"))
                .await
                .text;
            assert!(
                log.starts_with("attempt 0 failed\n") && log.contains("attempt 1"),
                "the log store's entries, then the task's own: {log}"
            );
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
