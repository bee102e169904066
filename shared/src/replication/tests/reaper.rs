use std::time::Duration;

use super::{counts, inbound, World};
use crate::messages::ArtifactEvent;
use crate::model::{ExecutionStatus, TaskStatus, TriggerType};
use crate::ports::fakes::Injected;
use crate::ports::logs::TaskLogSink;
use crate::ports::store::{ExecutionStore, Launch, TaskStore};
use crate::replication::reaper::{Reaped, Reaper};
use crate::replication::retry::retry_execution;
use crate::replication::start::{start_execution, Started};

const STALE: Duration = Duration::from_secs(60);
/// Longer ago than `STALE`, in milliseconds.
const LONG_AGO: i64 = 61_000;

impl World {
    fn reaper(&self) -> Reaper {
        Reaper {
            store: self.store.clone(),
            queue: self.queue.clone(),
            logs: self.logs.clone(),
            keep_executions: 50,
            stale: STALE,
        }
    }

    async fn reap(&self) -> Reaped {
        self.reaper().reap().await.expect("reaped")
    }
}

/// What a starter leaves when it dies between recording an execution and sending its first
/// message: the record alone, gone still.
async fn orphan(world: &World, policy_id: i64, launch: Launch) -> i64 {
    let execution = world
        .store
        .create_execution(policy_id, TriggerType::Manual, 1, &launch)
        .await
        .expect("created");
    world.store.age_execution(execution.id, LONG_AGO);
    execution.id
}

#[tokio::test]
async fn an_execution_whose_first_message_was_never_sent_is_listed_again_and_completes() {
    let world = World::new().await;
    world.source.push_image("team/app", "1.0", &[b"a"]);
    let policy = world.policy(serde_json::json!({})).await;
    let execution_id = orphan(&world, policy.id, Launch::Listing).await;
    let young = orphan(&world, policy.id, Launch::Listing).await;
    world.store.age_execution(young, 0);

    let reaped = world.reap().await;
    assert_eq!((reaped.running, reaped.relaunched), (2, 1), "{reaped:?}");
    let sent = world.queue.take_list();
    assert_eq!(sent.len(), 1, "only the still one is launched again");
    assert_eq!(sent[0].execution_id, execution_id);
    world.list(&sent[0]).await;
    world.transfer_all().await;
    let execution = world.execution(execution_id).await;
    assert_eq!(execution.status, ExecutionStatus::Succeed);
    assert_eq!(counts(&execution), (1, 1, 0, 0, 0));
    assert_eq!(
        world.reap().await.relaunched,
        0,
        "the young one moved lately"
    );
}

#[tokio::test]
async fn an_event_execution_is_launched_again_with_its_event() {
    let world = World::new().await;
    let policy = world.policy(serde_json::json!({})).await;
    let event = ArtifactEvent {
        repository: "team/app".into(),
        reference: "1.0".into(),
        deleted: false,
    };
    let execution_id = orphan(&world, policy.id, Launch::Event(event.clone())).await;
    assert_eq!(world.reap().await.relaunched, 1);
    let sent = world.queue.take_list();
    assert_eq!(
        (sent.len(), sent[0].execution_id, sent[0].event.as_ref()),
        (1, execution_id, Some(&event))
    );
}

#[tokio::test]
async fn a_retry_cut_short_is_fanned_out_again_and_creates_nothing_twice() {
    let world = World::new().await;
    world.source.push_image("team/app", "1.0", &[b"a"]);
    world.source.push_image("team/app", "1.1", &[b"b"]);
    let policy = world.policy(serde_json::json!({})).await;
    let failed = world.listed(&policy).await;
    world
        .destination
        .fail("put_manifest", 1, Injected::Refused(403));
    world.transfer_all().await;
    assert_eq!(counts(&world.execution(failed).await), (2, 1, 1, 0, 0));
    // The retry dies after its tasks were written, before its listing closed.
    world
        .store
        .faults
        .fail("close_listing", 1, Injected::Transient);
    assert!(
        retry_execution(world.store.as_ref(), world.queue.as_ref(), failed)
            .await
            .is_err()
    );
    let retry = world
        .store
        .list_executions(Some(policy.id), None, 1)
        .await
        .expect("executions")
        .items
        .remove(0);
    world.queue.take_transfer();
    world.store.age_execution(retry.id, LONG_AGO);

    assert_eq!(world.reap().await.relaunched, 1);
    world.transfer_all().await;
    let retried = world.execution(retry.id).await;
    assert_eq!(retried.status, ExecutionStatus::Succeed);
    assert_eq!(counts(&retried), (1, 1, 0, 0, 0), "one task, written once");
}

