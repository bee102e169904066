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

/// The template's resources of one type, by logical id.
fn resources_of<'a>(root: &'a Value, type_name: &str) -> Vec<(String, &'a Value)> {
    root["Resources"]
        .as_mapping()
        .expect("resources")
        .iter()
        .filter(|(_, decl)| text(&decl["Type"]) == type_name)
        .map(|(id, decl)| (text(id), decl))
        .collect()
}

/// An alarm's metrics as (namespace, metric name, dimension values): its own metric, or those
/// its metric math reads.
fn alarm_metrics(alarm: &Value) -> Vec<(String, String, Vec<String>)> {
    let one = |m: &Value| {
        let dimensions: Vec<String> = m["Dimensions"]
            .as_sequence()
            .map(|d| d.iter().map(|d| text(&d["Value"])).collect())
            .unwrap_or_default();
        (text(&m["Namespace"]), text(&m["MetricName"]), dimensions)
    };
    let p = &alarm["Properties"];
    match p["Metrics"].as_sequence() {
        Some(metrics) => metrics
            .iter()
            .filter(|m| m.get("MetricStat").is_some())
            .map(|m| one(&m["MetricStat"]["Metric"]))
            .collect(),
        None => vec![one(p)],
    }
}

#[test]
fn the_alarms_watch_the_queues_executions_functions_and_tables_and_all_notify_the_topic() {
    let (template, root) = template();
    assert_eq!(template.parameter_defaults()["AlarmTopicArn"], "");
    let topics = resources_of(&root, "AWS::SNS::Topic");
    assert_eq!(
        topics.len(),
        1,
        "one topic, made when AlarmTopicArn is empty"
    );
    assert_eq!(topics[0].0, "AlarmTopic");
    assert_eq!(text(&topics[0].1["Condition"]), "CreateAlarmTopic");
    let condition: Value = serde_yaml_ng::from_str("!Equals [!Ref AlarmTopicArn, \"\"]").unwrap();
    assert_eq!(root["Conditions"]["CreateAlarmTopic"], condition);
    let topic: Value =
        serde_yaml_ng::from_str("!If [CreateAlarmTopic, !Ref AlarmTopic, !Ref AlarmTopicArn]")
            .unwrap();
    assert_eq!(root["Outputs"]["AlarmTopicArn"]["Value"], topic);

    let alarms = resources_of(&root, "AWS::CloudWatch::Alarm");
    for (id, alarm) in &alarms {
        let p = &alarm["Properties"];
        assert_eq!(
            p["AlarmActions"].as_sequence().map(Vec::as_slice),
            Some(std::slice::from_ref(&topic)),
            "{id} notifies the alarm topic"
        );
        assert_eq!(text(&p["TreatMissingData"]), "notBreaching", "{id}");
        assert_eq!(
            text(&p["ComparisonOperator"]),
            "GreaterThanThreshold",
            "{id}"
        );
    }
    let watched: Vec<(String, String, Vec<String>)> = alarms
        .iter()
        .flat_map(|(_, alarm)| alarm_metrics(alarm))
        .collect();
    let watches = |namespace: &str, metric: &str, dimension: Option<&str>| {
        watched.iter().any(|(n, m, d)| {
            n == namespace
                && m == metric
                && match dimension {
                    Some(value) => d.len() == 1 && d[0] == value,
                    None => d.is_empty(),
                }
        })
    };
    for queue in [
        "ListDeadLetterQueue",
        "TransferDeadLetterQueue",
        "NotifyDeadLetterQueue",
    ] {
        let dimension = format!("{queue}.QueueName");
        assert!(
            watches(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                Some(dimension.as_str())
            ),
            "{queue}: {watched:?}"
        );
    }
    for metric in ["ExecutionsFailed", "StuckExecutions"] {
        assert!(watches("Ferry", metric, None), "{metric}: {watched:?}");
    }
    let functions = resources_of(&root, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 4);
    for (id, _) in &functions {
        assert!(
            watches("AWS/Lambda", "Throttles", Some(id.as_str())),
            "{id}: {watched:?}"
        );
    }
    assert!(watches("AWS/Lambda", "Errors", Some("TransferFunction")));

    // The transfer's duration alarm: its Maximum above 90% of its timeout (milliseconds).
    let timeout: u64 = text(&root["Resources"]["TransferFunction"]["Properties"]["Timeout"])
        .parse()
        .expect("the transfer's timeout is a number");
    let duration = alarms
        .iter()
        .find(|(_, a)| {
            alarm_metrics(a)
                == [(
                    "AWS/Lambda".to_string(),
                    "Duration".to_string(),
                    vec!["TransferFunction".to_string()],
                )]
        })
        .expect("an alarm on the transfer's duration");
    let p = &duration.1["Properties"];
    assert_eq!(text(&p["Statistic"]), "Maximum");
    assert_eq!(
        text(&p["Threshold"]).parse::<f64>().expect("threshold"),
        (timeout * 900) as f64,
        "90% of {timeout} s in ms"
    );

    // DynamoDB: every table's read and write throttle events.
    for (table, _) in resources_of(&root, "AWS::DynamoDB::Table") {
        for metric in ["ReadThrottleEvents", "WriteThrottleEvents"] {
            assert!(
                watches("AWS/DynamoDB", metric, Some(table.as_str())),
                "{table} {metric}: {watched:?}"
            );
        }
    }
}

