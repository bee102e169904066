use super::payload::split_for_tests;
use super::*;
use crate::model::addresses::AddressPolicy;
use crate::model::{
    Credential, CredentialType, Execution, ExecutionStatus, Operation, Registry, RegistryType,
    ReplicationPolicy, ResourceType, Task, TaskStatus, TransferFigures, TriggerType,
};

fn target(address: &str) -> WebhookTarget {
    WebhookTarget {
        address: address.into(),
        auth_header: Some("Bearer t0ken".into()),
        payload_format: PAYLOAD_FORMAT_DEFAULT.into(),
        ..WebhookTarget::default()
    }
}

fn policy(address: &str) -> WebhookPolicy {
    WebhookPolicy {
        name: "ops".into(),
        targets: vec![target(address)],
        event_types: vec![EventType::Replication],
        ..WebhookPolicy::default()
    }
}

fn refused_field(policy: &WebhookPolicy, addresses: AddressPolicy) -> String {
    policy.validate(addresses).expect_err("refused").field
}

#[test]
fn a_policy_needs_a_name_an_http_target_ferry_may_reach_and_event_types() {
    let public = AddressPolicy::default();
    assert!(policy("https://hooks.example.com/ferry")
        .validate(public)
        .is_ok());
    assert_eq!(
        refused_field(&policy("hooks.example.com/x"), public),
        "targets[0].address"
    );
    assert_eq!(
        refused_field(&policy("ftp://hooks.example.com/"), public),
        "targets[0].address"
    );
    assert_eq!(
        refused_field(
            &policy("http://169.254.169.254/latest"),
            AddressPolicy::allowing_private(true)
        ),
        "targets[0].address",
        "the metadata service is never a receiver"
    );
    assert_eq!(
        refused_field(&policy("http://127.0.0.1:9/"), public),
        "targets[0].address"
    );
    assert!(policy("http://127.0.0.1:9/")
        .validate(AddressPolicy::allowing_private(true))
        .is_ok());
    assert_eq!(
        refused_field(&policy("http://user:pw@hooks.example.com/"), public),
        "targets[0].address"
    );
    let mut unnamed = policy("https://hooks.example.com/");
    unnamed.name = " ".into();
    assert_eq!(refused_field(&unnamed, public), "name");
    let mut no_types = policy("https://hooks.example.com/");
    no_types.event_types.clear();
    assert_eq!(refused_field(&no_types, public), "event_types");
    let mut no_targets = policy("https://hooks.example.com/");
    no_targets.targets.clear();
    assert_eq!(refused_field(&no_targets, public), "targets");
    let mut slack = policy("https://hooks.example.com/");
    slack.targets[0].payload_format = "CloudEvents".into();
    assert_eq!(refused_field(&slack, public), "targets[0].payload_format");
    let mut header = policy("https://hooks.example.com/");
    header.targets[0].auth_header = Some("a\nb".into());
    assert_eq!(refused_field(&header, public), "targets[0].auth_header");
}

