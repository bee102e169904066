//! The health monitor: a registry that stops answering is marked unhealthy with the reason and
//! the time, its policies' new executions fail at once with that reason, and a registry that
//! answers again is marked healthy.

use super::*;
use crate::model::{ExecutionStatus, RegistryStatus};
use crate::ports::fakes::Injected;
use crate::replication::health::{HealthMonitor, HealthRound};
use crate::replication::registries::CheckLimit;
use crate::replication::start::Started;

fn monitor(world: &World) -> HealthMonitor {
    HealthMonitor {
        store: world.store.clone(),
        connect: world.registries.clone(),
        limit: CheckLimit(Duration::from_secs(5)),
    }
}

#[tokio::test]
async fn an_unhealthy_destination_fails_new_executions_at_once_until_it_answers_again() {
    let world = World::new().await;
    let policy = world.policy(serde_json::json!({})).await;
    let monitor = monitor(&world);

    let round = monitor.check_all().await.expect("a round");
    assert_eq!(
        round,
        HealthRound {
            healthy: 2,
            // Stored here without a check: their status was unknown.
            changed: 2,
            ..HealthRound::default()
        }
    );
    let destination = world.store.get_registry(2).await.expect("destination");
    assert_eq!(destination.status, RegistryStatus::Healthy);
    let health = destination.health.expect("a check recorded");
    assert!(health.reason.is_none());

    // The destination stops answering its /v2/ check.
    world.destination.fail("check", 1, Injected::Refused(503));
    let round = monitor.check_all().await.expect("a round");
    assert_eq!((round.healthy, round.unhealthy, round.changed), (1, 1, 1));
    let destination = world.store.get_registry(2).await.expect("destination");
    assert_eq!(destination.status, RegistryStatus::Unhealthy);
    let reason = destination
        .health
        .and_then(|h| h.reason)
        .expect("the reason");
    assert!(reason.contains("503"), "{reason}");

    let started = world.start_manual(policy.id).await;
    let Started::Skipped(execution) = started else {
        panic!("not failed at once: {started:?}");
    };
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert!(
        execution
            .status_text
            .contains("destination registry destination")
            && execution.status_text.contains("unhealthy")
            && execution.status_text.contains("503"),
        "{}",
        execution.status_text
    );
    assert!(world.queue.take_list().is_empty(), "nothing was listed");

    // It answers again: healthy, and executions run.
    let round = monitor.check_all().await.expect("a round");
    assert_eq!((round.healthy, round.unhealthy, round.changed), (2, 0, 1));
    assert_eq!(
        world.store.get_registry(2).await.expect("dst").status,
        RegistryStatus::Healthy
    );
    let id = world.listed(&policy).await;
    assert_ne!(world.execution(id).await.status, ExecutionStatus::Failed);
}

#[tokio::test]
async fn a_registry_deleted_during_a_round_is_not_an_error() {
    let world = World::new().await;
    world.store.delete_registry(1).await.expect("deleted");
    let round = monitor(&world).check_all().await.expect("a round");
    assert_eq!(round.healthy, 1);
    assert_eq!(round.errors, 0);
}
