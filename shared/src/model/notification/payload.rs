//! What a replication event says: Harbor's webhook payload for `REPLICATION` (its field names,
//! so Harbor's receivers parse it) with Ferry's own facts in a `ferry` object beside, and the
//! detail of the EventBridge event.

use serde::Serialize;

use super::{ReplicationEvent, ReplicationEventKind};
use crate::model::{Execution, ExecutionStatus, Registry, ReplicationPolicy, Task};

/// The EventBridge event's `source` and `detail-type`.
pub const EVENTBRIDGE_SOURCE: &str = "ferry.replication";
pub const EVENTBRIDGE_DETAIL_TYPE: &str = "Ferry Replication Execution State Change";

/// Everything the payload is built from, read by the notifier when it delivers.
#[derive(Debug, Clone)]
pub struct EventFacts<'a> {
    pub event: &'a ReplicationEvent,
    pub execution: &'a Execution,
    /// None when the policy was deleted meanwhile.
    pub policy: Option<&'a ReplicationPolicy>,
    /// The failed task of a task event.
    pub task: Option<&'a Task>,
    /// Who Ferry says it is (`harbor_hostname`).
    pub hostname: &'a str,
}

/// Harbor's `Payload` for a replication event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HarborPayload {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub occur_at: i64,
    pub operator: String,
    pub event_data: EventData,
    /// Ferry's addition, beside Harbor's fields.
    pub ferry: FerryExtra,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventData {
    pub replication: HarborReplication,
}

/// Harbor's `Replication` event model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HarborReplication {
    pub harbor_hostname: String,
    pub job_status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub artifact_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authentication_type: String,
    pub override_mode: bool,
    pub trigger_type: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub policy_creator: String,
    pub execution_timestamp: i64,
    pub src_resource: Option<ReplicationResource>,
    pub dest_resource: Option<ReplicationResource>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub successful_artifact: Vec<ArtifactInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_artifact: Vec<ArtifactInfo>,
    pub execution_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<i64>,
}

/// Harbor's `ReplicationResource`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReplicationResource {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub registry_name: String,
    pub registry_type: String,
    pub endpoint: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// Harbor's `ArtifactInfo`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ArtifactInfo {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub name_tag: String,
    pub references: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fail_reason: String,
}

/// Ferry's own facts about the event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FerryExtra {
    /// `execution_started`, `execution_ended` or `task_failed`.
    pub event: &'static str,
    pub execution_id: i64,
    pub policy_id: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub policy_name: String,
    pub status: &'static str,
    pub status_text: String,
    pub trigger: &'static str,
    pub total: i64,
    pub succeed: i64,
    pub failed: i64,
    pub stopped: i64,
    pub in_progress: i64,
    pub start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<FailedTask>,
}

/// The task a `task_failed` event is about.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailedTask {
    pub id: i64,
    /// The source, `repository:reference` as the task shows it.
    pub src_resource: String,
    pub dst_resource: String,
    /// The repository and reference, split from `src_resource`.
    pub repository: String,
    pub reference: String,
    pub status: &'static str,
    pub status_text: String,
}

/// The EventBridge event's `detail`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExecutionStateChange {
    pub event: &'static str,
    pub execution_id: i64,
    pub policy_id: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub policy_name: String,
    pub status: &'static str,
    pub status_text: String,
    pub trigger: &'static str,
    pub total: i64,
    pub succeed: i64,
    pub failed: i64,
    pub stopped: i64,
    pub in_progress: i64,
    pub start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Harbor's job statuses: a started execution is Running; an ended one Success, Error or
