//! `/registries`: routes, statuses, bad input, Harbor's shapes.

use super::*;

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
    // `health` is Ferry's addition (the last check's reason and time), which Harbor's clients
    // ignore.
    assert!(body["health"]["checked_time"].is_string(), "{body}");
    assert_eq!(
        swagger.check("Registry", &body, &["health"]),
        Vec::<String>::new()
    );

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
            json!({"name": "x", "type": "ali-acr", "url": source.url()}),
            400,
            "credential.access_key",
        ),
        (
            json!({"name": "x", "type": "volcengine-cr", "url": source.url(),
                   "credential": {"type": "basic", "access_key": "ak", "access_secret": "sk"}}),
            400,
            "options.instance",
        ),
        (
            json!({"name": "x", "type": "huawei-SWR", "url": source.url(),
                   "credential": {"type": "basic", "access_key": "ak", "access_secret": "sk"}}),
            400,
            "options.region",
        ),
        (
            json!({"name": "x", "type": "aws-ecr", "url": source.url()}),
            400,
            "options.region",
        ),
        (
            json!({"name": "x", "type": "google-gcr", "url": source.url(),
                   "credential": {"type": "basic", "access_key": "me", "access_secret": "pw"}}),
            400,
            "credential.access_key",
        ),
        (
            json!({"name": "x", "type": "docker-registry", "url": source.url(), "options": {"region": "Not A Region"}}),
            400,
            "options.region",
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
    // Every kind of Harbor's replication, and Ferry's helm-repository, each with its patterns.
    let infos = api.get("/replication/adapterinfos").await.json();
    for kind in [
        "docker-registry",
        "harbor",
        "docker-hub",
        "aws-ecr",
        "github-ghcr",
        "google-gcr",
        "azure-acr",
        "quay",
        "gitlab",
        "jfrog-artifactory",
        "dtr",
        "huawei-SWR",
        "ali-acr",
        "tencent-tcr",
        "volcengine-cr",
        "helm-repository",
    ] {
        assert!(
            adapters
                .as_array()
                .is_some_and(|a| a.contains(&json!(kind))),
            "{kind}: {adapters}"
        );
        for pattern in ["endpoint_pattern", "credential_pattern"] {
            assert!(infos[kind][pattern].is_object(), "{kind}: {infos}");
        }
    }
    assert_eq!(adapters.as_array().map(Vec::len), Some(16), "{adapters}");
    assert_eq!(
        infos["google-gcr"]["credential_pattern"]["access_key_data"],
        "_json_key"
    );
    assert_eq!(
        infos["aws-ecr"]["endpoint_pattern"]["endpoint_type"],
        "EndpointPatternTypeList"
    );

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
async fn a_registry_that_never_answers_is_refused_within_the_check_limit() {
    // Connections are taken (the kernel's backlog) and never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://127.0.0.1:{}",
        silent.local_addr().expect("address").port()
    );
    let stack = LocalStack::start(
        "silent",
        LocalStackOptions {
            extra_env: &[("FERRY_REGISTRY_CHECK_SECS", "2")],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let started = std::time::Instant::now();
    let refused = api
        .post("/registries", &registry_body("silent", &url))
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.error().contains("did not answer within 2s"),
        "{}",
        refused.text
    );
    // A hang guard, not a speed goal: well under the gateway's own limit.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    drop(silent);
    stack.stop().await;
}

/// Seed 000: the check is `GET /v2/`, and an answer that is not a v2 registry's (a web page, or
/// another API version) is reported as such, not taken for a healthy registry.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_answers_but_is_no_v2_registry_is_reported() {
    use axum::http::header::CONTENT_TYPE;
    use axum::routing::get;
    use ferry_tests::fakes::Server;

    let (listener, web_page) = Server::bind().await;
    let _web = Server::serve(
        listener,
        axum::Router::new().route(
            "/v2/",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/html")],
                    "<html><body>Welcome</body></html>",
                )
            }),
        ),
    );
    let (listener, other_version) = Server::bind().await;
    let _other = Server::serve(
        listener,
        axum::Router::new().route(
            "/v2/",
            get(|| async { ([("docker-distribution-api-version", "registry/3.0")], "{}") }),
        ),
    );
    let registry = TestRegistry::start();
    let (_stack, api) = start().await;
    for (url, says) in [
        (&web_page, "this is not a v2 registry (a web page"),
        (
            &other_version,
            "not registry/2.0 (Docker-Distribution-API-Version)",
        ),
    ] {
        let answer = api
            .post(
                "/registries/ping",
                &json!({"type": "docker-registry", "url": url}),
            )
            .await;
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert!(answer.text.contains(says), "{}", answer.text);
    }
    let real = api
        .post(
            "/registries/ping",
            &json!({"type": "docker-registry", "url": registry.url()}),
        )
        .await;
    assert_eq!(
        real.status, 200,
        "distribution says registry/2.0: {}",
        real.text
    );
}
