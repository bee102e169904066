//! The deployment's safety, read off infra/template.yaml: every table recoverable and
//! encrypted, the log bucket TLS-only, every function's logs kept for a set time, private
//! registry addresses off by default, IAM authorization and throttling available, and the API
//! unable to delete what it never deletes.

use serde_yaml_ng::Value;

use ferry_local::template::{Kind, Template};
use ferry_tests::workspace_root;

fn template() -> (Template, Value) {
    let path = workspace_root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).expect("template");
    (
        Template::load(&path).expect("template"),
        serde_yaml_ng::from_str(&text).expect("yaml"),
    )
}

/// A value's text, through a tag such as `!Sub` or `!Ref`.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Tagged(tagged) => text(&tagged.value),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn tables_are_recoverable_and_encrypted_and_the_bucket_takes_only_tls() {
    let (template, _) = template();
    let resources = template.resources();
    let tables: Vec<_> = resources.iter().filter(|r| r.kind == Kind::Table).collect();
    assert!(
        tables.len() >= 6,
        "registries, policies, executions, tasks, meta, robots"
    );
    for table in tables {
        let p = &table.properties;
        assert_eq!(
            p.get("PointInTimeRecoverySpecification")
                .and_then(|s| s.get("PointInTimeRecoveryEnabled"))
                .map(text),
            Some("true".into()),
            "{}",
            table.logical_id
        );
        assert_eq!(
            p.get("SSESpecification")
                .and_then(|s| s.get("SSEEnabled"))
                .map(text),
            Some("true".into()),
            "{}",
            table.logical_id
        );
    }
    let policy = resources
        .iter()
        .find(|r| r.logical_id == "TaskLogBucketPolicy")
        .expect("a bucket policy");
    let statements = policy.properties["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements");
    assert!(statements.iter().any(|s| text(&s["Effect"]) == "Deny"
        && text(&s["Condition"]["Bool"]["aws:SecureTransport"]) == "false"));
}

#[test]
fn every_function_has_a_log_group_with_retention() {
    let (template, _) = template();
    let resources = template.resources();
    let groups: Vec<String> = resources
        .iter()
        .filter(|r| r.kind == Kind::Other("AWS::Logs::LogGroup".into()))
        .filter(|r| r.properties.get("RetentionInDays").is_some())
        .filter_map(|r| r.properties.get("LogGroupName").map(text))
        .collect();
    for function in resources.iter().filter(|r| r.kind == Kind::Function) {
        let name = text(&function.properties["FunctionName"]);
        assert!(
            groups.contains(&format!("/aws/lambda/{name}")),
            "{} has no log group with retention: {groups:?}",
            function.logical_id
        );
    }
}

#[test]
fn private_addresses_are_off_by_default_and_iam_and_throttling_are_there() {
    let (template, root) = template();
    let defaults = template.parameter_defaults();
    assert_eq!(defaults["AllowPrivateRegistryAddresses"], "false");
    assert_eq!(defaults["ApiAuthorization"], "BASIC");
    let allowed = root["Parameters"]["ApiAuthorization"]["AllowedValues"]
        .as_sequence()
        .expect("allowed values");
    assert!(allowed.iter().any(|v| text(v) == "AWS_IAM"));
    assert!(template
        .function_global("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(|v| v.get("FERRY_ALLOW_PRIVATE_ADDRESSES"))
        .is_some());
    let api = &root["Resources"]["HttpApi"]["Properties"];
    for setting in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
        assert!(
            api["DefaultRouteSettings"].get(setting).is_some(),
            "{setting}"
        );
    }
}

#[test]
fn the_api_cannot_delete_executions_or_tasks_nor_change_tasks() {
    let (_, root) = template();
    let statements = root["Resources"]["ApiFunction"]["Properties"]["Policies"][0]["Statement"]
        .as_sequence()
        .expect("statements")
        .clone();
    for statement in statements {
        let resources = format!("{:?}", statement["Resource"]);
        let actions: Vec<String> = statement["Action"]
            .as_sequence()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_else(|| vec![text(&statement["Action"])]);
        assert!(
            !actions.iter().any(|a| a == "*" || a.ends_with(":*")),
            "{actions:?}"
        );
        if resources.contains("TasksTable") || resources.contains("ExecutionsTable") {
            assert!(
                !actions.contains(&"dynamodb:DeleteItem".to_string()),
                "{resources}"
            );
        }
        if resources.contains("TasksTable") {
            assert!(
                !actions.contains(&"dynamodb:UpdateItem".to_string()),
                "{resources}"
            );
        }
    }
}