#[tokio::test]
async fn an_execution_whose_finish_was_lost_is_finished() {
    let world = World::new().await;
    world.source.push_image("team/app", "1.0", &[b"a"]);
    let policy = world.policy(serde_json::json!({})).await;
    let execution_id = world.listed(&policy).await;
    world
        .store
        .faults
        .fail("finish_if_done", 1, Injected::Transient);
    let worker = world.transfer_worker();
    for message in world.queue.take_transfer() {
        // The task ends; finishing its execution fails, and the redelivery is lost.
        assert!(worker.handle(&inbound(&message, 1), None).await.is_err());
    }
    assert_eq!(world.tasks(execution_id)[0].status, TaskStatus::Succeed);
    assert_eq!(
        world.execution(execution_id).await.status,
        ExecutionStatus::InProgress
    );
    assert_eq!(world.reap().await.finished, 1, "no silence needed");
    assert_eq!(
        world.execution(execution_id).await.status,
        ExecutionStatus::Succeed
    );
}

#[tokio::test]
async fn tasks_whose_messages_are_gone_fail_saying_why_and_free_a_one_at_a_time_policy() {
    let world = World::new().await;
    world.source.push_image("team/app", "1.0", &[b"a"]);
    world.source.push_image("team/app", "1.1", &[b"b"]);
    let policy = world
        .policy(serde_json::json!({"single_active_replication": true}))
        .await;
    let execution_id = world.listed(&policy).await;
    assert_eq!(world.queue.take_transfer().len(), 2, "and then lost");
    world.store.age_execution(execution_id, LONG_AGO);

    assert_eq!(world.reap().await.given_up, 1);
    let execution = world.execution(execution_id).await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(counts(&execution), (2, 0, 2, 0, 0));
    let task = &world.tasks(execution_id)[0];
    assert!(
        task.status_text.starts_with("lost:"),
        "{}",
        task.status_text
    );
    let log = world.logs.read(execution_id, task.id).await.expect("log");
    assert!(log.contains("its message was lost"), "{log}");

    let next = start_execution(
        world.store.as_ref(),
        world.queue.as_ref(),
        policy.id,
        TriggerType::Manual,
        None,
        None,
    )
    .await
    .expect("started");
    assert!(matches!(next, Started::Running(_)), "{next:?}");
}

#[tokio::test]
async fn a_still_execution_is_left_while_messages_wait_or_a_copy_holds_its_task() {
    let world = World::new().await;
    world.source.push_image("team/app", "1.0", &[b"a"]);
    world.source.push_image("team/app", "1.1", &[b"b"]);
    let policy = world.policy(serde_json::json!({})).await;
    let execution_id = world.listed(&policy).await;
    world.store.age_execution(execution_id, LONG_AGO);

    let reaped = world.reap().await;
    assert_eq!(
        (reaped.waiting, reaped.given_up),
        (1, 0),
        "its messages wait"
    );

    world.queue.take_transfer();
    let task = world.tasks(execution_id)[0].id;
    // A long copy: the execution's counters are still, the task's lease is not.
    let until = crate::model::time_format::now_millis() + 600_000;
    world
        .store
        .take_task(execution_id, task, 0, until, "a long copy")
        .await
        .expect("taken");
    let reaped = world.reap().await;
    assert_eq!((reaped.waiting, reaped.given_up), (0, 0), "{reaped:?}");
    world.store.age_lease(execution_id, task, LONG_AGO);
    assert_eq!(world.reap().await.given_up, 1);
    assert_eq!(
        counts(&world.execution(execution_id).await),
        (2, 0, 2, 0, 0)
    );
}

#[tokio::test]
async fn a_listing_still_after_its_relaunch_is_given_up_saying_why() {
    let world = World::new().await;
    let policy = world.policy(serde_json::json!({})).await;
    let execution_id = orphan(&world, policy.id, Launch::Listing).await;
    assert_eq!(world.reap().await.relaunched, 1);
    assert_eq!(world.reap().await.relaunched, 0, "once, and given time");
    world.queue.take_list();
    world.store.age_execution(execution_id, LONG_AGO);

    assert_eq!(world.reap().await.given_up, 1);
    let execution = world.execution(execution_id).await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert!(
        execution.status_text.contains("listing did not complete"),
        "{}",
        execution.status_text
    );
    assert_eq!(world.reap().await.running, 0);
}
