//! Any input gets a documented answer: schemathesis (from PyPI, in `.venv`) generates requests
//! for every route of Ferry's own `openapi.json`, authenticated and not, and checks that no
//! answer is a 5xx and every answer is a status the description lists, with a body of its
//! schema. Afterwards nothing is half-written: every name guard belongs to a stored record.
//! `FERRY_FUZZ_EXAMPLES` sets the requests per route and phase (CI: a few; `make fuzz`: more).

use std::collections::HashSet;
use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;

use super::*;

/// What each answer is checked for.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance";

fn schemathesis(openapi: &str, origin: &str, auth: Option<&str>, report: &str) -> bool {
    let examples = std::env::var("FERRY_FUZZ_EXAMPLES").unwrap_or_else(|_| "5".into());
    let mut command = Command::new(ferry_tests::workspace_root().join(".venv/bin/schemathesis"));
    command.args([
        "run",
        openapi,
        "--url",
        origin,
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        &examples,
        "--seed",
        "20261129",
        "--generation-database",
        "none",
        "--generation-with-security-parameters",
        "false",
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        report,
    ]);
    if let Some(auth) = auth {
        command.args(["--auth", auth]);
    }
    let status = command
        .status()
        .expect("schemathesis runs (make deps installs it)");
    status.success()
}

/// Every `<kind>-name#<name>` guard in the meta table names a record that exists, and every
/// record has its guard: a create or rename that failed half-way would leave one without the
/// other.
async fn guards_match_records(stack: &LocalStack) {
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.adapters.sdk);
    let environment = &stack
        .plane
        .stack
        .function("ferry-api")
        .expect("api function")
        .environment;
    let table = |name: &str| environment.get(name).cloned().expect(name);
    let scan = |table: String| {
        let dynamo = dynamo.clone();
        async move {
            let mut items = Vec::new();
            let mut pages = dynamo.scan().table_name(table).into_paginator().send();
            while let Some(page) = pages.next().await {
                items.extend(page.expect("scan").items().to_vec());
            }
            items
        }
    };
    let number = |item: &std::collections::HashMap<String, AttributeValue>, key: &str| {
        item.get(key)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or_default()
    };
    let meta = scan(table("FERRY_META_TABLE")).await;
    for (kind, records) in [
        ("registry", table("FERRY_REGISTRIES_TABLE")),
        ("policy", table("FERRY_POLICIES_TABLE")),
        ("robot", table("FERRY_ROBOTS_TABLE")),
    ] {
        let prefix = format!("{kind}-name#");
        let guards: HashSet<(String, i64)> = meta
            .iter()
            .filter_map(|item| {
                let pk = item.get("pk")?.as_s().ok()?;
                Some((pk.strip_prefix(&prefix)?.to_string(), number(item, "id")))
            })
            .collect();
        let stored: HashSet<(String, i64)> = scan(records)
            .await
            .iter()
            .filter_map(|item| Some((item.get("name")?.as_s().ok()?.clone(), number(item, "id"))))
            .collect();
        assert_eq!(guards, stored, "{kind}: name guards and records differ");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_any_input_as_documented() {
    let (source, destination) = (TestRegistry::start(), TestRegistry::start());
    // Registry URLs the fuzzer makes up go to a proxy that is not there: nothing leaves
    // loopback, and such a registry is refused as unhealthy.
    let stack = LocalStack::start(
        "fuzz",
        LocalStackOptions {
            extra_env: &[
                ("HTTP_PROXY", "http://127.0.0.1:9"),
                ("HTTPS_PROXY", "http://127.0.0.1:9"),
                ("NO_PROXY", "127.0.0.1,localhost"),
            ],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    // Something for the ids the fuzzer tries to find.
    let src = api
        .post("/registries", &registry_body("fuzz-src", &source.url()))
        .await
        .created_id();
    let dst = api
        .post(
            "/registries",
            &registry_body("fuzz-dst", &destination.url()),
        )
        .await
        .created_id();
    api.post(
        "/replication/policies",
        &json!({"name": "fuzz", "src_registry": {"id": src}, "dest_registry": {"id": dst},
                "dest_namespace": "mirror", "enabled": true}),
    )
    .await
    .created_id();
    api.post("/replication/executions", &json!({"policy_id": 1}))
        .await
        .created_id();
    api.post(
        "/robots",
        &json!({"name": "fuzz", "permissions": [{"kind": "system", "namespace": "/",
                 "access": [{"resource": "registry", "action": "read"}]}]}),
    )
    .await
    .created_id();

    let origin = stack
        .api
        .split("/api/v2.0")
        .next()
        .expect("origin")
        .to_string();
    let openapi = format!("{}/openapi.json", stack.api);
    let reports = ferry_tests::workspace_root().join("target/schemathesis");
    std::fs::create_dir_all(&reports).expect("report directory");
    let report = |name: &str| reports.join(name).display().to_string();
    let admin = format!("admin:{ADMIN_PASSWORD}");
    assert!(
        schemathesis(
            &openapi,
            &origin,
            Some(&admin),
            &report("authenticated.xml")
        ),
        "authenticated: see the output above and target/schemathesis/"
    );
    assert!(
        schemathesis(&openapi, &origin, None, &report("anonymous.xml")),
        "anonymous: see the output above and target/schemathesis/"
    );
    guards_match_records(&stack).await;
}
