//! Mirror mode's prune through the use cases: exactly the tags that left the selection go,
//! past the policy's share nothing does, a failed listing prunes nothing, and a push under
//! `newest` drops the tag that fell out.

use serde_json::json;

use super::list::started;
use super::World;
use crate::messages::{ArtifactEvent, ListMessage};
use crate::model::{ExecutionStatus, Operation, TaskStatus};
use crate::oci::media;
use crate::ports::fakes::Injected;
use crate::ports::store::ExecutionStore;

/// A source of `team/app` 1.0, 1.1, 2.0 and dev; a destination holding 1.0 (the same), 0.9
/// (gone at the source) and dev (not selected by `>=1.0`).
async fn mirrored() -> World {
    let world = World::new().await;
    for (tag, layer) in [
        ("1.0", "one"),
        ("1.1", "one one"),
        ("2.0", "two"),
        ("dev", "dev"),
    ] {
        world
            .source
            .push_image("team/app", tag, &[layer.as_bytes()]);
    }
    world.destination.push_image("team/app", "1.0", &[b"one"]);
    world.destination.push_image("team/app", "0.9", &[b"old"]);
    world
        .destination
        .push_image("team/app", "dev", &[b"old dev"]);
    world
}

fn policy(max_percent: u32) -> serde_json::Value {
    json!({
        "filters": [{"type": "name", "value": "team/app"}, {"type": "semver", "value": ">=1.0"}],
        "prune": {"enabled": true, "max_percent": max_percent},
    })
}

fn deletions(world: &World, execution_id: i64) -> Vec<(String, TaskStatus)> {
    let mut found: Vec<(String, TaskStatus)> = world
        .tasks(execution_id)
        .into_iter()
        .filter(|t| t.operation == Operation::Deletion)
        .map(|t| (t.dst_resource, t.status))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[tokio::test]
async fn a_prune_deletes_exactly_the_tags_that_left_the_selection() {
    let world = mirrored().await;
    let policy = world.policy(policy(70)).await;
    let execution_id = world.listed(&policy).await;
    world.transfer_all().await;
    assert_eq!(
        deletions(&world, execution_id),
        vec![
            ("team/app:0.9".to_string(), TaskStatus::Succeed),
            ("team/app:dev".to_string(), TaskStatus::Succeed),
        ]
    );
    for (tag, held) in [
        ("1.0", true),
        ("1.1", true),
        ("2.0", true),
        ("0.9", false),
        ("dev", false),
    ] {
        assert_eq!(
            world.destination.tagged("team/app", tag).is_some(),
            held,
            "{tag}"
        );
    }
    let execution = world.execution(execution_id).await;
    assert_eq!(execution.status, ExecutionStatus::Succeed);
    assert_eq!(execution.total, 5, "2 copies, 1 unchanged, 2 deletions");
}

#[tokio::test]
async fn past_its_share_a_prune_deletes_nothing_and_says_so() {
    let world = mirrored().await;
    let policy = world.policy(policy(10)).await;
    let execution_id = world.listed(&policy).await;
    world.transfer_all().await;
    let refused = deletions(&world, execution_id);
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|(_, s)| *s == TaskStatus::Failed));
    let text = world
        .tasks(execution_id)
        .into_iter()
        .find(|t| t.operation == Operation::Deletion)
        .map(|t| t.status_text)
        .unwrap_or_default();
    assert!(
        text.contains("2 of the 3") && text.contains("10%"),
        "{text}"
    );
    assert!(world.destination.tagged("team/app", "0.9").is_some());
    assert!(world.destination.tagged("team/app", "dev").is_some());
    assert!(
        world.destination.tagged("team/app", "2.0").is_some(),
        "the copies went on"
    );
    let execution = world.execution(execution_id).await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
}

#[tokio::test]
async fn a_failed_listing_prunes_nothing() {
    let world = mirrored().await;
    world.source.fail("list_tags", 10, Injected::Refused(403));
    let policy = world.policy(policy(100)).await;
    let execution_id = world.listed(&policy).await;
    world.transfer_all().await;
    assert!(deletions(&world, execution_id).is_empty());
    assert_eq!(
        world.execution(execution_id).await.status,
        ExecutionStatus::Failed
    );
    assert!(world.destination.tagged("team/app", "0.9").is_some());
}

#[tokio::test]
async fn a_push_under_newest_drops_the_tag_that_fell_out() {
    let world = World::new().await;
    let dated = |registry: &crate::ports::fakes::MemoryRegistry, tag: &str, day: u32| {
        registry.push_manifest(
            "team/app",
            tag,
            media::OCI_MANIFEST,
            &json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": format!("sha256:{:064x}", day), "size": 2},
                "layers": [],
                "annotations": {"org.opencontainers.image.created": format!("2026-01-{day:02}T00:00:00Z")}}),
        )
    };
    for (tag, day) in [("1.2.3", 3), ("1.4.0", 5), ("2.0.0", 6)] {
        dated(&world.source, tag, day);
        dated(&world.destination, tag, day);
    }
    dated(&world.source, "1.0", 1);
    let policy = world
        .policy(json!({"trigger": {"type": "event_based"}, "filters": [
            {"type": "name", "value": "team/app"},
            {"type": "newest", "value": 3},
        ], "prune": {"enabled": true, "max_percent": 50}}))
        .await;
    dated(&world.source, "1.4.2", 20);
    let execution = world
        .store
        .create_execution(
            policy.id,
            crate::model::TriggerType::EventBased,
            2,
            &crate::ports::store::Launch::Listing,
        )
        .await
        .expect("execution");
    let pushed = ListMessage {
        correlation_id: None,
        execution_id: execution.id,
        event: Some(ArtifactEvent {
            repository: "team/app".into(),
            reference: "1.4.2".into(),
            deleted: false,
        }),
        ..started(&world, policy.id).await
    };
    world.list(&pushed).await;
    let tasks = world.tasks(execution.id);
    let copies: Vec<&str> = tasks
        .iter()
        .filter(|t| t.operation == Operation::Copy)
        .map(|t| t.src_resource.as_str())
        .collect();
    assert_eq!(copies, ["team/app:1.4.2"]);
    assert_eq!(
        deletions(&world, execution.id),
        vec![("team/app:1.2.3".to_string(), TaskStatus::Pending)],
        "the one that fell out of the newest three"
    );
}

#[tokio::test]
async fn a_plan_shows_the_prune_and_deletes_nothing() {
    let world = mirrored().await;
    let policy = world.policy(policy(70)).await;
    let plan_id = world.planned(&policy).await;
    assert!(
        world.queue.take_transfer().is_empty(),
        "a plan transfers nothing"
    );
    let planned: Vec<(String, String)> = world
        .tasks(plan_id)
        .into_iter()
        .filter(|t| t.operation == Operation::Deletion)
        .map(|t| (t.dst_resource, t.status_text))
        .collect();
    assert_eq!(planned.len(), 2, "{planned:?}");
    assert!(planned
        .iter()
        .all(|(_, text)| text.starts_with("plan: delete")));
    assert_eq!(
        world.execution(plan_id).await.status,
        ExecutionStatus::Succeed
    );
    assert!(world.destination.tagged("team/app", "0.9").is_some());
}