/// Stopped; a failed task Error.
fn job_status(facts: &EventFacts<'_>) -> &'static str {
    match facts.event.kind {
        ReplicationEventKind::ExecutionStarted => "Running",
        ReplicationEventKind::TaskFailed => "Error",
        ReplicationEventKind::ExecutionEnded => match facts.execution.status {
            ExecutionStatus::Succeed => "Success",
            ExecutionStatus::Failed => "Error",
            ExecutionStatus::Stopped => "Stopped",
            ExecutionStatus::InProgress => "Running",
        },
    }
}

/// `namespace/name:tag` (or `name@digest`) split at the repository's first `/`.
fn split_resource(resource: &str) -> (String, String) {
    match resource.split_once('/') {
        Some((namespace, rest)) => (namespace.to_string(), rest.to_string()),
        None => (String::new(), resource.to_string()),
    }
}

/// The repository and reference of `repository:tag` or `repository@digest`.
fn repository_and_reference(resource: &str) -> (String, String) {
    if let Some((repository, digest)) = resource.split_once('@') {
        return (repository.to_string(), digest.to_string());
    }
    // A tag follows the last `:` after the last `/` (a port is before it).
    let slash = resource.rfind('/').map_or(0, |i| i + 1);
    match resource[slash..].rfind(':') {
        Some(colon) => (
            resource[..slash + colon].to_string(),
            resource[slash + colon + 1..].to_string(),
        ),
        None => (resource.to_string(), String::new()),
    }
}

fn resource(registry: Option<&Registry>, namespace: String) -> Option<ReplicationResource> {
    registry.map(|r| ReplicationResource {
        registry_name: r.name.clone(),
        registry_type: r.kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
        endpoint: r.url.clone(),
        namespace,
    })
}

fn ferry_extra(facts: &EventFacts<'_>) -> FerryExtra {
    let e = facts.execution;
    FerryExtra {
        event: facts.event.kind.as_str(),
        execution_id: e.id,
        policy_id: e.policy_id,
        policy_name: facts.policy.map(|p| p.name.clone()).unwrap_or_default(),
        status: e.status.as_str(),
        status_text: e.status_text.clone(),
        trigger: e.trigger.as_str(),
        total: e.total,
        succeed: e.succeed,
        failed: e.failed,
        stopped: e.stopped,
        in_progress: e.in_progress,
        start_time: rfc3339(e.start_time),
        end_time: e.end_time.map(rfc3339),
        task: facts.task.map(|t| {
            let (repository, reference) = repository_and_reference(&t.src_resource);
            FailedTask {
                id: t.id,
                src_resource: t.src_resource.clone(),
                dst_resource: t.dst_resource.clone(),
                repository,
                reference,
                status: t.status.as_str(),
                status_text: t.status_text.clone(),
            }
        }),
    }
}

/// The webhook payload of an event, Harbor's shape with Ferry's facts beside.
pub fn harbor_payload(facts: &EventFacts<'_>) -> HarborPayload {
    let policy = facts.policy;
    let src_registry = policy.and_then(|p| p.src_registry.as_ref());
    let dest_registry = policy.and_then(|p| p.dest_registry.as_ref());
    let (src_namespace, src_name_tag) = facts
        .task
        .map(|t| split_resource(&t.src_resource))
        .unwrap_or_default();
    let (dest_namespace, _) = facts
        .task
        .map(|t| split_resource(&t.dst_resource))
        .unwrap_or_default();
    let failed_artifact = facts
        .task
        .map(|t| {
            let (_, reference) = repository_and_reference(&t.src_resource);
            vec![ArtifactInfo {
                kind: t.resource_type.as_str().to_string(),
                status: t.status.as_str().to_string(),
                name_tag: src_name_tag.clone(),
                references: vec![reference],
                fail_reason: t.status_text.clone(),
            }]
        })
        .unwrap_or_default();
    // Harbor names the remote registry's credential type.
    let remote = dest_registry.or(src_registry);
    HarborPayload {
        kind: "REPLICATION",
        occur_at: facts.event.occur_at,
        operator: facts.execution.trigger.as_str().to_string(),
        event_data: EventData {
            replication: HarborReplication {
                harbor_hostname: facts.hostname.to_string(),
                job_status: job_status(facts),
                description: policy.map(|p| p.description.clone()).unwrap_or_default(),
                artifact_type: facts
                    .task
                    .map(|t| t.resource_type.as_str().to_string())
                    .unwrap_or_default(),
                authentication_type: remote
                    .and_then(|r| r.credential.as_ref())
                    .map(|c| {
                        serde_json::to_value(c.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    })
                    .unwrap_or_default(),
                override_mode: policy.is_some_and(|p| p.override_),
                trigger_type: facts.execution.trigger.as_str(),
                policy_creator: String::new(),
                execution_timestamp: facts.execution.start_time.unix_timestamp(),
                src_resource: resource(src_registry, src_namespace),
                dest_resource: resource(dest_registry, dest_namespace),
                successful_artifact: Vec::new(),
                failed_artifact,
                execution_id: facts.execution.id,
                task_id: facts.task.map(|t| t.id),
            },
        },
        ferry: ferry_extra(facts),
    }
}

/// The EventBridge detail of an execution's start or end; None for other events.
pub fn execution_state_change(facts: &EventFacts<'_>) -> Option<ExecutionStateChange> {
    if facts.event.kind == ReplicationEventKind::TaskFailed {
        return None;
    }
    let extra = ferry_extra(facts);
    Some(ExecutionStateChange {
        event: extra.event,
        execution_id: extra.execution_id,
        policy_id: extra.policy_id,
        policy_name: extra.policy_name,
        status: extra.status,
        status_text: extra.status_text,
        trigger: extra.trigger,
        total: extra.total,
        succeed: extra.succeed,
        failed: extra.failed,
        stopped: extra.stopped,
        in_progress: extra.in_progress,
        start_time: extra.start_time,
        end_time: extra.end_time,
    })
}

#[cfg(test)]
pub(super) fn split_for_tests(resource: &str) -> (String, String) {
    repository_and_reference(resource)
}
