use super::{counts, World};
use crate::model::{ExecutionStatus, TaskStatus};
use crate::ports::fakes::Injected;
use crate::replication::retry::{retry_execution, RetryError};

/// An execution of a policy over two images where the copy of `team/app:1.1` failed.
async fn partly_failed(world: &World) -> i64 {
    world.source.push_image("team/app", "1.0", &[b"a"]);
    world.source.push_image("team/app", "1.1", &[b"b"]);
    let policy = world.policy(serde_json::json!({})).await;
    let execution_id = world.listed(&policy).await;
    world
        .destination
        .fail("put_manifest", 1, Injected::Refused(403));
    world.transfer_all().await;
    let execution = world.execution(execution_id).await;
    assert_eq!(counts(&execution), (2, 1, 1, 0, 0));
    execution_id
}

#[tokio::test]
async fn a_retry_runs_the_failed_tasks_again_as_a_new_execution() {
    let world = World::new().await;
    let failed = partly_failed(&world).await;
    let retry = retry_execution(world.store.as_ref(), world.queue.as_ref(), failed)
        .await
        .expect("retried");
    assert_ne!(retry.id, failed);
    let tasks = world.tasks(retry.id);
    assert_eq!(tasks.len(), 1);
    assert_eq!(world.store.listings_pending(retry.id), Some(0));
    world.transfer_all().await;
    assert_eq!(
        world.execution(retry.id).await.status,
        ExecutionStatus::Succeed
    );
    assert_eq!(world.tasks(retry.id)[0].status, TaskStatus::Succeed);
    assert!(world.destination.tagged("team/app", "1.0").is_some());
    assert!(world.destination.tagged("team/app", "1.1").is_some());
}

#[tokio::test]
async fn a_running_execution_or_one_without_failures_is_not_retried() {
    let world = World::new().await;
    world.source.push_image("team/app", "1.0", &[b"a"]);
    let policy = world.policy(serde_json::json!({})).await;
    let running = world.listed(&policy).await;
    assert!(matches!(
        retry_execution(world.store.as_ref(), world.queue.as_ref(), running).await,
        Err(RetryError::Running(_))
    ));
    world.transfer_all().await;
    assert!(matches!(
        retry_execution(world.store.as_ref(), world.queue.as_ref(), running).await,
        Err(RetryError::NothingFailed(_))
    ));
}

#[tokio::test]
async fn a_retry_whose_messages_cannot_be_sent_ends_failed_saying_so() {
    let world = World::new().await;
    let failed = partly_failed(&world).await;
    world
        .queue
        .faults
        .fail("send_transfer", 1, Injected::Transient);
    let Err(RetryError::Queue { execution_id, .. }) =
        retry_execution(world.store.as_ref(), world.queue.as_ref(), failed).await
    else {
        panic!("not refused");
    };
    let retry = world.execution(execution_id).await;
    assert_eq!(retry.status, ExecutionStatus::Failed);
    assert!(
        retry.status_text.contains("could not be queued"),
        "{}",
        retry.status_text
    );
}