#[test]
fn event_types_other_than_replication_ones_do_not_parse() {
    let parsed: Result<WebhookPolicy, _> =
        serde_json::from_str(r#"{"name":"x","event_types":["PUSH_ARTIFACT"]}"#);
    assert!(parsed.is_err());
    let parsed: WebhookPolicy =
        serde_json::from_str(r#"{"name":"x","event_types":["REPLICATION_TASK_FAILED"]}"#)
            .expect("finer type");
    assert!(parsed.wants(ReplicationEventKind::TaskFailed));
    assert!(!parsed.wants(ReplicationEventKind::ExecutionEnded));
    let all = policy("https://h.example/");
    assert!(all.wants(ReplicationEventKind::ExecutionStarted));
    let disabled = WebhookPolicy {
        enabled: false,
        ..all
    };
    assert!(!disabled.wants(ReplicationEventKind::ExecutionStarted));
}

#[test]
fn reads_mask_the_auth_header_and_an_update_sending_the_mask_keeps_it() {
    let stored = policy("https://h.example/");
    let shown = stored.clone().masked();
    assert_eq!(shown.targets[0].auth_header.as_deref(), Some("*****"));
    let json = serde_json::to_value(&shown).expect("json");
    assert!(!json.to_string().contains("t0ken"));
    let mut update = shown.clone();
    update.keep_masked_headers(&stored);
    assert_eq!(
        update.targets[0].auth_header.as_deref(),
        Some("Bearer t0ken")
    );
}

fn registry(id: i64, name: &str, url: &str) -> Registry {
    Registry {
        id,
        name: name.into(),
        kind: Some(RegistryType::DockerRegistry),
        url: url.into(),
        credential: Some(Credential {
            kind: CredentialType::Basic,
            access_key: "u".into(),
            access_secret: None,
        }),
        ..Registry::default()
    }
}

fn facts_fixture() -> (Execution, ReplicationPolicy, Task) {
    let start = time::macros::datetime!(2026-01-02 03:04:05 UTC);
    let mut execution = Execution::new(7, 3, TriggerType::Manual, start);
    execution.status = ExecutionStatus::Failed;
    execution.status_text = "1 of 2 tasks failed".into();
    execution.end_time = Some(start + time::Duration::seconds(30));
    execution.total = 2;
    execution.succeed = 1;
    execution.failed = 1;
    let policy = ReplicationPolicy {
        id: 3,
        name: "mirror".into(),
        description: "to the mirror".into(),
        src_registry: Some(registry(1, "src", "http://src.example")),
        dest_registry: Some(registry(2, "dst", "http://dst.example")),
        override_: true,
        ..ReplicationPolicy::default()
    };
    let task = Task {
        id: 11,
        execution_id: 7,
        job_id: "7-11".into(),
        status: TaskStatus::Failed,
        status_text: "manifest unknown: nope".into(),
        operation: Operation::Copy,
        resource_type: ResourceType::IMAGE,
        src_resource: "library/alpine:nope".into(),
        dst_resource: "mirror/alpine:nope".into(),
        start_time: None,
        end_time: None,
        figures: TransferFigures::default(),
        continuations: 0,
        resource: None,
        log: None,
        artifact: None,
    };
    (execution, policy, task)
}

#[test]
fn the_payload_has_harbors_replication_fields_and_ferrys_beside() {
    let (execution, policy, task) = facts_fixture();
    let event = ReplicationEvent {
        kind: ReplicationEventKind::TaskFailed,
        execution_id: 7,
        task_id: Some(11),
        occur_at: 1_767_323_100,
    };
    let facts = EventFacts {
        event: &event,
        execution: &execution,
        policy: Some(&policy),
        task: Some(&task),
        hostname: "ferry.example",
    };
    let json = serde_json::to_value(harbor_payload(&facts)).expect("json");
    assert_eq!(json["type"], "REPLICATION");
    assert_eq!(json["occur_at"], 1_767_323_100);
    assert_eq!(json["operator"], "manual");
    let r = &json["event_data"]["replication"];
    assert_eq!(r["harbor_hostname"], "ferry.example");
    assert_eq!(r["job_status"], "Error");
    assert_eq!(r["artifact_type"], "image");
    assert_eq!(r["authentication_type"], "basic");
    assert_eq!(r["override_mode"], true);
    assert_eq!(r["trigger_type"], "manual");
    assert_eq!(r["execution_timestamp"], 1_767_323_045);
    assert_eq!(r["src_resource"]["registry_name"], "src");
    assert_eq!(r["src_resource"]["registry_type"], "docker-registry");
    assert_eq!(r["src_resource"]["endpoint"], "http://src.example");
    assert_eq!(r["src_resource"]["namespace"], "library");
    assert_eq!(r["dest_resource"]["registry_name"], "dst");
    assert_eq!(r["dest_resource"]["namespace"], "mirror");
    assert_eq!(r["failed_artifact"][0]["name_tag"], "alpine:nope");
    assert_eq!(r["failed_artifact"][0]["references"][0], "nope");
    assert_eq!(r["failed_artifact"][0]["status"], "Failed");
    assert_eq!(
        r["failed_artifact"][0]["fail_reason"],
        "manifest unknown: nope"
    );
    assert_eq!(r["execution_id"], 7);
    assert_eq!(r["task_id"], 11);
    let f = &json["ferry"];
    assert_eq!(f["event"], "task_failed");
    assert_eq!(f["policy_id"], 3);
    assert_eq!(f["policy_name"], "mirror");
    assert_eq!(f["status"], "Failed");
    assert_eq!(f["total"], 2);
    assert_eq!(f["failed"], 1);
    assert_eq!(f["task"]["repository"], "library/alpine");
    assert_eq!(f["task"]["reference"], "nope");
    assert_eq!(f["task"]["status_text"], "manifest unknown: nope");
    assert!(
        execution_state_change(&facts).is_none(),
        "tasks are webhooks only"
    );
}

#[test]
fn an_ended_execution_is_a_state_change_with_its_counts() {
    let (execution, policy, _) = facts_fixture();
    let event = ReplicationEvent::now(ReplicationEventKind::ExecutionEnded, 7, None);
    let facts = EventFacts {
        event: &event,
        execution: &execution,
        policy: Some(&policy),
        task: None,
        hostname: "ferry",
    };
    let payload = serde_json::to_value(harbor_payload(&facts)).expect("json");
    assert_eq!(payload["event_data"]["replication"]["job_status"], "Error");
    assert!(payload["event_data"]["replication"]
        .get("failed_artifact")
        .is_none());
    assert!(payload["ferry"].get("task").is_none());
    let detail =
        serde_json::to_value(execution_state_change(&facts).expect("detail")).expect("json");
    assert_eq!(detail["event"], "execution_ended");
    assert_eq!(detail["status"], "Failed");
    assert_eq!(detail["policy_name"], "mirror");
    assert_eq!(detail["succeed"], 1);
    assert_eq!(detail["start_time"], "2026-01-02T03:04:05Z");
    assert_eq!(detail["end_time"], "2026-01-02T03:04:35Z");
    assert_eq!(event.key(), "execution_ended#7");
}

#[test]
fn references_split_off_tags_and_digests_not_ports() {
    assert_eq!(split_for_tests("a/b:v1"), ("a/b".into(), "v1".into()));
    assert_eq!(
        split_for_tests("a/b@sha256:00"),
        ("a/b".into(), "sha256:00".into())
    );
    assert_eq!(
        split_for_tests("host:5000/b"),
        ("host:5000/b".into(), String::new())
    );
}
