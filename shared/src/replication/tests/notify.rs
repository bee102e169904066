use std::sync::Arc;
use std::time::Duration;

use super::{inbound, World};
use crate::model::notification::{
    DeliveryStatus, EventType, ReplicationEventKind, WebhookPolicy, WebhookTarget,
};
use crate::model::ExecutionStatus;
use crate::ports::fakes::{MemoryBus, MemoryWebhooks, RecordingSender};
use crate::ports::notify::WebhookStore;
use crate::replication::notify::{end_announced, NotifyWorker};
use crate::replication::start::{start_execution, Started};

struct Notifier {
    worker: NotifyWorker,
    webhooks: Arc<MemoryWebhooks>,
    sender: Arc<RecordingSender>,
    bus: Arc<MemoryBus>,
}

async fn notifier(world: &World, types: Vec<EventType>) -> Notifier {
    let webhooks = Arc::new(MemoryWebhooks::default());
    let sender = Arc::new(RecordingSender::default());
    let bus = Arc::new(MemoryBus::default());
    webhooks
        .create_webhook_policy(&WebhookPolicy {
            name: "ops".into(),
            targets: vec![WebhookTarget {
                address: "https://hooks.example/ferry".into(),
                auth_header: Some("Bearer s3cret".into()),
                ..WebhookTarget::default()
            }],
            event_types: types,
            ..WebhookPolicy::default()
        })
        .await
        .expect("policy");
    Notifier {
        worker: NotifyWorker {
            store: world.store.clone(),
            webhooks: webhooks.clone(),
            sender: sender.clone(),
            bus: Some(bus.clone()),
            hostname: "ferry.test".into(),
            attempts: 3,
            backoff: Duration::from_millis(1),
        },
        webhooks,
        sender,
        bus,
    }
}

async fn started(world: &World) -> i64 {
    let policy = world.policy(serde_json::json!({})).await;
    let Ok(Started::Running(execution)) = start_execution(
        world.store.as_ref(),
        world.queue.as_ref(),
        policy.id,
        crate::model::TriggerType::Manual,
        None,
        None,
    )
    .await
    else {
        panic!("not started");
    };
    execution.id
}

#[tokio::test]
async fn a_start_and_one_end_are_announced_however_often_the_end_is_written() {
    let world = World::new().await;
    let id = started(&world).await;
    for _ in 0..2 {
        end_announced(
            world.store.as_ref(),
            world.queue.as_ref(),
            id,
            ExecutionStatus::Stopped,
            "stopped by the user",
        )
        .await
        .expect("end");
    }
    let kinds: Vec<_> = world
        .queue
        .take_notify()
        .iter()
        .map(|m| m.event.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            ReplicationEventKind::ExecutionStarted,
            ReplicationEventKind::ExecutionEnded
        ]
    );
}

#[tokio::test]
async fn a_notify_queue_that_refuses_does_not_fail_the_start() {
    let world = World::new().await;
    world
        .queue
        .faults
        .fail("send_notify", 5, crate::ports::fakes::Injected::Transient);
    let id = started(&world).await;
    assert!(world.queue.take_notify().is_empty());
    assert_eq!(world.queue.take_list().len(), 1);
    assert_eq!(
        world.execution(id).await.status,
        ExecutionStatus::InProgress
    );
}

#[tokio::test]
async fn the_notifier_posts_the_payload_with_the_auth_header_once_per_event() {
    let world = World::new().await;
    let n = notifier(&world, vec![EventType::Replication]).await;
    let id = started(&world).await;
    end_announced(
        world.store.as_ref(),
        world.queue.as_ref(),
        id,
        ExecutionStatus::Stopped,
        "stopped by the user",
    )
    .await
    .expect("end");
    let messages = world.queue.take_notify();
    for message in messages.iter().chain(&messages) {
        // Each delivered twice, as SQS may.
        n.worker
            .handle(&inbound(message, 1))
            .await
            .expect("notified");
    }
    let received = n.sender.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 2, "one start, one end");
    assert_eq!(received[0].auth_header.as_deref(), Some("Bearer s3cret"));
    assert_eq!(received[0].body["type"], "REPLICATION");
    assert_eq!(
        received[0].body["event_data"]["replication"]["job_status"],
        "Running"
    );
    assert_eq!(
        received[1].body["event_data"]["replication"]["job_status"],
        "Stopped"
    );
    assert_eq!(received[1].body["ferry"]["execution_id"], id);
    assert_eq!(
        received[1].body["ferry"]["status_text"],
        "stopped by the user"
    );
    let bus = n.bus.events.lock().expect("lock").clone();
    assert_eq!(bus.len(), 2);
    assert_eq!(bus[1].status, "Stopped");
    let log = n.webhooks.list_deliveries(1).await.expect("log");
    assert_eq!(log.len(), 2);
    assert!(log
        .iter()
        .all(|d| d.status == DeliveryStatus::Success && d.attempts == 1));
}

#[tokio::test]
async fn a_failing_receiver_is_retried_then_logged_failed_and_a_refused_bus_put_is_redelivered() {
    let world = World::new().await;
    let n = notifier(&world, vec![EventType::ReplicationExecutionStarted]).await;
    n.sender
        .answers
        .lock()
        .expect("lock")
        .extend([500, 500, 500, 500]);
    *n.bus.refusals.lock().expect("lock") = 1;
    started(&world).await;
    let message = world.queue.take_notify().remove(0);
    assert!(
        n.worker.handle(&inbound(&message, 1)).await.is_err(),
        "the bus refused: delivered again"
    );
    n.worker
        .handle(&inbound(&message, 2))
        .await
        .expect("notified");
    assert_eq!(
        n.sender.received.lock().expect("lock").len(),
        3,
        "three attempts, once"
    );
    let log = n.webhooks.list_deliveries(1).await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, DeliveryStatus::Failed);
    assert_eq!(log[0].attempts, 3);
    assert_eq!(log[0].http_status, Some(500));
    assert_eq!(n.bus.events.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_policy_for_task_failures_only_gets_nothing_for_a_start() {
    let world = World::new().await;
    let n = notifier(&world, vec![EventType::ReplicationTaskFailed]).await;
    started(&world).await;
    for message in world.queue.take_notify() {
        n.worker
            .handle(&inbound(&message, 1))
            .await
            .expect("notified");
    }
    assert!(n.sender.received.lock().expect("lock").is_empty());
}
