use std::time::Instant;

use super::{counts, inbound, World, MAX_RECEIVES};
use crate::messages::{InboundMessage, TransferMessage};
use crate::model::{ExecutionStatus, TaskStatus};
use crate::oci::Digest;
use crate::ports::fakes::Injected;
use crate::ports::logs::{task_log, TaskLogSink};
use crate::ports::store::{ExecutionStore, TaskStore};
use crate::replication::HandleError;

/// A policy over `team/app` with one image of two layers at the source, listed: its
/// execution, and the one transfer message (not yet delivered).
async fn one_task(world: &World, fields: serde_json::Value) -> (i64, TransferMessage) {
    world
        .source
        .push_image("team/app", "1.0", &[b"base layer", b"app layer"]);
    let mut fields = fields;
    fields["filters"] = serde_json::json!([{"type": "name", "value": "team/app"}]);
    let policy = world.policy(fields).await;
    let execution_id = world.listed(&policy).await;
    let mut messages = world.queue.take_transfer();
    assert_eq!(messages.len(), 1);
    (execution_id, messages.remove(0))
}

#[tokio::test]
async fn a_transfer_copies_byte_exact_and_ends_its_task_and_execution() {
    let world = World::new().await;
    let (execution_id, message) = one_task(&world, serde_json::json!({})).await;
    world
        .transfer_worker()
        .handle(&inbound(&message, 1), None)
        .await
        .expect("copied");
    let source = world.source.tagged("team/app", "1.0");
    assert!(source.is_some());
    assert_eq!(
        world.destination.tagged("team/app", "1.0"),
        source,
        "same digest"
    );
    let task = &world.tasks(execution_id)[0];
    assert_eq!(task.status, TaskStatus::Succeed);
    assert_eq!(
        (task.figures.blobs_copied, task.figures.bytes_copied > 0),
        (3, true)
    );
    let execution = world.execution(execution_id).await;
    assert_eq!(execution.status, ExecutionStatus::Succeed);
    assert_eq!(counts(&execution), (1, 1, 0, 0, 0));
    let log = task_log(world.logs.as_ref(), task).await.expect("log");
    assert!(log.contains("pushed manifest"), "{log}");
    // A short log is kept with the task's status: no write to the log store of its own.
    assert!(task.log.is_some());
    let stored = world.logs.read(execution_id, task.id).await.expect("log");
    assert_eq!(stored, "");
}

#[tokio::test]
async fn a_message_delivered_twice_changes_nothing_the_second_time() {
    let world = World::new().await;
    let (execution_id, message) = one_task(&world, serde_json::json!({})).await;
    let worker = world.transfer_worker();
    worker
        .handle(&inbound(&message, 1), None)
        .await
        .expect("copied");
    worker
        .handle(&inbound(&message, 1), None)
        .await
        .expect("again");
    let execution = world.execution(execution_id).await;
    assert_eq!(counts(&execution), (1, 1, 0, 0, 0), "counted once");
}

#[tokio::test]
async fn a_task_of_a_stopped_execution_ends_stopped_without_copying() {
    let world = World::new().await;
    let (execution_id, message) = one_task(&world, serde_json::json!({})).await;
    world
        .store
        .end_execution(
            execution_id,
            ExecutionStatus::Stopped,
            "stopped by the user",
        )
        .await
        .expect("stopped");
    world
        .transfer_worker()
        .handle(&inbound(&message, 1), None)
        .await
        .expect("handled");
    let task = &world.tasks(execution_id)[0];
    assert_eq!(task.status, TaskStatus::Stopped);
    assert_eq!(world.destination.tagged("team/app", "1.0"), None);
    assert_eq!(
        counts(&world.execution(execution_id).await),
        (1, 0, 0, 1, 0)
    );
}

#[tokio::test]
async fn a_destination_that_fails_for_a_moment_gets_the_artifact_on_the_next_delivery() {
    let world = World::new().await;
    let (execution_id, message) = one_task(&world, serde_json::json!({})).await;
    world
        .destination
        .fail("put_manifest", 1, Injected::Transient);
    let worker = world.transfer_worker();
    assert!(matches!(
        worker.handle(&inbound(&message, 1), None).await,
        Err(HandleError::Retry(_))
    ));
    assert_eq!(world.tasks(execution_id)[0].status, TaskStatus::InProgress);
    worker
        .handle(&inbound(&message, 2), None)
        .await
        .expect("healed");
    assert_eq!(world.tasks(execution_id)[0].status, TaskStatus::Succeed);
    assert_eq!(
        world.execution(execution_id).await.status,
        ExecutionStatus::Succeed
    );
}

