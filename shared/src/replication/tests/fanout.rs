use std::collections::HashMap;

use super::World;
use crate::model::{ArtifactLocation, Operation, Resource, ResourceType};
use crate::ports::fakes::Injected;
use crate::ports::store::{ExecutionStore, MAX_TASKS_PER_BATCH};
use crate::replication::fanout::{fan_out, TaskBatch};

fn resources(count: usize) -> Vec<Resource> {
    (0..count)
        .map(|i| {
            let location = |registry_id| ArtifactLocation {
                registry_id,
                repository: format!("team/app{i}"),
                reference: "1.0".into(),
            };
            Resource {
                resource_type: ResourceType::Image,
                src: location(1),
                dst: location(2),
            }
        })
        .collect()
}

#[tokio::test]
async fn many_tasks_go_in_batches_and_a_repeated_fan_out_writes_none_twice() {
    let world = World::new().await;
    let policy = world.policy(serde_json::json!({})).await;
    let execution = world
        .store
        .create_execution(policy.id, crate::model::TriggerType::Manual, 1)
        .await
        .expect("execution");
    let batch = TaskBatch {
        execution_id: execution.id,
        piece: "",
        operation: Operation::Copy,
    };
    let many = resources(MAX_TASKS_PER_BATCH + 52);
    fan_out(
        world.store.as_ref(),
        world.queue.as_ref(),
        batch,
        &policy,
        &many,
        &HashMap::new(),
    )
    .await
    .expect("fanned out");
    fan_out(
        world.store.as_ref(),
        world.queue.as_ref(),
        batch,
        &policy,
        &many,
        &HashMap::new(),
    )
    .await
    .expect("again");
    assert_eq!(world.tasks(execution.id).len(), many.len());
    assert_eq!(world.execution(execution.id).await.total, many.len() as i64);
    assert_eq!(
        world.queue.take_transfer().len(),
        2 * many.len(),
        "messages sent again for open tasks"
    );
}

#[tokio::test]
async fn a_queue_failure_fails_the_fan_out_and_a_redelivery_sends_what_is_missing() {
    let world = World::new().await;
    let policy = world.policy(serde_json::json!({})).await;
    let execution = world
        .store
        .create_execution(policy.id, crate::model::TriggerType::Manual, 1)
        .await
        .expect("execution");
    let batch = TaskBatch {
        execution_id: execution.id,
        piece: "",
        operation: Operation::Copy,
    };
    let few = resources(3);
    world
        .queue
        .faults
        .fail("send_transfer", 1, Injected::Transient);
    assert!(fan_out(
        world.store.as_ref(),
        world.queue.as_ref(),
        batch,
        &policy,
        &few,
        &HashMap::new()
    )
    .await
    .is_err());
    assert!(world.queue.take_transfer().is_empty());
    fan_out(
        world.store.as_ref(),
        world.queue.as_ref(),
        batch,
        &policy,
        &few,
        &HashMap::new(),
    )
    .await
    .expect("healed");
    assert_eq!(world.queue.take_transfer().len(), 3);
    assert_eq!(
        world.execution(execution.id).await.total,
        3,
        "tasks written once"
    );
}
