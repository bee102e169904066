//! `/replication/policies`: routes, validation, Harbor's shapes, the home registry.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn policies_routes_validation_and_swagger_shapes() {
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

    // A body with every field of Harbor's ReplicationPolicy, as a generated client sends it.
    let harbor_body = swagger.example(
        "ReplicationPolicy",
        &json!({
            "name": "nightly", "src_registry": {"id": src}, "dest_registry": {"id": dst},
            "dest_namespace": "mirror", "dest_namespace_replace_count": 1,
            "trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 0 2 * * *"}},
            "filters": [{"type": "name", "value": "library/**"}, {"type": "tag", "value": "v*", "decoration": "matches"}],
            "deletion": true, "override": true, "enabled": true, "speed": -1,
        }),
    );
    let created = api.post("/replication/policies", &harbor_body).await;
    let id = created.created_id();
    assert_eq!(
        created.header("location"),
        format!("/api/v2.0/replication/policies/{id}")
    );
    let body = api.get(&format!("/replication/policies/{id}")).await.json();
    assert_eq!(
        // Its registries carry Ferry's `health` addition.
        swagger.check("ReplicationPolicy", &body, &["health"]),
        Vec::<String>::new()
    );
    assert_eq!(
        body["src_registry"]["name"], "src",
        "registries are embedded"
    );
    assert_eq!(
        body["dest_registry"]["credential"]["access_secret"],
        "*****"
    );
    assert_eq!(
        body["replicate_deletion"], true,
        "the old `deletion` name is honoured"
    );
    assert_eq!(body["trigger"]["trigger_settings"]["cron"], "0 0 2 * * *");

    let valid = json!({"name": "x", "src_registry": {"id": src}, "dest_registry": {"id": dst}});
    let with = |patch: Value| {
        let mut body = valid.clone();
        for (k, v) in patch.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (with(json!({"name": "nightly"})), 409, "already exists"),
        (
            with(json!({"dest_registry": {"id": 9999}})),
            400,
            "dest_registry.id",
        ),
        (
            with(json!({"dest_registry": {"id": 0}})),
            400,
            "home registry",
        ),
        (
            with(
                json!({"trigger": {"type": "scheduled", "trigger_settings": {"cron": "* * * * *"}}}),
            ),
            400,
            "trigger.trigger_settings.cron",
        ),
        (with(json!({"trigger": {"type": "hourly"}})), 400, "trigger"),
        (
            with(json!({"filters": [{"type": "size", "value": "1"}]})),
            400,
            "filters",
        ),
        (
            with(json!({"filters": [{"type": "name", "value": "[a-"}]})),
            400,
            "filters[0].value",
        ),
        (
            with(json!({"filters": [{"type": "tag", "value": "v1", "decoration": "maybe"}]})),
            400,
            "decoration",
        ),
        (
            with(json!({"dest_namespace": "Bad Name"})),
            400,
            "dest_namespace",
        ),
        (
            with(json!({"dest_namespace_replace_count": 300})),
            400,
            "dest_namespace_replace_count",
        ),
        (with(json!({"speed": "fast"})), 400, "speed"),
        (with(json!({"enabled": "yes"})), 400, "enabled"),
    ];
    for (body, status, says) in cases {
        let answer = api.post("/replication/policies", &body).await;
        assert_eq!(answer.status, status, "{body}: {}", answer.text);
        assert!(
            answer.error().contains(says),
            "{body}: {:?} does not say {says:?}",
            answer.error()
        );
    }
    assert_eq!(
        api.get("/replication/policies")
            .await
            .header("x-total-count"),
        "1",
        "nothing half-written"
    );

    // Update (full body, as Harbor's PUT), list, q and sort.
    let mut changed = body.clone();
    changed["description"] = json!("updated");
    changed["enabled"] = json!(false);
    let answer = api
        .put(&format!("/replication/policies/{id}"), &changed)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        api.get(&format!("/replication/policies/{id}")).await.json()["description"],
        "updated"
    );
    let second = api
        .post("/replication/policies", &with(json!({"name": "second"})))
        .await
        .created_id();
    assert_eq!(
        api.put(
            &format!("/replication/policies/{second}"),
            &with(json!({"name": "nightly"}))
        )
        .await
        .status,
        409
    );
    assert_eq!(
        api.put("/replication/policies/9999", &valid).await.status,
        404
    );
    let listed = api.get("/replication/policies?sort=-id&page_size=1").await;
    assert_eq!(
        (
            listed.json()[0]["id"].as_i64(),
            listed.header("x-total-count").as_str()
        ),
        (Some(second), "2")
    );
    assert_eq!(
        api.get("/replication/policies?q=name%3Dnightly")
            .await
            .json()[0]["id"],
        id
    );
    assert_eq!(
        api.get("/replication/policies?name=seco").await.json()[0]["id"],
        second
    );

    // Executions: 412 on a disabled policy; delete is 412 while one runs.
    let disabled = api
        .post("/replication/executions", &json!({"policy_id": id}))
        .await;
    assert_eq!(disabled.status, 412, "{}", disabled.text);
    // An execution that is certainly running: its listing is still open, so it cannot finish
    // while the test looks at it.
    let execution = {
        use ferry::ports::ExecutionStore;
        stack
            .adapters
            .store
            .create_execution(
                second,
                ferry::model::TriggerType::Manual,
                1,
                &ferry::ports::store::Launch::Listing,
            )
            .await
            .expect("execution")
            .id
    };
    let refused = api.delete(&format!("/replication/policies/{second}")).await;
    assert_eq!(refused.status, 412, "{}", refused.text);
    assert!(
        refused.error().contains(&format!("execution {execution}")),
        "{}",
        refused.text
    );
    let stop = api
        .put(&format!("/replication/executions/{execution}"), &json!({}))
        .await;
    assert_eq!(stop.status, 200, "{}", stop.text);
    let stopped = api
        .get(&format!("/replication/executions/{execution}"))
        .await
        .json();
    assert_eq!(stopped["status"], "Stopped");
    assert!(stopped["end_time"].is_string(), "{stopped}");
    assert_eq!(
        api.delete(&format!("/replication/policies/{second}"))
            .await
            .status,
        200
    );
    assert_eq!(
        api.get(&format!("/replication/policies/{second}"))
            .await
            .status,
        404
    );
    assert_eq!(api.delete("/replication/policies/9999").await.status, 404);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_side_means_the_home_registry() {
    let home = TestRegistry::start();
    let other = TestRegistry::start();
    // Ids start at 1 on a new stack: the first registry created is the home registry.
    let stack = LocalStack::start(
        "home",
        LocalStackOptions {
            parameters: &[("HomeRegistryId", "1")],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let home_id = api
        .post("/registries", &registry_body("home", &home.url()))
        .await
        .created_id();
    assert_eq!(home_id, 1);
    let other_id = api
        .post("/registries", &registry_body("other", &other.url()))
        .await
        .created_id();
    let id = api
        .post(
            "/replication/policies",
            &json!({"name": "push", "dest_registry": {"id": other_id}}),
        )
        .await
        .created_id();
    let body = api.get(&format!("/replication/policies/{id}")).await.json();
    assert_eq!(body["src_registry"]["id"], home_id);
    assert_eq!(body["src_registry"]["name"], "home");
    stack.stop().await;
}