#[tokio::test]
async fn a_refusal_or_the_last_delivery_fails_the_task_saying_why() {
    let world = World::new().await;
    let (execution_id, message) = one_task(&world, serde_json::json!({})).await;
    world
        .destination
        .fail("put_manifest", 1, Injected::Refused(403));
    world
        .transfer_worker()
        .handle(&inbound(&message, 1), None)
        .await
        .expect("handled");
    let reason = world.failed_alone(execution_id).await;
    assert!(reason.contains("answered 403"), "{reason}");

    let world = World::new().await;
    let (execution_id, message) = one_task(&world, serde_json::json!({})).await;
    world
        .destination
        .fail("put_manifest", 1, Injected::Transient);
    world
        .transfer_worker()
        .handle(&inbound(&message, MAX_RECEIVES), None)
        .await
        .expect("handled");
    let reason = world.failed_alone(execution_id).await;
    assert!(reason.contains("may heal"), "{reason}");
}

#[tokio::test]
async fn deliveries_used_up_in_timeouts_fail_the_task_from_the_dead_letters() {
    let world = World::new().await;
    let (execution_id, message) = one_task(&world, serde_json::json!({})).await;
    let dead = InboundMessage {
        from_dead_letters: true,
        ..inbound(&message, 6)
    };
    world
        .transfer_worker()
        .handle(&dead, None)
        .await
        .expect("handled");
    let reason = world.failed_alone(execution_id).await;
    assert!(reason.starts_with("gave up"), "{reason}");
}

