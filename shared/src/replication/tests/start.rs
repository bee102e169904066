use super::World;
use crate::model::{ExecutionStatus, TriggerType};
use crate::ports::fakes::Injected;
use crate::replication::start::{start_execution, StartError, Started};

async fn start(world: &World, policy_id: i64, once: Option<&str>) -> Result<Started, StartError> {
    start_execution(
        world.store.as_ref(),
        world.queue.as_ref(),
        policy_id,
        TriggerType::Scheduled,
        once,
        None,
    )
    .await
}

#[tokio::test]
async fn a_start_records_the_execution_and_asks_for_its_listing() {
    let world = World::new().await;
    let policy = world.policy(serde_json::json!({})).await;
    let Ok(Started::Running(execution)) = start(&world, policy.id, None).await else {
        panic!("not started");
    };
    assert_eq!(execution.status, ExecutionStatus::InProgress);
    assert_eq!(world.store.listings_pending(execution.id), Some(1));
    let sent = world.queue.take_list();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].execution_id, sent[0].policy_id),
        (execution.id, policy.id)
    );
}

#[tokio::test]
async fn a_firing_delivered_twice_starts_once() {
    let world = World::new().await;
    let policy = world.policy(serde_json::json!({})).await;
    let key = "schedule#3#2026-11-23T00:00:00Z";
    assert!(matches!(
        start(&world, policy.id, Some(key)).await,
        Ok(Started::Running(_))
    ));
    assert!(matches!(
        start(&world, policy.id, Some(key)).await,
        Ok(Started::Duplicate)
    ));
    assert_eq!(world.queue.take_list().len(), 1);
}

#[tokio::test]
async fn one_at_a_time_records_a_stopped_execution_while_one_runs() {
    let world = World::new().await;
    let policy = world
        .policy(serde_json::json!({"single_active_replication": true}))
        .await;
    let Ok(Started::Running(first)) = start(&world, policy.id, None).await else {
        panic!("not started");
    };
    let Ok(Started::Skipped(second)) = start(&world, policy.id, None).await else {
        panic!("not skipped");
    };
    assert_eq!(second.status, ExecutionStatus::Stopped);
    assert!(
        second
            .status_text
            .contains(&format!("execution {}", first.id)),
        "{}",
        second.status_text
    );
    assert_eq!(
        world.queue.take_list().len(),
        1,
        "the skipped one lists nothing"
    );
}

#[tokio::test]
async fn a_queue_that_refuses_fails_the_execution_and_frees_the_firing_for_a_redelivery() {
    let world = World::new().await;
    let policy = world.policy(serde_json::json!({})).await;
    let key = "schedule#3#2026-11-23T01:00:00Z";
    world.queue.faults.fail("send_list", 1, Injected::Transient);
    let Err(StartError::Queue { execution_id, .. }) = start(&world, policy.id, Some(key)).await
    else {
        panic!("not refused");
    };
    let failed = world.execution(execution_id).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(
        failed.status_text.contains("could not queue the listing"),
        "{}",
        failed.status_text
    );
    // The redelivered firing heals: the claim was released.
    assert!(matches!(
        start(&world, policy.id, Some(key)).await,
        Ok(Started::Running(_))
    ));
}

#[tokio::test]
async fn a_disabled_or_missing_policy_does_not_start() {
    let world = World::new().await;
    let policy = world.policy(serde_json::json!({"enabled": false})).await;
    assert!(matches!(
        start(&world, policy.id, None).await,
        Err(StartError::Disabled(_))
    ));
    assert!(matches!(
        start(&world, 999, None).await,
        Err(StartError::Store(_))
    ));
    assert!(world.queue.take_list().is_empty());
}
