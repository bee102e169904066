use std::collections::HashMap;

use super::World;
use crate::model::{ArtifactLocation, Operation, ReplicationPolicy, Resource, ResourceType};
use crate::ports::fakes::Injected;
use crate::ports::store::{ExecutionStore, Launch, MAX_TASKS_PER_BATCH};
use crate::replication::fanout::{fan_out, FanOutError, TaskBatch};

fn resources(count: usize) -> Vec<Resource> {
    (0..count)
        .map(|i| {
            let location = |registry_id| ArtifactLocation {
                registry_id,
                repository: format!("team/app{i}"),
                reference: "1.0".into(),
            };
            Resource {
                resource_type: ResourceType::IMAGE,
                src: location(1),
                dst: location(2),
            }
        })
        .collect()
}

/// A policy and an execution of it, to fan tasks out into.
async fn setup(world: &World) -> (ReplicationPolicy, i64) {
    let policy = world.policy(serde_json::json!({})).await;
    let execution = world
        .store
        .create_execution(
            policy.id,
            crate::model::TriggerType::Manual,
            1,
            &Launch::Listing,
        )
        .await
        .expect("execution");
    (policy, execution.id)
}

/// Fans `resources` out into the execution's first piece.
async fn fan(
    world: &World,
    policy: &ReplicationPolicy,
    execution_id: i64,
    resources: &[Resource],
) -> Result<(), FanOutError> {
    let batch = TaskBatch {
        execution_id,
        piece: "",
        operation: Operation::Copy,
    };
    let unchanged = HashMap::new();
    let (store, queue) = (world.store.as_ref(), world.queue.as_ref());
    fan_out(store, queue, batch, policy, resources, &unchanged).await
}

#[tokio::test]
async fn many_tasks_go_in_batches_and_a_repeated_fan_out_writes_none_twice() {
    let world = World::new().await;
    let (policy, execution_id) = setup(&world).await;
    let many = resources(MAX_TASKS_PER_BATCH + 52);
    fan(&world, &policy, execution_id, &many)
        .await
        .expect("fanned out");
    fan(&world, &policy, execution_id, &many)
        .await
        .expect("again");
    assert_eq!(world.tasks(execution_id).len(), many.len());
    assert_eq!(world.execution(execution_id).await.total, many.len() as i64);
    assert_eq!(
        world.queue.take_transfer().len(),
        2 * many.len(),
        "messages sent again for open tasks"
    );
}

#[tokio::test]
async fn a_queue_failure_fails_the_fan_out_and_a_redelivery_sends_what_is_missing() {
    let world = World::new().await;
    let (policy, execution_id) = setup(&world).await;
    let few = resources(3);
    world
        .queue
        .faults
        .fail("send_transfer", 1, Injected::Transient);
    assert!(fan(&world, &policy, execution_id, &few).await.is_err());
    assert!(world.queue.take_transfer().is_empty());
    fan(&world, &policy, execution_id, &few)
        .await
        .expect("healed");
    assert_eq!(world.queue.take_transfer().len(), 3);
    assert_eq!(
        world.execution(execution_id).await.total,
        3,
        "tasks written once"
    );
}

#[tokio::test]
async fn an_execution_that_is_gone_takes_no_tasks() {
    let world = World::new().await;
    let (policy, _) = setup(&world).await;
    let refused = fan(&world, &policy, 999, &resources(2)).await;
    assert!(
        matches!(
            refused,
            Err(FanOutError::Store(
                crate::ports::store::StoreError::NotFound { .. }
            ))
        ),
        "{refused:?}"
    );
    assert!(world.queue.take_transfer().is_empty());
}