#[tokio::test]
async fn a_copy_out_of_time_continues_in_another_message_once() {
    let world = World::new().await;
    // Two chunks of 8 MiB at least: the first goes, then time is up.
    let big: Vec<u8> = (0..17 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    world.source.push_image("team/big", "1.0", &[&big]);
    let policy = world
        .policy(serde_json::json!({"copy_by_chunk": true, "filters": [{"type": "name", "value": "team/big"}]}))
        .await;
    let execution_id = world.listed(&policy).await;
    let message = world.queue.take_transfer().remove(0);
    let worker = world.transfer_worker();
    let late = Some(Instant::now());
    worker
        .handle(&inbound(&message, 1), late)
        .await
        .expect("checkpointed");
    let next = world.queue.take_transfer();
    assert_eq!(next.len(), 1);
    let checkpoint = next[0].checkpoint.clone().expect("checkpoint");
    assert_eq!((checkpoint.continuations, checkpoint.uploads.len()), (1, 1));
    // The same message again (a redelivery) continues nothing more.
    worker
        .handle(&inbound(&message, 2), late)
        .await
        .expect("dropped");
    assert!(world.queue.take_transfer().is_empty());
    worker
        .handle(&inbound(&next[0], 1), None)
        .await
        .expect("finished");
    let big_digest = Digest::sha256(&big);
    assert!(world.destination.holds_blob("team/big", &big_digest));
    assert_eq!(world.tasks(execution_id)[0].status, TaskStatus::Succeed);
    assert_eq!(world.tasks(execution_id)[0].continuations, 1);
}

#[tokio::test]
async fn a_replicated_deletion_of_a_digest_deletes_it_and_nothing_else() {
    let world = World::new().await;
    let digest = world.destination.push_image("team/app", "1.0", &[b"layer"]);
    world
        .destination
        .push_image("team/app", "1.1", &[b"other layer"]);
    let policy = world
        .policy(serde_json::json!({"replicate_deletion": true, "trigger": {"type": "event_based"}}))
        .await;
    let event = crate::messages::ArtifactEvent {
        repository: "team/app".into(),
        reference: digest.to_string(),
        deleted: true,
    };
    let started = crate::replication::start::start_execution(
        world.store.as_ref(),
        world.queue.as_ref(),
        policy.id,
        crate::model::TriggerType::EventBased,
        None,
        Some(&event),
    )
    .await
    .expect("started");
    let crate::replication::start::Started::Running(execution) = started else {
        panic!("not running");
    };
    let lister = world.list_worker(100);
    for list in world.queue.take_list() {
        lister
            .handle(&inbound(&list, 1), None)
            .await
            .expect("listed");
    }
    world.transfer_all().await;
    assert_eq!(world.destination.tagged("team/app", "1.0"), None, "deleted");
    assert!(
        world.destination.tagged("team/app", "1.1").is_some(),
        "left alone"
    );
    assert_eq!(
        world.execution(execution.id).await.status,
        ExecutionStatus::Succeed
    );
}

#[tokio::test]
async fn a_manifest_refused_for_a_blob_a_mount_did_not_bring_is_healed() {
    let world = World::new().await;
    // Big enough to be worth a mount (small blobs are copied, never looked up).
    let layer: &[u8] = &vec![7u8; 600 * 1024];
    let (execution_id, message) = {
        world.source.push_image("team/app", "1.0", &[layer]);
        let policy = world
            .policy(serde_json::json!({"filters": [{"type": "name", "value": "team/app"}]}))
            .await;
        let execution_id = world.listed(&policy).await;
        (execution_id, world.queue.take_transfer().remove(0))
    };
    // Ferry recorded the layer elsewhere at the destination, but the mount from there
    // brings nothing (that copy was not complete): the manifest is refused, then healed.
    let digest = Digest::sha256(layer);
    let elsewhere = crate::oci::Repository::parse("team/base").expect("name");
    crate::ports::registry::BlobLocations::record_blob(
        world.store.as_ref(),
        2,
        &digest,
        &elsewhere,
    )
    .await;
    world.destination.lie_on_mounts();
    world
        .transfer_worker()
        .handle(&inbound(&message, 1), None)
        .await
        .expect("copied");
    let task = &world.tasks(execution_id)[0];
    assert_eq!(task.status, TaskStatus::Succeed, "{}", task.status_text);
    assert!(world.destination.holds_blob("team/app", &digest));
    let log = task_log(world.logs.as_ref(), task).await.expect("log");
    assert!(log.contains("checking what it references again"), "{log}");
    let recorded =
        crate::ports::registry::BlobLocations::find_blob(world.store.as_ref(), 2, &digest).await;
    assert_eq!(
        recorded.map(|r| r.to_string()),
        Some("team/app".to_string()),
        "the stale record is gone"
    );
}

#[tokio::test]
async fn a_mount_that_brings_nothing_leaves_no_upload_session_open() {
    let world = World::new().await;
    // Big enough to be worth a mount.
    let (base, app) = (vec![1u8; 600 * 1024], vec![2u8; 700 * 1024]);
    world
        .source
        .push_image("team/app", "1.0", &[base.as_slice(), app.as_slice()]);
    let policy = world
        .policy(serde_json::json!({"filters": [{"type": "name", "value": "team/app"}]}))
        .await;
    world.listed(&policy).await;
    let message = world.queue.take_transfer().remove(0);
    // Ferry recorded both layers in a repository of the destination that does not hold them:
    // each mount answers 202 with a session, which Ferry does not use.
    let elsewhere = crate::oci::Repository::parse("team/base").expect("name");
    for piece in [base.as_slice(), app.as_slice()] {
        crate::ports::registry::BlobLocations::record_blob(
            world.store.as_ref(),
            2,
            &Digest::sha256(piece),
            &elsewhere,
        )
        .await;
    }
    world
        .transfer_worker()
        .handle(&inbound(&message, 1), None)
        .await
        .expect("copied");
    assert!(world.destination.tagged("team/app", "1.0").is_some());
    assert_eq!(world.destination.open_uploads(), 0);
    assert_eq!(
        world.destination.mount_attempts(),
        2,
        "both layers were tried"
    );
}

#[tokio::test]
async fn a_source_that_lies_about_a_blob_fails_the_task_naming_it_and_leaves_nothing() {
    for chunked in [false, true] {
        let world = World::new().await;
        let layer: &[u8] = b"the layer the manifest names";
        world.source.push_image("team/app", "1.0", &[layer]);
        let digest = Digest::sha256(layer);
        world
            .source
            .corrupt_blob(&digest, b"the layer the registry sends");
        let policy = world
            .policy(serde_json::json!({"copy_by_chunk": chunked}))
            .await;
        let execution_id = world.listed(&policy).await;
        world.transfer_all().await;
        let reason = world.failed_alone(execution_id).await;
        assert!(reason.contains(&format!("blob {digest}")), "{reason}");
        assert!(reason.contains("hashing to"), "{reason}");
        assert!(
            !world.destination.holds_blob("team/app", &digest),
            "chunked: {chunked}"
        );
        assert_eq!(world.destination.tagged("team/app", "1.0"), None);
        assert_eq!(world.destination.open_uploads(), 0, "chunked: {chunked}");
    }
}

#[tokio::test]
async fn a_blob_slower_than_an_invocation_still_arrives_across_invocations() {
    for chunked in [false, true] {
        let world = World::new().await;
        let layer = vec![7u8; 256 * 1024];
        world.source.push_image("team/slow", "1.0", &[&layer]);
        // 256 KiB at 256 KiB/s: a second, in invocations of a fifth of that.
        let policy = world
            .policy(serde_json::json!({"speed": 256, "copy_by_chunk": chunked}))
            .await;
        let execution_id = world.listed(&policy).await;
        let worker = world.transfer_worker();
        let mut invocations = 0;
        while let Some(message) = world.queue.take_transfer().pop() {
            invocations += 1;
            assert!(invocations < 30, "chunked: {chunked}: no progress");
            let deadline = Instant::now() + std::time::Duration::from_millis(200);
            worker
                .handle(&inbound(&message, 1), Some(deadline))
                .await
                .expect("handled");
        }
        let task = &world.tasks(execution_id)[0];
        assert_eq!(
            task.status,
            TaskStatus::Succeed,
            "chunked: {chunked}: {}",
            task.status_text
        );
        assert!(
            invocations > 2,
            "chunked: {chunked}: {invocations} invocations"
        );
        assert!(world
            .destination
            .holds_blob("team/slow", &Digest::sha256(&layer)));
    }
}

#[tokio::test]
async fn a_delivery_waits_while_another_holds_the_task() {
    let world = World::new().await;
    let (execution_id, message) = one_task(&world, serde_json::json!({})).await;
    let task_id = message.task_id;
    // Another delivery took the task a moment ago and holds it for a minute.
    let until = crate::model::time_format::now_millis() + 60_000;
    let taken = world
        .store
        .take_task(execution_id, task_id, 0, until, "another")
        .await;
    assert_eq!(taken.expect("taken"), crate::model::Take::Granted);
    let worker = world.transfer_worker();
    let waited = worker.handle(&inbound(&message, 2), None).await;
    assert!(
        matches!(&waited, Err(HandleError::Retry(r)) if r.contains("another delivery")),
        "{waited:?}"
    );
    assert_eq!(
        world.destination.tagged("team/app", "1.0"),
        None,
        "nothing copied twice at once"
    );
    world
        .store
        .release_task(execution_id, task_id, 0, false, "another")
        .await
        .expect("released");
    worker
        .handle(&inbound(&message, 3), None)
        .await
        .expect("copied");
    assert_eq!(
        counts(&world.execution(execution_id).await),
        (1, 1, 0, 0, 0)
    );
}

#[tokio::test]
async fn a_finish_that_failed_happens_on_the_next_delivery_or_from_the_dead_letters() {
    for dead_letters in [false, true] {
        let world = World::new().await;
        let (execution_id, message) = one_task(&world, serde_json::json!({})).await;
        world
            .store
            .faults
            .fail("finish_if_done", 1, Injected::Transient);
        let worker = world.transfer_worker();
        assert!(worker.handle(&inbound(&message, 1), None).await.is_err());
        assert_eq!(world.tasks(execution_id)[0].status, TaskStatus::Succeed);
        assert_eq!(
            world.execution(execution_id).await.status,
            ExecutionStatus::InProgress
        );
        let again = InboundMessage {
            from_dead_letters: dead_letters,
            ..inbound(&message, 2)
        };
        worker.handle(&again, None).await.expect("finished");
        let execution = world.execution(execution_id).await;
        assert_eq!(
            execution.status,
            ExecutionStatus::Succeed,
            "dead letters: {dead_letters}"
        );
        assert_eq!(counts(&execution), (1, 1, 0, 0, 0));
    }
}

#[tokio::test]
async fn a_hand_on_the_store_missed_is_handed_on_again_and_the_copy_ends_once() {
    let world = World::new().await;
    let big: Vec<u8> = (0..17 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    world.source.push_image("team/big", "1.0", &[&big]);
    let policy = world
        .policy(serde_json::json!({"copy_by_chunk": true, "filters": [{"type": "name", "value": "team/big"}]}))
        .await;
    let execution_id = world.listed(&policy).await;
    let first = world.queue.take_transfer().remove(0);
    let worker = world.transfer_worker();
    // Out of time at once; the successor is sent, then the store fails to record the hand-on
    // (a crash between the two writes): the task is let go when its lease ends, right away.
    world
        .store
        .faults
        .fail("release_task", 1, Injected::Transient);
    worker
        .handle(&inbound(&first, 1), Some(Instant::now()))
        .await
        .expect("handed on");
    let successor = world.queue.take_transfer();
    assert_eq!(successor.len(), 1);
    // The first message again: it is taken again and hands on again.
    worker
        .handle(&inbound(&first, 2), Some(Instant::now()))
        .await
        .expect("again");
    let second = world.queue.take_transfer();
    assert_eq!(second.len(), 1, "handed on again");
    // Both successors: one finishes the copy, the other finds the task ended.
    for message in successor.iter().chain(second.iter()) {
        worker
            .handle(&inbound(message, 1), None)
            .await
            .expect("went on");
    }
    assert!(world.queue.take_transfer().is_empty());
    let task = &world.tasks(execution_id)[0];
    assert_eq!(task.status, TaskStatus::Succeed, "{}", task.status_text);
    assert_eq!(
        counts(&world.execution(execution_id).await),
        (1, 1, 0, 0, 0)
    );
    // And the first message, once more, is spent.
    worker
        .handle(&inbound(&first, 3), None)
        .await
        .expect("dropped");
    assert!(world.queue.take_transfer().is_empty());
}

#[tokio::test]
async fn lines_appended_again_by_a_retried_dead_letter_are_there_once() {
    let world = World::new().await;
    let (execution_id, message) = one_task(&world, serde_json::json!({})).await;
    world
        .store
        .faults
        .fail("transition_task", 1, Injected::Transient);
    let dead = InboundMessage {
        from_dead_letters: true,
        ..inbound(&message, 6)
    };
    let worker = world.transfer_worker();
    assert!(
        worker.handle(&dead, None).await.is_err(),
        "the store failed once"
    );
    worker.handle(&dead, None).await.expect("handled");
    let task = &world.tasks(execution_id)[0];
    let log = task_log(world.logs.as_ref(), task).await.expect("log");
    assert_eq!(log.matches("gave up").count(), 1, "{log}");
}

#[tokio::test]
async fn a_small_blob_seen_here_is_mounted_and_never_recorded_in_the_store() {
    let world = World::new().await;
    // Small: not worth the store's lookup and record, but worth a mount by this process.
    let base: &[u8] = b"a small base layer";
    world.source.push_image("team/app", "1.0", &[base, b"app"]);
    world.source.push_image("team/web", "1.0", &[base, b"web"]);
    let policy = world.policy(serde_json::json!({})).await;
    let execution_id = world.listed(&policy).await;
    let worker = world.transfer_worker();
    for message in world.queue.take_transfer() {
        worker
            .handle(&inbound(&message, 1), None)
            .await
            .expect("copied");
    }
    let tasks = world.tasks(execution_id);
    let mounted: i64 = tasks.iter().map(|t| t.figures.blobs_mounted).sum();
    // The second image's base layer, and its config, alike in both (the same tag).
    assert_eq!(mounted, 2, "{tasks:#?}");
    let digest = Digest::sha256(base);
    assert!(world.destination.holds_blob("team/app", &digest));
    assert!(world.destination.holds_blob("team/web", &digest));
    let recorded =
        crate::ports::registry::BlobLocations::find_blob(world.store.as_ref(), 2, &digest).await;
    assert_eq!(recorded, None, "small blobs are not written to the store");
}