#[test]
fn the_dashboard_shows_ferrys_metrics_and_its_body_is_json() {
    let (_, root) = template();
    let dashboards = resources_of(&root, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1);
    let body = text(&dashboards[0].1["Properties"]["DashboardBody"]);
    for metric in [
        "ArtifactsCopied",
        "ArtifactsSkipped",
        "ArtifactsFailed",
        "ArtifactsDeleted",
        "BytesCopied",
        "BlobsCopied",
        "BlobsMounted",
        "BlobsSkipped",
        "TaskDuration",
        "ListingDuration",
        "ListingSize",
        "ExecutionsFailed",
        "ExecutionsSucceeded",
        "RegistryRequests",
        "RegistryThrottled",
        "RegistryRetries",
        "RegistryHealthy",
        "BudgetWaits",
        "QueueAge",
        "StuckExecutions",
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "Errors",
        "Throttles",
        "Duration",
    ] {
        // A metric's name, quoted in a widget's list or in a SEARCH expression.
        let named = body.contains(&format!("\"{metric}\""))
            || body.contains(&format!("MetricName=\\\"{metric}\\\""));
        assert!(named, "{metric}");
    }
    for schema in [
        "{Ferry,Policy}",
        "{Ferry,Registry}",
        "{Ferry,Registry,StatusClass}",
        "{Ferry,Function}",
    ] {
        assert!(body.contains(schema), "{schema}");
    }
    // Every `${...}` is a resource (or its attribute) or a pseudo parameter; with them replaced
    // the body is JSON.
    let mut plain = String::new();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').expect("closed");
        let name = &rest[start + 2..end];
        let resource = name.split('.').next().unwrap_or_default();
        assert!(
            name.starts_with("AWS::") || root["Resources"].get(resource).is_some(),
            "{name}"
        );
        plain.push_str(&rest[..start]);
        plain.push('x');
        rest = &rest[end + 1..];
    }
    plain.push_str(rest);
    let json: serde_json::Value = serde_json::from_str(&plain).expect("the body is JSON");
    assert!(json["widgets"].as_array().is_some_and(|w| w.len() > 5));
}

#[test]
fn every_log_group_keeps_its_logs_for_a_set_time() {
    let (_, root) = template();
    let groups = resources_of(&root, "AWS::Logs::LogGroup");
    assert!(groups.len() >= 4, "one per function");
    for (id, group) in groups {
        assert_eq!(
            text(&group["Properties"]["RetentionInDays"]),
            "LogRetentionDays",
            "{id}"
        );
    }
}

