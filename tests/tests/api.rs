//! The Harbor v2.0 replication API over HTTP, through the local gateway to the `api` binary:
//! every route, the status codes Harbor's clients rely on, pagination, `q`, `sort`, auth, bad
//! input, and Harbor's swagger shapes in both directions.

use ferry_tests::api_client::{read, ApiClient};
use ferry_tests::images::layer;
use ferry_tests::registry::TestRegistry;
use ferry_tests::swagger::Swagger;
use ferry_tests::{eventually, LocalStack, LocalStackOptions, ADMIN_PASSWORD};
use serde_json::{json, Value};

/// Fields Ferry adds to Harbor's task (transfer figures and a reason); clients ignore them.
const TASK_EXTENSIONS: &[&str] = &[
    "status_text",
    "bytes_copied",
    "blobs_copied",
    "blobs_skipped",
    "blobs_mounted",
    "resource",
    "continuations",
];

fn registry_body(name: &str, url: &str) -> Value {
    json!({"name": name, "type": "docker-registry", "url": url, "description": "test",
           "credential": {"type": "basic", "access_key": "robot", "access_secret": "s3cret"}})
}

async fn start() -> (LocalStack, ApiClient) {
    let stack = LocalStack::start("api", LocalStackOptions::default()).await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    (stack, api)
}

