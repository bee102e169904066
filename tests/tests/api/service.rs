//! What every route shares: auth, limits, request ids, the OpenAPI description, the admin
//! password's sources.

use super::*;

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
