//! `/replication/executions`: executions, their tasks and task logs.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn executions_tasks_and_logs() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let (stack, api) = start().await;
    let swagger = Swagger::load();
    let src = api
        .post("/registries", &registry_body("src", &source.url()))
        .await
        .created_id();
    let dst = api
        .post("/registries", &registry_body("dst", &destination.url()))
        .await
        .created_id();
    let digest = source
        .http()
        .push_image("library/app", "v1", &[layer(20, 5000)])
        .await;
    source
        .http()
        .push_image("library/app", "v2", &[layer(21, 5000)])
        .await;
    let policy = api
        .post(
            "/replication/policies",
            &json!({"name": "copy", "src_registry": {"id": src}, "dest_registry": {"id": dst},
                    "filters": [{"type": "tag", "value": "v1"}]}),
        )
        .await
        .created_id();

    let started = api
        .post("/replication/executions", &json!({"policy_id": policy}))
        .await;
    let execution = started.created_id();
    assert_eq!(
        started.header("location"),
        format!("/api/v2.0/replication/executions/{execution}")
    );
    let done = eventually(60, "the execution to finish", || async {
        let body = api
            .get(&format!("/replication/executions/{execution}"))
            .await
            .json();
        (body["status"] != "InProgress").then_some(body)
    })
    .await;
    assert_eq!(done["status"], "Succeed", "{done}");
    assert_eq!(
        (done["total"].as_i64(), done["succeed"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(done["trigger"], "manual");
    assert_eq!(
        swagger.check("ReplicationExecution", &done, &[]),
        Vec::<String>::new()
    );
    assert_eq!(
        destination
            .http()
            .manifest_digest("library/app", "v1")
            .await,
        Some(digest)
    );

    let listed = api
        .get(&format!(
            "/replication/executions?policy_id={policy}&status=Succeed&trigger=manual"
        ))
        .await;
    assert_eq!(listed.header("x-total-count"), "1");
    assert_eq!(
        api.get(&format!(
            "/replication/executions?policy_id={policy}&status=Failed"
        ))
        .await
        .header("x-total-count"),
        "0"
    );
    assert_eq!(
        api.get("/replication/executions?status=Sleeping")
            .await
            .status,
        400
    );
    assert_eq!(
        api.get("/replication/executions?policy_id=abc")
            .await
            .status,
        400
    );

    let tasks = api
        .get(&format!("/replication/executions/{execution}/tasks"))
        .await;
    assert_eq!(tasks.header("x-total-count"), "1");
    let task = tasks.json()[0].clone();
    assert_eq!(
        swagger.check("ReplicationTask", &task, TASK_EXTENSIONS),
        Vec::<String>::new()
    );
    assert_eq!(task["src_resource"], "library/app:v1");
    assert_eq!(
        api.get(&format!(
            "/replication/executions/{execution}/tasks?status=Failed&resource_type=image"
        ))
        .await
        .header("x-total-count"),
        "0"
    );
    // `q` finds a repository's tasks; a field it does not know is a 400 naming `q`.
    for (q, count) in [
        ("src_resource=~library/app", "1"),
        ("src_resource=~nginx", "0"),
    ] {
        let found = api
            .get(&format!("/replication/executions/{execution}/tasks?q={q}"))
            .await;
        assert_eq!(found.header("x-total-count"), count, "{q}: {}", found.text);
    }
    let unknown = api
        .get(&format!(
            "/replication/executions/{execution}/tasks?q=digest=x"
        ))
        .await;
    assert_eq!(
        (unknown.status, unknown.error().contains("q")),
        (400, true),
        "{}",
        unknown.text
    );
    assert_eq!(
        api.get(&format!(
            "/replication/executions/{execution}/tasks?resource_type=not%20a%20type"
        ))
        .await
        .status,
        400
    );
    let log = api
        .get(&format!(
            "/replication/executions/{execution}/tasks/{}/log",
            task["id"]
        ))
        .await;
    assert_eq!(log.status, 200);
    assert!(log.header("content-type").starts_with("text/plain"));
    assert!(log.text.contains("library/app:v1"), "{}", log.text);

    assert_eq!(api.get("/replication/executions/9999").await.status, 404);
    assert_eq!(
        api.get("/replication/executions/9999/tasks").await.status,
        404
    );
    assert_eq!(
        api.get(&format!(
            "/replication/executions/{execution}/tasks/9999/log"
        ))
        .await
        .status,
        404
    );
    assert_eq!(
        api.put("/replication/executions/9999", &json!({}))
            .await
            .status,
        404
    );
    assert_eq!(
        api.post("/replication/executions", &json!({"policy_id": 9999}))
            .await
            .status,
        404
    );
    assert_eq!(
        api.post("/replication/executions", &json!({})).await.status,
        400
    );
    assert_eq!(
        api.post("/replication/executions", &json!({"policy_id": "one"}))
            .await
            .status,
        400
    );
    stack.stop().await;
}
