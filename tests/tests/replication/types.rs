//! Artifact types (seed 004) on the local stack: custom types registered in processors.yaml
//! are filtered in and out, the general processor and an extender read their attributes, an
//! extender that hangs does not break the execution, the in-tree config schema is recognised,
//! and an execution's artifacts are read back with their types and attributes.

use std::time::Duration;

use super::*;
use ferry_tests::processor::ProcessorExtender;

const MODEL: &str = "application/vnd.caicloud.model.config.v1alpha1+json";
const NOTEBOOK: &str = "application/vnd.example.notebook.v1";
const SLOW: &str = "application/vnd.example.slow.config.v1+json";

/// An image, a model (general processor), a notebook (an extender), a slow one (an extender
/// past its timeout) and an in-tree ORMB artifact, under `team/`.
async fn push_kinds(http: &ferry_tests::images::RegistryHttp) {
    http.push_image("team/app", "1.0", &[layer(810, 800)]).await;
    http.push_artifact(
        "team/model",
        "v1",
        MODEL,
        &json!({"framework": "onnx", "params": 7}),
        None,
    )
    .await;
    http.push_artifact(
        "team/notebook",
        "v1",
        "application/vnd.oci.empty.v1+json",
        &json!({}),
        Some(NOTEBOOK),
    )
    .await;
    http.push_artifact("team/slow", "v1", SLOW, &json!({"a": 1}), None)
        .await;
    http.push_artifact(
        "team/ormb",
        "v1",
        "application/vnd.custom.artifact.config.v1+json",
        &json!({"key1": "value", "harbor": {"artifactMetadata": {
            "type": "ORMB", "mediaType": "application/vnd.caicloud.ormb.v1"}}}),
        None,
    )
    .await;
}

async fn run(api: &ApiClient, name: &str, src: i64, dst: i64, resource: Value) -> Value {
    let mut filters = vec![json!({"type": "name", "value": "team/**"})];
    if !resource.is_null() {
        filters.push(resource);
    }
    let policy = create_policy(api, name, src, dst, json!({ "filters": filters })).await;
    let execution = api
        .post("/replication/executions", &json!({"policy_id": policy}))
        .await
        .created_id();
    finished(api, execution).await
}

