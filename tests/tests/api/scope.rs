//! Policy scope (seed 001): system policies and namespace policies, project robots confined to
//! their namespace, the overlap rule, read-only system policies and `q=scope=,namespace=`.

use super::*;

fn ids(listed: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["id"].as_i64())
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn namespace_policies_project_robots_and_the_overlap_rule() {
    let source = TestRegistry::start();
    let registry_r = TestRegistry::start();
    let elsewhere = TestRegistry::start();
    let (stack, api) = start().await;
    let src = api
        .post("/registries", &registry_body("src", &source.url()))
        .await
        .created_id();
    let r = api
        .post("/registries", &registry_body("r", &registry_r.url()))
        .await
        .created_id();
    let other = api
        .post("/registries", &registry_body("other", &elsewhere.url()))
        .await
        .created_id();

    // System policy 1: ns1 and ns2 to R, into ns3 (an admin's, scope left to its default).
    let policy_1 = api
        .post(
            "/replication/policies",
            &json!({"name": "policy-1", "src_registry": {"id": src}, "dest_registry": {"id": r},
                    "dest_namespace": "ns3", "filters": [{"type": "name", "value": "{ns1,ns2}/**"}]}),
        )
        .await
        .created_id();

    // A project robot of ns2; one that could write registries is refused.
    let access = |actions: &[(&str, &str)]| {
        actions
            .iter()
            .map(|(resource, action)| json!({"resource": resource, "action": action}))
            .collect::<Vec<_>>()
    };
    let robot_body = |name: &str, access: Vec<Value>| {
        json!({"name": name, "level": "project", "duration": -1,
               "permissions": [{"kind": "project", "namespace": "ns2", "access": access}]})
    };
    let writer = api
        .post(
            "/robots",
            &robot_body("ns2-admin", access(&[("registry", "create")])),
        )
        .await;
    assert_eq!(writer.status, 400, "{}", writer.text);
    assert!(
        writer.error().contains("may only read and list registries"),
        "{}",
        writer.error()
    );
    let mut actions = vec![("registry", "read"), ("registry", "list")];
    for resource in ["replication-policy", "replication"] {
        for action in ["read", "list", "create", "update", "delete"] {
            actions.push((resource, action));
        }
    }
    let created = api
        .post("/robots", &robot_body("ns2-ci", access(&actions)))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = created.json()["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let robot = ApiClient::as_user(&stack.api, "robot$ns2-ci", &secret);
    let robot_id = created.created_id();
    assert_eq!(
        api.get(&format!("/robots/{robot_id}")).await.json()["level"],
        "project"
    );

    let namespaced = |ns: &str, dest: i64, name: &str| {
        json!({"name": name, "src_registry": {"id": src}, "dest_registry": {"id": dest},
               "dest_namespace": "ns4", "scope": "namespace", "namespace": ns})
    };
    // Policy 2 under ns2 to R overlaps policy 1: 409 naming it.
    let refused = robot
        .post("/replication/policies", &namespaced("ns2", r, "policy-2"))
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    let message = refused.error();
    assert!(
        message.contains(&format!("system policy {policy_1}")) && message.contains("policy-1"),
        "{message}"
    );
    // ns5 is another namespace: the robot may not, the admin may (and it overlaps nothing).
    let foreign = robot
        .post("/replication/policies", &namespaced("ns5", r, "ns5-policy"))
        .await;
    assert_eq!(foreign.status, 403, "{}", foreign.text);
    assert!(
        foreign.error().contains("namespace ns2"),
        "{}",
        foreign.error()
    );
    let ns5_policy = api
        .post("/replication/policies", &namespaced("ns5", r, "ns5-policy"))
        .await
        .created_id();
    // ns2 to another registry: no overlap.
    let own = robot
        .post(
            "/replication/policies",
            &namespaced("ns2", other, "ns2-out"),
        )
        .await;
    assert_eq!(own.status, 201, "{}", own.text);
    let own = own.created_id();
    let read = robot.get(&format!("/replication/policies/{own}")).await;
    assert_eq!(read.status, 200, "{}", read.text);
    let read = read.json();
    assert_eq!(
        (read["scope"].as_str(), read["namespace"].as_str()),
        (Some("namespace"), Some("ns2"))
    );
    assert_eq!(
        read["filters"],
        json!([{"type": "name", "value": "ns2/**"}])
    );
    assert!(read.get("read_only").is_none(), "{read}");

    // A system-scoped create and a name filter outside the namespace.
    let system = robot
        .post(
            "/replication/policies",
            &json!({"name": "sneaky", "src_registry": {"id": src}, "dest_registry": {"id": other}}),
        )
        .await;
    assert_eq!(system.status, 403, "{}", system.text);
    assert!(
        system.error().contains("system-scoped"),
        "{}",
        system.error()
    );
    let mut outside = namespaced("ns2", other, "outside");
    outside["filters"] = json!([{"type": "name", "value": "ns3/**"}]);
    let outside = robot.post("/replication/policies", &outside).await;
    assert_eq!(outside.status, 400, "{}", outside.text);
    assert!(
        outside.error().starts_with("filters[0].value"),
        "{}",
        outside.error()
    );

    // The robot's listing: its policy and policy 1, read-only; not ns5's.
    let listed = robot.get("/replication/policies").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let listed = listed.json();
    assert_eq!(ids(&listed), vec![policy_1, own]);
    for policy in listed.as_array().into_iter().flatten() {
        let expected = (policy["id"] == policy_1).then_some(true);
        assert_eq!(policy["read_only"].as_bool(), expected, "{policy}");
    }
    let shown = robot
        .get(&format!("/replication/policies/{policy_1}"))
        .await
        .json();
    assert_eq!(shown["read_only"], true, "{shown}");
    assert_eq!(
        robot
            .get(&format!("/replication/policies/{ns5_policy}"))
            .await
            .status,
        403
    );
    let admin_view = api.get("/replication/policies").await;
    assert_eq!(ids(&admin_view.json()), vec![policy_1, ns5_policy, own]);
    assert!(
        !admin_view.text.contains("read_only"),
        "{}",
        admin_view.text
    );

    // A system policy cannot be changed or deleted by the robot; its own can.
    let mut body = api
        .get(&format!("/replication/policies/{policy_1}"))
        .await
        .json();
    body["description"] = json!("taken over");
    for attempt in [
        robot
            .put(&format!("/replication/policies/{policy_1}"), &body)
            .await,
        robot
            .put(
                &format!("/replication/policies/{policy_1}"),
                &namespaced("ns2", other, "policy-1"),
            )
            .await,
        robot
            .delete(&format!("/replication/policies/{policy_1}"))
            .await,
    ] {
        assert_eq!(attempt.status, 403, "{}", attempt.text);
        assert!(attempt.error().contains("read-only"), "{}", attempt.error());
    }
    // A system policy's handlers are read-only too; even its own policy's handlers a robot
    // may only read: they are called with the destination's credential.
    let handler = json!({"events": "prepare_replication", "handler_url": "/v2/manage/namespaces"});
    let attempt = robot
        .post(
            &format!("/replication/policies/{policy_1}/handlers"),
            &handler,
        )
        .await;
    assert_eq!(attempt.status, 403, "{}", attempt.text);
    assert!(attempt.error().contains("read-only"), "{}", attempt.error());
    let seen = robot
        .get(&format!("/replication/policies/{policy_1}/handlers"))
        .await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    let added = robot
        .post(&format!("/replication/policies/{own}/handlers"), &handler)
        .await;
    assert_eq!(added.status, 403, "{}", added.text);
    assert!(
        added.error().contains("destination registry's credential"),
        "{}",
        added.error()
    );
    assert_eq!(
        robot
            .get(&format!("/replication/policies/{own}/handlers"))
            .await
            .status,
        200
    );
    assert_eq!(
        api.post(&format!("/replication/policies/{own}/handlers"), &handler)
            .await
            .status,
        201,
        "the admin may"
    );
    let mut renamed = namespaced("ns2", other, "ns2-out");
    renamed["description"] = json!("mine");
    let updated = robot
        .put(&format!("/replication/policies/{own}"), &renamed)
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    // Moving its own policy to R would overlap policy 1.
    let moved = robot
        .put(
            &format!("/replication/policies/{own}"),
            &namespaced("ns2", r, "ns2-out"),
        )
        .await;
    assert_eq!(moved.status, 409, "{}", moved.text);

    // q: by scope and namespace, exact.
    let query = |q: &str| {
        let api = &api;
        let q = q.to_string();
        async move {
            let answer = api.get(&format!("/replication/policies?q={q}")).await;
            assert_eq!(answer.status, 200, "{q}: {}", answer.text);
            ids(&answer.json())
        }
    };
    assert_eq!(
        query("scope%3Dnamespace%2Cnamespace%3Dns2").await,
        vec![own]
    );
    assert_eq!(query("namespace%3Dns2").await, vec![policy_1, own]);
    assert_eq!(query("scope%3Dsystem").await, vec![policy_1]);
    assert_eq!(query("scope%3Dnamespace").await, vec![ns5_policy, own]);
    assert_eq!(query("namespace%3Dns5").await, vec![ns5_policy]);
    assert_eq!(
        api.get("/replication/policies?q=scope%3D~name")
            .await
            .status,
        400
    );

    // Executions: of its own policy only.
    let started = robot
        .post("/replication/executions", &json!({"policy_id": own}))
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let mine = started.created_id();
    let theirs = api
        .post("/replication/executions", &json!({"policy_id": ns5_policy}))
        .await
        .created_id();
    for denied in [
        robot
            .get(&format!("/replication/executions/{theirs}"))
            .await,
        robot
            .put(&format!("/replication/executions/{theirs}"), &json!({}))
            .await,
        robot
            .get(&format!("/replication/executions/{theirs}/tasks"))
            .await,
        robot
            .post("/replication/executions", &json!({"policy_id": ns5_policy}))
            .await,
        robot
            .post("/replication/executions", &json!({"policy_id": policy_1}))
            .await,
        robot
            .get(&format!("/replication/executions?policy_id={ns5_policy}"))
            .await,
    ] {
        assert_eq!(denied.status, 403, "{}", denied.text);
    }
    assert_eq!(
        robot
            .get(&format!("/replication/executions/{mine}"))
            .await
            .status,
        200
    );
    let listed = robot.get("/replication/executions").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(ids(&listed.json()), vec![mine]);
    assert_eq!(listed.header("x-total-count"), "1");
    assert_eq!(
        ids(&api.get("/replication/executions").await.json()),
        vec![mine, theirs]
    );
}
