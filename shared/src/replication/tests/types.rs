//! Artifact types (seed 004) through the use cases: a registered type filtered in and out, the
//! in-tree config schema, processors' attributes on the task, a failing processor.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{inbound, World};
use crate::model::artifact_types::{ArtifactTypes, CustomType, HttpProcessor, Metadata, Processor};
use crate::model::{ExecutionStatus, ResourceType, TaskStatus};
use crate::ports::logs::task_log;
use crate::ports::processor::ProcessorError;

const MODEL: &str = "application/vnd.caicloud.model.config.v1alpha1+json";
const NOTEBOOK: &str = "application/vnd.example.notebook.v1";

fn model_types(processor: Processor) -> Arc<ArtifactTypes> {
    Arc::new(ArtifactTypes::new(vec![CustomType {
        name: ResourceType::named("model").expect("name"),
        config_media_types: vec![MODEL.into()],
        artifact_types: vec![NOTEBOOK.into()],
        processor,
    }]))
}

fn extender() -> Processor {
    Processor::Http(HttpProcessor {
        url: url::Url::parse("http://processor.test/").expect("url"),
        timeout: Duration::from_secs(1),
        authorization: None,
    })
}

/// Lists `team/*` under `filters`, delivers every transfer message; the execution's id.
async fn replicate(world: &World, filters: serde_json::Value) -> i64 {
    let mut filters = filters;
    if let Some(list) = filters.as_array_mut() {
        list.push(json!({"type": "name", "value": "team/**"}));
    }
    let policy = world.policy(json!({ "filters": filters })).await;
    let execution_id = world.listed(&policy).await;
    let worker = world.transfer_worker();
    for message in world.queue.take_transfer() {
        worker
            .handle(&inbound(&message, 1), None)
            .await
            .expect("transferred");
    }
    execution_id
}

fn push_model_and_image(world: &World) {
    world.source.push_image("team/app", "1.0", &[b"layer"]);
    world.source.push_artifact(
        "team/model",
        "v1",
        MODEL,
        &json!({"framework": "onnx", "metrics": {"accuracy": 0.9}}),
        None,
    );
}

#[tokio::test]
async fn a_registered_type_is_filtered_in_and_out_and_read_by_the_general_processor() {
    let mut world = World::new().await;
    world.types = model_types(Processor::General);
    push_model_and_image(&world);
    let only_models = replicate(&world, json!([{"type": "resource", "value": "model"}])).await;
    let tasks = world.tasks(only_models);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task = &tasks[0];
    assert_eq!(task.src_resource, "team/model:v1");
    assert_eq!(task.status, TaskStatus::Succeed);
    assert_eq!(task.resource_type.as_str(), "model");
    let profile = task.artifact.as_ref().expect("a profile");
    assert_eq!(profile.media_type, MODEL);
    assert_eq!(profile.processor.as_deref(), Some("general"));
    assert_eq!(profile.extra_attrs["framework"], json!("onnx"));
    assert!(world.destination.tagged("team/model", "v1").is_some());

    let no_models = replicate(
        &world,
        json!([{"type": "resource", "value": "model", "decoration": "excludes"}]),
    )
    .await;
    let tasks = world.tasks(no_models);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0].src_resource, "team/app:1.0");
    assert_eq!(tasks[0].resource_type, ResourceType::IMAGE);
    assert_eq!(
        tasks[0].artifact.as_ref().map(|p| p.processor.clone()),
        Some(None)
    );
}

#[tokio::test]
async fn an_http_processor_is_posted_the_manifest_and_config_and_its_attributes_kept() {
    let mut world = World::new().await;
    world.types = model_types(extender());
    world.processors.answer(Ok(Metadata {
        extra_attrs: serde_json::from_value(json!({"params": 42})).expect("map"),
        additions: Vec::new(),
    }));
    push_model_and_image(&world);
    let execution_id = replicate(&world, json!([])).await;
    let requests = world.processors.requests();
    assert_eq!(requests.len(), 1, "the model alone has an extender");
    let (url, request) = &requests[0];
    assert_eq!(url, "http://processor.test/");
    assert_eq!(request.artifact.repository_name, "team/model");
    assert_eq!(request.artifact.tags, vec!["v1".to_string()]);
    assert_eq!(request.artifact.kind, "MODEL");
    assert_eq!(request.artifact.media_type, MODEL);
    assert_eq!(request.config["framework"], json!("onnx"));
    let manifest: serde_json::Value =
        serde_json::from_str(&request.manifest).expect("the manifest as text");
    assert_eq!(manifest["config"]["mediaType"], json!(MODEL));
    assert_eq!(request.registry.url, "https://destination.test");
    assert_eq!(
        request.registry.authorization, "",
        "no credentials to a processor"
    );
    let model = world
        .tasks(execution_id)
        .into_iter()
        .find(|t| t.resource_type.as_str() == "model")
        .expect("the model's task");
    let profile = model.artifact.expect("a profile");
    assert_eq!(profile.extra_attrs["params"], json!(42));
    assert_eq!(profile.digest, request.artifact.digest);
}

#[tokio::test]
async fn a_processor_that_times_out_leaves_the_attributes_empty_and_the_copy_standing() {
    let mut world = World::new().await;
    world.types = model_types(extender());
    world.processors.answer(Err(ProcessorError::TimedOut {
        url: "http://processor.test/abstractmetadata".into(),
        seconds: 1,
    }));
    push_model_and_image(&world);
    let execution_id = replicate(&world, json!([])).await;
    let execution = world.execution(execution_id).await;
    assert_eq!(execution.status, ExecutionStatus::Succeed);
    let model = world
        .tasks(execution_id)
        .into_iter()
        .find(|t| t.resource_type.as_str() == "model")
        .expect("the model's task");
    assert_eq!(model.status, TaskStatus::Succeed);
    let profile = model.artifact.clone().expect("a profile");
    assert!(profile.extra_attrs.is_empty());
    let error = profile.processor_error.expect("why");
    assert!(error.contains("within 1 s"), "{error}");
    let log = task_log(world.logs.as_ref(), &model).await.expect("log");
    assert!(log.contains("the processor read nothing"), "{log}");
    assert!(world.destination.tagged("team/model", "v1").is_some());
}

#[tokio::test]
async fn the_in_tree_config_schema_names_the_type_for_the_filter_and_the_task() {
    let world = World::new().await;
    world.source.push_image("team/app", "1.0", &[b"layer"]);
    world.source.push_artifact(
        "team/ormb",
        "v1",
        "application/vnd.custom.artifact.config.v1+json",
        &json!({"key1": "value", "harbor": {"artifactMetadata": {
            "type": "ORMB", "mediaType": "application/vnd.caicloud.ormb.v1",
            "additions": [{"type": "readme", "contentType": "markdown", "digest": "sha256:abc"}]}}}),
        None,
    );
    // In-tree types cannot be named ahead; Harbor's `artifact` selects them.
    let execution_id = replicate(&world, json!([{"type": "resource", "value": "artifact"}])).await;
    let tasks = world.tasks(execution_id);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0].resource_type.as_str(), "ormb");
    let profile = tasks[0].artifact.clone().expect("a profile");
    assert_eq!(profile.media_type, "application/vnd.caicloud.ormb.v1");
    assert_eq!(profile.extra_attrs.get("key1"), Some(&json!("value")));
    assert!(!profile.extra_attrs.contains_key("harbor"));
    assert_eq!(profile.additions.len(), 1);
}
