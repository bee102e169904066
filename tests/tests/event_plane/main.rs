//! The local event plane with the function binaries: SQS deliveries to `transfer`, redrive to
//! the DLQ, duplicate deliveries, the HTTP gateway to `api`, and a schedule firing `trigger`
//! through `lister` and `transfer` to a finished execution.

mod deliveries;
mod long_copies;
mod plane;
mod template;

use aws_sdk_sqs::types::QueueAttributeName;
use ferry::messages::TransferMessage;
use ferry::model::CopyOptions;
use ferry::model::{
    ArtifactLocation, Execution, ExecutionStatus, Operation, Registry, RegistryType,
    ReplicationPolicy, Resource, ResourceType, Task, TaskStatus, TriggerType,
};
use ferry::ports::{ExecutionStore, MessageQueue, NewTask, PolicyStore, RegistryStore, TaskStore};
use ferry_tests::images::layer;
use ferry_tests::registry::TestRegistry;
use ferry_tests::{eventually, LocalStack, LocalStackOptions, ADMIN_PASSWORD};

async fn add_registry(stack: &LocalStack, name: &str, url: &str) -> i64 {
    stack
        .adapters
        .store
        .create_registry(&Registry {
            name: name.into(),
            kind: Some(RegistryType::DockerRegistry),
            url: url.into(),
            ..Registry::default()
        })
        .await
        .expect("registry")
        .id
}

/// An execution with one pending task copying `src` to `dst`, and the message for it.
async fn one_task(
    stack: &LocalStack,
    src: ArtifactLocation,
    dst: ArtifactLocation,
) -> (Execution, Task, TransferMessage) {
    let store = &stack.adapters.store;
    let execution = store
        .create_execution(
            1,
            TriggerType::Manual,
            0,
            &ferry::ports::store::Launch::Listing,
        )
        .await
        .expect("execution");
    let task = store
        .create_tasks(
            execution.id,
            "only",
            &[NewTask {
                operation: Operation::Copy,
                resource_type: ResourceType::IMAGE,
                src_resource: src.display(),
                dst_resource: dst.display(),
                resource: None,
            }],
        )
        .await
        .expect("task")
        .remove(0);
    let message = TransferMessage {
        operation: Operation::Copy,
        execution_id: execution.id,
        task_id: task.id,
        policy_id: execution.policy_id,
        correlation_id: None,
        resource: Resource {
            resource_type: ResourceType::IMAGE,
            src,
            dst,
        },
        options: CopyOptions::default(),
        platforms: Vec::new(),
        checkpoint: None,
    };
    (execution, task, message)
}

async fn ended_task(stack: &LocalStack, execution_id: i64, task_id: i64) -> Task {
    eventually(60, "the task to end", || async {
        let task = stack
            .adapters
            .store
            .get_task(execution_id, task_id)
            .await
            .expect("task");
        task.status.is_final().then_some(task)
    })
    .await
}

/// The execution is closed in a write after the last task's, so a test that reads it right after
/// the task ended can see it still running: wait for it to be final too.
async fn ended_execution(stack: &LocalStack, execution_id: i64) -> Execution {
    eventually(60, "the execution to end", || async {
        let execution = stack
            .adapters
            .store
            .get_execution(execution_id)
            .await
            .expect("execution");
        execution.status.is_final().then_some(execution)
    })
    .await
}

async fn queue_is_drained(stack: &LocalStack, logical_id: &str) {
    let sqs = aws_sdk_sqs::Client::new(&stack.adapters.sdk);
    let url = stack.queue_url(logical_id);
    eventually(30, "the queue to drain", || async {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("attributes");
        let count = |name: QueueAttributeName| {
            attributes
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        (count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            == 0)
            .then_some(())
    })
    .await;
}