fn by_repository(items: &Value) -> std::collections::BTreeMap<String, Value> {
    items
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| {
            let source = item["src_resource"].as_str().unwrap_or_default();
            let repository = source.split(':').next().unwrap_or_default().to_string();
            (repository, item.clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn registered_and_in_tree_types_are_filtered_and_profiled_and_a_hung_processor_breaks_nothing(
) {
    let extender = ProcessorExtender::start(json!({"cells": 12}), Duration::ZERO).await;
    let hung = ProcessorExtender::start(json!({}), Duration::from_secs(5)).await;
    let file = std::env::temp_dir().join(format!("processors-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(
        &file,
        format!(
            "processors:
  - type: model
    config_media_types: [{MODEL}]
  - type: notebook
    artifact_types: [{NOTEBOOK}]
    url: {}
    authorization_env: NOTEBOOK_PROCESSOR_AUTH
  - type: slow
    config_media_types: [{SLOW}]
    url: {}
    timeout_seconds: 1
",
            extender.url(),
            hung.url()
        ),
    )
    .expect("processors.yaml written");
    let path = file.to_string_lossy().into_owned();
    let stack = LocalStack::start(
        "types",
        LocalStackOptions {
            extra_env: &[
                ("FERRY_PROCESSORS_FILE", &path),
                ("NOTEBOOK_PROCESSOR_AUTH", "Bearer notebook-token"),
            ],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let source = TestRegistry::start();
    push_kinds(&source.http()).await;
    let (models_only, all_but_models) = (TestRegistry::start(), TestRegistry::start());
    let src = add_registry(&api, "src", &source.url()).await;
    let dst_models = add_registry(&api, "models", &models_only.url()).await;
    let dst_rest = add_registry(&api, "rest", &all_but_models.url()).await;

    let typo = api
        .post(
            "/replication/policies",
            &policy_body(
                "typo",
                src,
                dst_models,
                json!({"filters": [{"type": "resource", "value": "modle"}]}),
            ),
        )
        .await;
    assert_eq!(typo.status, 400, "{}", typo.text);
    assert!(typo.error().contains("filters[0].value"), "{}", typo.text);

    // Filtered in: the model alone.
    let models = run(
        &api,
        "models",
        src,
        dst_models,
        json!({"type": "resource", "value": "model"}),
    )
    .await;
    assert_eq!(models["status"], "Succeed", "{models}");
    assert_eq!(models["total"], 1, "{models}");
    let id = models["id"].as_i64().expect("id");
    let tasks = api
        .get(&format!("/replication/executions/{id}/tasks"))
        .await
        .json();
    assert_eq!(tasks[0]["resource_type"], "model", "{tasks}");
    let artifacts = api
        .get(&format!("/replication/executions/{id}/artifacts"))
        .await
        .json();
    assert_eq!(artifacts[0]["type"], "model", "{artifacts}");
    assert_eq!(artifacts[0]["media_type"], MODEL);
    assert_eq!(artifacts[0]["processor"], "general");
    assert_eq!(
        artifacts[0]["extra_attrs"],
        json!({"framework": "onnx", "params": 7})
    );
    assert_eq!(
        artifacts[0]["digest"].as_str(),
        models_only
            .http()
            .manifest_digest("team/model", "v1")
            .await
            .as_deref()
    );

    // Filtered out: everything else, each with its type.
    let rest = run(
        &api,
        "rest",
        src,
        dst_rest,
        json!({"type": "resource", "value": "model", "decoration": "excludes"}),
    )
    .await;
    assert_eq!(
        rest["status"], "Succeed",
        "a hung processor fails nothing: {rest}"
    );
    assert_eq!(rest["total"], 4, "{rest}");
    assert!(all_but_models
        .http()
        .manifest_digest("team/model", "v1")
        .await
        .is_none());
    let id = rest["id"].as_i64().expect("id");
    let tasks = by_repository(
        &api.get(&format!("/replication/executions/{id}/tasks"))
            .await
            .json(),
    );
    let kinds: Vec<(&str, &str)> = tasks
        .iter()
        .map(|(repository, task)| {
            (
                repository.as_str(),
                task["resource_type"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("team/app", "image"),
            ("team/notebook", "notebook"),
            ("team/ormb", "ormb"),
            ("team/slow", "slow"),
        ]
    );
    let others = api
        .get(&format!(
            "/replication/executions/{id}/tasks?resource_type=artifact"
        ))
        .await
        .json();
    assert_eq!(others.as_array().map(Vec::len), Some(3), "{others}");
    let artifacts = by_repository(
        &api.get(&format!("/replication/executions/{id}/artifacts"))
            .await
            .json(),
    );
    assert_eq!(
        artifacts["team/notebook"]["extra_attrs"],
        json!({"cells": 12})
    );
    assert_eq!(artifacts["team/notebook"]["media_type"], NOTEBOOK);
    let hung_error = artifacts["team/slow"]["processor_error"]
        .as_str()
        .unwrap_or_default();
    assert!(hung_error.contains("within 1 s"), "{hung_error}");
    assert_eq!(artifacts["team/slow"]["extra_attrs"], json!({}));
    assert_eq!(artifacts["team/ormb"]["type"], "ormb");
    assert_eq!(
        artifacts["team/ormb"]["media_type"],
        "application/vnd.caicloud.ormb.v1"
    );
    assert_eq!(
        artifacts["team/ormb"]["extra_attrs"],
        json!({"key1": "value"})
    );
    assert_eq!(artifacts["team/app"]["type"], "image");
    let only_notebooks = api
        .get(&format!(
            "/replication/executions/{id}/artifacts?type=notebook"
        ))
        .await
        .json();
    assert_eq!(only_notebooks.as_array().map(Vec::len), Some(1));

    // What the extender was posted: the seed's request, the manifest and the config, its
    // Authorization header, and no registry credentials.
    let asked = extender.asked();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].path, "/abstractmetadata");
    assert_eq!(
        asked[0].authorization.as_deref(),
        Some("Bearer notebook-token")
    );
    let body = &asked[0].body;
    assert_eq!(body["artifact"]["repository_name"], "team/notebook");
    assert_eq!(body["artifact"]["tags"], json!(["v1"]));
    assert_eq!(body["artifact"]["type"], "NOTEBOOK");
    assert_eq!(body["config"], json!({}));
    assert_eq!(body["registry"]["authorization"], "");
    let manifest: Value =
        serde_json::from_str(body["manifest"].as_str().expect("the manifest as text"))
            .expect("JSON");
    assert_eq!(manifest["artifactType"], NOTEBOOK);
    assert_eq!(hung.asked().len(), 1, "the hung extender was asked once");
    let _ = std::fs::remove_file(&file);
}

/// In AWS, processors.yaml is an object under `config/` in the stack's bucket that the
/// `ProcessorsKey` parameter names: every function reads it at cold start, within its IAM
/// policy (the local stack holds the functions to the template's policies). Until the object
/// is there the functions cannot start; once it is, the next instance reads it.
#[tokio::test(flavor = "multi_thread")]
async fn processors_yaml_is_read_from_the_stack_bucket_the_template_names() {
    let key = "config/processors.yaml";
    let stack = LocalStack::start(
        "types-s3",
        LocalStackOptions {
            parameters: &[("ProcessorsKey", key)],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let bucket = stack
        .plane
        .stack
        .function("ferry-api")
        .expect("the api function")
        .environment["FERRY_LOG_BUCKET"]
        .clone();
    ferry::adapters::aws::s3_client(&stack.adapters.sdk)
        .put_object()
        .bucket(&bucket)
        .key(key)
        .body(
            format!("processors:\n  - type: model\n    config_media_types: [{MODEL}]\n")
                .into_bytes()
                .into(),
        )
        .send()
        .await
        .expect("processors.yaml uploaded");
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let source = TestRegistry::start();
    push_kinds(&source.http()).await;
    let destination = TestRegistry::start();
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let models = run(
        &api,
        "models",
        src,
        dst,
        json!({"type": "resource", "value": "model"}),
    )
    .await;
    assert_eq!(models["status"], "Succeed", "{models}");
    assert_eq!(models["total"], 1, "{models}");
    let id = models["id"].as_i64().expect("id");
    let artifacts = api
        .get(&format!("/replication/executions/{id}/artifacts"))
        .await
        .json();
    assert_eq!(artifacts[0]["type"], "model", "{artifacts}");
    assert_eq!(artifacts[0]["extra_attrs"]["framework"], "onnx");
}