#[test]
fn the_trigger_checks_registry_health_on_its_own_schedule() {
    let (template, root) = template();
    assert_eq!(
        template.parameter_defaults()["HealthSchedule"],
        "rate(5 minutes)"
    );
    let trigger = &root["Resources"]["TriggerFunction"]["Properties"];
    let event = &trigger["Events"]["HealthMonitor"];
    assert_eq!(text(&event["Type"]), "ScheduleV2");
    let p = &event["Properties"];
    assert_eq!(text(&p["ScheduleExpression"]), "HealthSchedule");
    let input: serde_json::Value = serde_json::from_str(&text(&p["Input"])).expect("JSON input");
    assert_eq!(input, serde_json::json!({"health": true}));
    // The reaper's schedule is still there beside it.
    assert_eq!(text(&trigger["Events"]["Reaper"]["Type"]), "ScheduleV2");

    let statement = trigger["Policies"][0]["Statement"]
        .as_sequence()
        .expect("statements")
        .iter()
        .find(|s| text(&s["Sid"]) == "RegistryHealth")
        .expect("a RegistryHealth statement")
        .clone();
    let actions: Vec<String> = statement["Action"]
        .as_sequence()
        .expect("actions")
        .iter()
        .map(text)
        .collect();
    for action in ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem"] {
        assert!(actions.contains(&action.to_string()), "{action}");
    }
    let resources: Vec<String> = statement["Resource"]
        .as_sequence()
        .expect("resources")
        .iter()
        .map(text)
        .collect();
    assert!(resources.contains(&"RegistriesTable.Arn".to_string()));
    assert!(resources.contains(&"${RegistriesTable.Arn}/index/*".to_string()));
}

/// The binaries of the workspace's functions: each functions/*/Cargo.toml's `[[bin]]` names,
/// and its package's name when it has src/main.rs.
fn function_binaries() -> Vec<String> {
    let mut out = Vec::new();
    let dir = workspace_root().join("functions");
    for entry in std::fs::read_dir(&dir).expect("functions/") {
        let crate_dir = entry.expect("entry").path();
        let Ok(manifest) = std::fs::read_to_string(crate_dir.join("Cargo.toml")) else {
            continue;
        };
        let mut section = String::new();
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_string();
                continue;
            }
            let Some(("name", value)) = line.split_once('=').map(|(k, v)| (k.trim(), v.trim()))
            else {
                continue;
            };
            let name = value.trim_matches('"').to_string();
            let implicit = section == "[package]" && crate_dir.join("src/main.rs").exists();
            if section == "[[bin]]" || implicit {
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn every_function_is_a_workspace_binary_built_for_arm64_on_al2023() {
    let (template, root) = template();
    let binaries = function_binaries();
    assert!(binaries.len() >= 4, "{binaries:?}");
    let global = |key: &str| template.function_global(key).cloned();
    for (id, function) in resources_of(&root, "AWS::Serverless::Function") {
        assert_eq!(
            text(&function["Metadata"]["BuildMethod"]),
            "rust-cargolambda",
            "{id}"
        );
        let binary = text(&function["Metadata"]["BuildProperties"]["Binary"]);
        assert!(
            binaries.contains(&binary),
            "{id}: {binary} not in {binaries:?}"
        );
        let p = &function["Properties"];
        let setting = |key: &str| p.get(key).cloned().or_else(|| global(key));
        assert_eq!(
            setting("Runtime").map(|v| text(&v)).as_deref(),
            Some("provided.al2023"),
            "{id}"
        );
        let architectures: Option<Vec<String>> = setting("Architectures")
            .and_then(|v| v.as_sequence().map(|a| a.iter().map(text).collect()));
        assert_eq!(architectures, Some(vec!["arm64".to_string()]), "{id}");
        if let Some(handler) = setting("Handler") {
            assert_eq!(text(&handler), "bootstrap", "{id}");
        }
    }
}
