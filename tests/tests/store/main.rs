//! The DynamoDB store, the SQS queue and the S3 task logs against the emulator.

mod budgets;
mod executions;
mod load;
mod pull;
mod records;

use std::collections::HashSet;
use std::sync::Arc;

use ferry::messages::{decode, ListMessage};
use ferry::model::{
    Credential, CredentialType, ExecutionStatus, Operation, Registry, RegistryType,
    ReplicationPolicy, ResourceType, TaskStatus, TransferFigures, TriggerType, ValidationError,
};
use ferry::ports::{
    ExecutionStore, Launch, MessageQueue, NewTask, PolicyStore, RegistryStore, StoreError,
    TaskLogSink, TaskStore, TaskTransition,
};
use ferry_tests::resources_only;

fn registry(name: &str) -> Registry {
    Registry {
        name: name.into(),
        kind: Some(RegistryType::DockerRegistry),
        url: "http://127.0.0.1:5001".into(),
        credential: Some(Credential {
            kind: CredentialType::Basic,
            access_key: "robot".into(),
            access_secret: Some("plain-secret-value".into()),
        }),
        ..Registry::default()
    }
}

fn policy(name: &str, src: i64, dest: i64) -> ReplicationPolicy {
    ReplicationPolicy {
        name: name.into(),
        src_registry: Some(Registry {
            id: src,
            ..Registry::default()
        }),
        dest_registry: Some(Registry {
            id: dest,
            ..Registry::default()
        }),
        ..ReplicationPolicy::default()
    }
}

fn new_tasks(count: usize) -> Vec<NewTask> {
    (0..count)
        .map(|i| NewTask {
            operation: Operation::Copy,
            resource_type: ResourceType::IMAGE,
            src_resource: format!("library/app:{i}"),
            dst_resource: format!("mirror/app:{i}"),
            resource: None,
        })
        .collect()
}
