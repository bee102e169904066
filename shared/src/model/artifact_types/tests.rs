use serde_json::json;

use super::*;
use crate::oci::media;

fn facts(manifest: serde_json::Value) -> ManifestFacts {
    ManifestFacts::read(manifest.to_string().as_bytes(), "")
}

fn manifest(config: &str) -> ManifestFacts {
    facts(json!({
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": config, "digest": format!("sha256:{}", "c".repeat(64))},
        "layers": []
    }))
}

const MODEL: &str = "application/vnd.caicloud.model.config.v1alpha1+json";

fn registered() -> ArtifactTypes {
    let yaml = r#"
processors:
  - type: model
    config_media_types: ["application/vnd.caicloud.model.config.v1alpha1+json"]
  - type: Notebook
    artifact_types: [application/vnd.example.notebook.v1]
    url: http://127.0.0.1:9/processor
    timeout_seconds: 2
    authorization_env: NOTEBOOK_AUTH
"#;
    let env = |name: &str| (name == "NOTEBOOK_AUTH").then(|| "Bearer t0ken".to_string());
    ArtifactTypes::from_yaml(yaml, &env).expect("a valid file")
}

#[test]
fn built_in_types_are_told_by_media_types() {
    let types = ArtifactTypes::default();
    let kind = |f: &ManifestFacts| types.classify(f, None).resource_type;
    assert_eq!(kind(&manifest(media::HELM_CONFIG)), ResourceType::CHART);
    assert_eq!(
        kind(&manifest("application/vnd.oci.image.config.v1+json")),
        ResourceType::IMAGE
    );
    assert_eq!(
        kind(&manifest("application/vnd.cnab.config.v1+json")),
        ResourceType::CNAB
    );
    let cnab_index = facts(json!({"mediaType": media::OCI_INDEX, "manifests": [],
        "annotations": {"io.cnab.runtime_version": "v1.0.0"}}));
    assert_eq!(kind(&cnab_index), ResourceType::CNAB);
    assert_eq!(
        kind(&facts(
            json!({"mediaType": media::OCI_INDEX, "manifests": []})
        )),
        ResourceType::IMAGE
    );
    assert_eq!(
        kind(&manifest("application/vnd.wasm.config.v0+json")),
        ResourceType::WASM
    );
    let sbom = facts(json!({"artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json"}}));
    assert_eq!(kind(&sbom), ResourceType::SBOM);
    let cosign = facts(
        json!({"config": {"mediaType": "application/vnd.oci.image.config.v1+json"},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json"}]}),
    );
    assert_eq!(kind(&cosign), ResourceType::SIGNATURE);
    let notation = facts(json!({"artifactType": "application/vnd.cncf.notary.signature"}));
    assert_eq!(kind(&notation), ResourceType::SIGNATURE);
    let attestation = facts(
        json!({"config": {"mediaType": "application/vnd.oci.image.config.v1+json"},
        "layers": [{"mediaType": "application/vnd.dsse.envelope.v1+json"}]}),
    );
    assert_eq!(kind(&attestation), ResourceType::ATTESTATION);
    assert_eq!(
        kind(&manifest(
            "application/vnd.cncf.openpolicyagent.config.v1+json"
        )),
        ResourceType::OPA
    );
    assert_eq!(kind(&manifest(MODEL)), ResourceType::ARTIFACT);
}

#[test]
fn registered_types_come_first_by_config_or_artifact_type() {
    let types = registered();
    let model = types.classify(&manifest(MODEL), None);
    assert_eq!(model.resource_type.as_str(), "model");
    assert_eq!(model.by, TypedBy::Registered);
    assert_eq!(model.media_type, MODEL);
    assert_eq!(types.processor(&model), Some(Processor::General));
    let notebook = facts(
        json!({"artifactType": "application/vnd.example.notebook.v1",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json"}}),
    );
    let notebook = types.classify(&notebook, None);
    assert_eq!(notebook.resource_type.as_str(), "notebook");
    match types.processor(&notebook) {
        Some(Processor::Http(http)) => {
            assert_eq!(http.url.as_str(), "http://127.0.0.1:9/processor");
            assert_eq!(http.timeout, Duration::from_secs(2));
            assert_eq!(http.authorization.as_deref(), Some("Bearer t0ken"));
            assert!(
                !format!("{http:?}").contains("t0ken"),
                "the secret is not shown"
            );
        }
        other => panic!("the extender, not {other:?}"),
    }
    assert!(
        !types.needs_config(&manifest(MODEL)),
        "told without the config"
    );
    let names: Vec<String> = types.names().iter().map(ToString::to_string).collect();
    assert!(names.contains(&"model".to_string()) && names.contains(&"image".to_string()));
}

#[test]
fn the_in_tree_schema_names_a_type_from_the_config() {
    let types = ArtifactTypes::default();
    let custom = manifest("application/vnd.custom.artifact.config.v1+json");
    assert!(types.needs_config(&custom));
    assert!(!types.needs_config(&manifest("application/vnd.oci.image.config.v1+json")));
    assert!(!types.needs_config(&manifest("application/vnd.oci.empty.v1+json")));
    let config = json!({
        "key1": "value",
        "harbor": {"artifactMetadata": {
            "type": "ORMB",
            "mediaType": "application/vnd.caicloud.ormb.xxx",
            "additions": [{"contentType": "markdown", "type": "readme", "digest": "sha256:abc"}]
        }}
    });
    let classified = types.classify(&custom, Some(&config));
    assert_eq!(classified.resource_type.as_str(), "ormb");
    assert_eq!(classified.by, TypedBy::InTree);
    assert_eq!(classified.media_type, "application/vnd.caicloud.ormb.xxx");
    assert_eq!(types.processor(&classified), Some(Processor::General));
    let metadata = general_metadata(&config);
    assert_eq!(metadata.extra_attrs.get("key1"), Some(&json!("value")));
    assert!(!metadata.extra_attrs.contains_key("harbor"));
    assert_eq!(
        metadata.additions,
        vec![Addition {
            kind: "readme".into(),
            content_type: "markdown".into(),
            digest: "sha256:abc".into()
        }]
    );
    let plain = types.classify(&custom, Some(&json!({"key1": 1})));
    assert_eq!(plain.resource_type, ResourceType::ARTIFACT);
    assert_eq!(types.processor(&plain), None);
}

#[test]
fn filters_may_name_built_in_and_registered_types_only() {
    let types = registered();
    assert!(types.check_filter("f", &ResourceType::CNAB).is_ok());
    assert!(types
        .check_filter("f", &ResourceType::named("model").expect("name"))
        .is_ok());
    let unknown = types
        .check_filter(
            "filters[0].value",
            &ResourceType::named("modle").expect("name"),
        )
        .expect_err("unknown");
    assert_eq!(unknown.field, "filters[0].value");
    assert!(unknown.reason.contains("model"), "{}", unknown.reason);
}

#[test]
fn processors_yaml_reads_the_seeds_keys_and_refuses_bad_entries() {
    let no_env = |_: &str| None;
    let seed = "Processors:\n- ProcessorUrl: \"http://127.0.0.1:8080\"\n  ArtifactMediaType: \"application/vnd.example.thing.v1+json\"\n  ArtifactType: THING\n";
    let types = ArtifactTypes::from_yaml(seed, &no_env).expect("the seed's form");
    assert_eq!(types.custom()[0].name.as_str(), "thing");
    assert_eq!(
        types.custom()[0].config_media_types,
        vec!["application/vnd.example.thing.v1+json".to_string()]
    );
    let refused = |yaml: &str| {
        ArtifactTypes::from_yaml(yaml, &no_env)
            .expect_err("refused")
            .to_string()
    };
    let entry = |rest: &str| format!("processors:\n  - type: thing\n{rest}");
    assert!(refused("processors: [").contains("not valid"));
    assert!(refused(&entry("    config_media_types: [a/b]\n    colour: red\n")).contains("colour"));
    assert!(
        refused("processors:\n  - type: image\n    config_media_types: [a/b]\n")
            .contains("built-in")
    );
    assert!(refused(&entry("")).contains("processors[0].config_media_types"));
    assert!(refused(&entry("    config_media_types: [nonsense]\n")).contains("not a media type"));
    assert!(
        refused(&entry("    config_media_types: [a/b]\n    url: ftp://x\n"))
            .contains("processors[0].url")
    );
    assert!(refused(&entry(
        "    config_media_types: [a/b]\n    url: http://x\n    timeout_seconds: 0\n"
    ))
    .contains("timeout_seconds"));
    assert!(refused(&entry(
        "    config_media_types: [a/b]\n    url: http://x\n    authorization_env: UNSET_VARIABLE\n"
    ))
    .contains("UNSET_VARIABLE is not set"));
    let twice = format!(
        "{}  - type: THING\n    config_media_types: [c/d]\n",
        entry("    config_media_types: [a/b]\n")
    );
    assert!(refused(&twice).contains("twice"));
    assert_eq!(
        ArtifactTypes::from_yaml("", &no_env).map(|t| t.custom().len()),
        Ok(0),
        "an empty file registers nothing"
    );
}