#[tokio::test(flavor = "multi_thread")]
async fn registries_routes_statuses_and_bad_input() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let mut dead = TestRegistry::start();
    let dead_url = dead.url();
    dead.kill();
    let (stack, api) = start().await;
    let swagger = Swagger::load();

    let created = api
        .post("/registries", &registry_body("src", &source.url()))
        .await;
    let src = created.created_id();
    assert_eq!(
        created.header("location"),
        format!("/api/v2.0/registries/{src}")
    );
    let dst = api
        .post("/registries", &registry_body("dst", &destination.url()))
        .await
        .created_id();

    let read_back = api.get(&format!("/registries/{src}")).await;
    assert_eq!(read_back.status, 200);
    let body = read_back.json();
    assert_eq!(
        body["credential"]["access_secret"], "*****",
        "the secret never reads back"
    );
    assert_eq!(body["status"], "healthy");
    assert_eq!(swagger.check("Registry", &body, &[]), Vec::<String>::new());

    // Refusals, each naming the field, none writing anything.
    let cases = [
        (registry_body("src", &source.url()), 409, "already exists"),
        (registry_body("down", &dead_url), 400, "unhealthy"),
        (
            json!({"type": "docker-registry", "url": source.url()}),
            400,
            "name",
        ),
        (
            json!({"name": "x", "type": "docker-registry", "url": "ftp://host"}),
            400,
            "url",
        ),
        (
            json!({"name": "x", "type": "nexus", "url": source.url()}),
            400,
            "type",
        ),
        (
            json!({"name": "x", "type": "docker-hub", "url": source.url()}),
            400,
            "not supported",
        ),
        (
            json!({"name": "x", "type": "docker-registry", "url": source.url(), "insecure": "yes"}),
            400,
            "insecure",
        ),
        (
            json!({"name": "x", "type": "docker-registry", "url": source.url(), "credential": {"type": "basic", "access_key": "u"}}),
            400,
            "credential.access_secret",
        ),
    ];
    for (body, status, says) in cases {
        let answer = api.post("/registries", &body).await;
        assert_eq!(answer.status, status, "{body}: {}", answer.text);
        assert!(
            answer.error().contains(says),
            "{body}: {:?} does not say {says:?}",
            answer.error()
        );
    }
    let malformed = api
        .send(reqwest::Method::POST, "/registries", Some("{not json"))
        .await;
    assert_eq!(malformed.status, 400);
    let empty = api
        .send(reqwest::Method::POST, "/registries", Some(""))
        .await;
    assert_eq!(empty.status, 400);
    let all = api.get("/registries").await;
    assert_eq!(
        all.header("x-total-count"),
        "2",
        "refused creates left nothing behind"
    );

    // Pagination, q and sort.
    let first = api.get("/registries?page=1&page_size=1&sort=-id").await;
    assert_eq!(first.json()[0]["id"], dst);
    assert_eq!(first.header("x-total-count"), "2");
    assert!(
        first.header("link").contains("rel=\"next\""),
        "{}",
        first.header("link")
    );
    let second = api.get("/registries?page=2&page_size=1&sort=-id").await;
    assert_eq!(second.json()[0]["id"], src);
    assert!(second.header("link").contains("rel=\"prev\""));
    assert_eq!(
        api.get("/registries?q=name%3D~sr")
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        api.get(&format!("/registries?q=id%3D%7B{src}%20{dst}%7D"))
            .await
            .header("x-total-count"),
        "2"
    );
    assert_eq!(api.get("/registries?q=color%3Dred").await.status, 400);
    assert_eq!(api.get("/registries?sort=secret").await.status, 400);
    assert_eq!(api.get("/registries?page_size=1000").await.status, 400);

    // Update: Harbor's flat RegistryUpdate.
    let updated = api
        .put(
            &format!("/registries/{src}"),
            &json!({"description": "changed", "access_key": "robot2"}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let body = api.get(&format!("/registries/{src}")).await.json();
    assert_eq!(
        (
            body["description"].as_str(),
            body["credential"]["access_key"].as_str()
        ),
        (Some("changed"), Some("robot2"))
    );
    assert_eq!(
        body["credential"]["access_secret"], "*****",
        "the secret is kept"
    );
    assert_eq!(
        api.put(&format!("/registries/{src}"), &json!({"name": "dst"}))
            .await
            .status,
        409
    );
    assert_eq!(
        api.put(&format!("/registries/{src}"), &json!({"url": dead_url}))
            .await
            .status,
        400
    );
    assert_eq!(
        api.put("/registries/9999", &json!({"description": "x"}))
            .await
            .status,
        404
    );

    // Ping and info.
    assert_eq!(
        api.post("/registries/ping", &json!({"id": src}))
            .await
            .status,
        200
    );
    assert_eq!(
        api.post(
            "/registries/ping",
            &json!({"type": "docker-registry", "url": source.url()})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        api.post(
            "/registries/ping",
            &json!({"type": "docker-registry", "url": dead_url})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        api.post("/registries/ping", &json!({"id": 9999}))
            .await
            .status,
        404
    );
    let info = api.get(&format!("/registries/{src}/info")).await;
    assert_eq!(info.status, 200);
    assert_eq!(
        swagger.check("RegistryInfo", &info.json(), &[]),
        Vec::<String>::new()
    );
    assert_eq!(api.get("/registries/9999").await.status, 404);
    assert_eq!(api.get("/registries/abc").await.status, 400);

    // Adapters.
    let adapters = api.get("/replication/adapters").await.json();
    assert!(adapters
        .as_array()
        .is_some_and(|a| a.contains(&json!("docker-registry"))));
    let infos = api.get("/replication/adapterinfos").await.json();
    assert!(infos["docker-registry"]["credential_pattern"].is_object());

    // Delete: 412 while a policy refers to the registry.
    let policy = api
        .post(
            "/replication/policies",
            &json!({"name": "p", "src_registry": {"id": src}, "dest_registry": {"id": dst}}),
        )
        .await
        .created_id();
    let refused = api.delete(&format!("/registries/{src}")).await;
    assert_eq!(refused.status, 412, "{}", refused.text);
    assert_eq!(
        api.delete(&format!("/replication/policies/{policy}"))
            .await
            .status,
        200
    );
    assert_eq!(api.delete(&format!("/registries/{src}")).await.status, 200);
    assert_eq!(api.get(&format!("/registries/{src}")).await.status, 404);
    assert_eq!(api.delete(&format!("/registries/{src}")).await.status, 404);
    stack.stop().await;
}

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
        swagger.check("ReplicationPolicy", &body, &[]),
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
            .create_execution(second, ferry::model::TriggerType::Manual, 1)
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
    assert_eq!(
        api.get(&format!(
            "/replication/executions/{execution}/tasks?resource_type=vm"
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

#[tokio::test(flavor = "multi_thread")]
async fn auth_methods_limits_and_request_ids() {
    let (stack, api) = start().await;
    let http = reqwest::Client::new();
    for path in [
        "/registries",
        "/replication/policies",
        "/replication/executions",
        "/replication/adapters",
    ] {
        let answer = read(
            http.get(format!("{}{path}", stack.api))
                .send()
                .await
                .expect("request"),
        )
        .await;
        assert_eq!(answer.status, 401, "{path}");
        assert_eq!(answer.header("www-authenticate"), "Basic realm=\"ferry\"");
        assert_eq!(answer.json()["errors"][0]["code"], "UNAUTHORIZED");
    }
    let wrong = ApiClient::new(&stack.api, "wrong").get("/registries").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        api.send(reqwest::Method::PATCH, "/registries", Some("{}"))
            .await
            .status,
        405
    );
    assert_eq!(api.get("/nothing-here").await.status, 404);
    let huge = format!("{{\"name\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    assert_eq!(
        api.send(reqwest::Method::POST, "/registries", Some(&huge))
            .await
            .status,
        413
    );
    let answer = read(
        http.get(format!("{}/registries", stack.api))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .header("x-request-id", "abc-123")
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(answer.header("x-request-id"), "abc-123");
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

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_description_is_served_without_auth() {
    let (stack, _api) = start().await;
    let answer = read(
        reqwest::get(format!("{}/openapi.json", stack.api))
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(answer.status, 200);
    let document = answer.json();
    assert!(document["openapi"]
        .as_str()
        .unwrap_or_default()
        .starts_with("3."));
    let paths = document["paths"].as_object().expect("paths");
    for route in ferry::api::ROUTES {
        let item = &paths[&format!("/api/v2.0{}", route.path)];
        assert!(
            item.get(route.method.to_lowercase()).is_some(),
            "{} {} undocumented",
            route.method,
            route.path
        );
    }
    // A valid OpenAPI 3 document, by an independent validator.
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &answer.text).expect("write");
    let check = std::process::Command::new(ferry_tests::workspace_root().join(".venv/bin/python"))
        .args(["-c", "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))"])
        .arg(file.path())
        .output()
        .expect("openapi-spec-validator runs (scripts/requirements.txt)");
    assert!(
        check.status.success(),
        "invalid OpenAPI: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_password_comes_from_secrets_manager() {
    let sdk = ferry_tests::sdk_config().await;
    let secret = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(format!("ferry-admin-{}", uuid::Uuid::new_v4().simple()))
        .secret_string("from-secrets-manager")
        .send()
        .await
        .expect("secret");
    let arn = secret.arn().expect("arn").to_string();
    let stack = LocalStack::start(
        "secret",
        LocalStackOptions {
            parameters: &[("AdminPasswordSecretArn", &arn)],
            admin_password_env: false,
            ..LocalStackOptions::default()
        },
    )
    .await;
    assert_eq!(
        ApiClient::new(&stack.api, "from-secrets-manager")
            .get("/registries")
            .await
            .status,
        200
    );
    assert_eq!(
        ApiClient::new(&stack.api, ADMIN_PASSWORD)
            .get("/registries")
            .await
            .status,
        401
    );
    stack.stop().await;
}
