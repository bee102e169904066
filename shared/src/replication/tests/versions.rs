//! The semver and newest filters through the lister: which tags of a repository become tasks.

use serde_json::json;

use super::list::started;
use super::World;
use crate::messages::{ArtifactEvent, ListMessage};
use crate::oci::media;

/// The tags, each an image created a day after the one before (`latest` last).
const TAGS: [&str; 7] = [
    "0.9",
    "1.0",
    "1.2.3",
    "1.4.0-rc1",
    "1.4.0",
    "2.0.0",
    "latest",
];

fn push(world: &World, tag: &str, day: usize) {
    world.source.push_manifest(
        "team/app",
        tag,
        media::OCI_MANIFEST,
        &json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha256:{:064x}", day), "size": 2},
            "layers": [],
            "annotations": {"org.opencontainers.image.created": format!("2026-01-{:02}T00:00:00Z", day + 1)},
        }),
    );
}

async fn world_with_tags() -> World {
    let world = World::new().await;
    for (day, tag) in TAGS.iter().enumerate() {
        push(&world, tag, day);
    }
    world
}

/// The source tags an execution of a policy with these filters makes tasks of.
async fn selected(world: &World, filters: serde_json::Value) -> Vec<String> {
    let mut filters = filters;
    if let Some(list) = filters.as_array_mut() {
        list.push(json!({"type": "name", "value": "team/app"}));
    }
    let policy = world.policy(json!({ "filters": filters })).await;
    let execution_id = world.listed(&policy).await;
    tags_of(world, execution_id)
}

fn tags_of(world: &World, execution_id: i64) -> Vec<String> {
    let mut tags: Vec<String> = world
        .tasks(execution_id)
        .into_iter()
        .map(|t| t.src_resource.trim_start_matches("team/app:").to_string())
        .collect();
    tags.sort();
    tags
}

#[tokio::test]
async fn semver_ranges_select_the_versions_they_name() {
    let world = world_with_tags().await;
    for (range, expected) in [
        (">=1.4 <2", vec!["1.4.0"]),
        ("^1.2", vec!["1.2.3", "1.4.0"]),
        ("~1.2", vec!["1.2.3"]),
        (">=1.0", vec!["1.0", "1.2.3", "1.4.0", "2.0.0"]),
        ("<1", vec!["0.9"]),
        (">=1.4.0-0 <2", vec!["1.4.0", "1.4.0-rc1"]),
        ("v2", vec!["2.0.0"]),
    ] {
        let tags = selected(&world, json!([{"type": "semver", "value": range}])).await;
        assert_eq!(tags, expected, "{range}");
    }
    let not_ones = selected(
        &world,
        json!([{"type": "semver", "value": "^1", "decoration": "excludes"}]),
    )
    .await;
    // A tag that is no version, and a pre-release `^1` does not name, are not in the range.
    assert_eq!(not_ones, ["0.9", "1.4.0-rc1", "2.0.0", "latest"]);
}

#[tokio::test]
async fn newest_keeps_the_last_created_after_the_other_filters() {
    let world = world_with_tags().await;
    assert_eq!(
        selected(&world, json!([{"type": "newest", "value": 3}])).await,
        ["1.4.0", "2.0.0", "latest"]
    );
    assert_eq!(
        selected(
            &world,
            json!([{"type": "semver", "value": ">=0.1"}, {"type": "newest", "value": 3}])
        )
        .await,
        ["1.2.3", "1.4.0", "2.0.0"],
        "the newest of the versions"
    );
    assert_eq!(
        selected(
            &world,
            json!([{"type": "tag", "value": "1.*"}, {"type": "newest", "value": 2}])
        )
        .await,
        ["1.4.0", "1.4.0-rc1"]
    );
}

#[tokio::test]
async fn a_pushed_tag_under_newest_is_replicated_only_while_it_is_among_the_newest() {
    let world = world_with_tags().await;
    let policy = world
        .policy(json!({"trigger": {"type": "event_based"}, "filters": [
            {"type": "name", "value": "team/app"},
            {"type": "semver", "value": ">=1.0"},
            {"type": "newest", "value": 3},
        ]}))
        .await;
    push(&world, "1.4.2", 20);
    let event = |tag: &str| ArtifactEvent {
        repository: "team/app".into(),
        reference: tag.into(),
        deleted: false,
    };
    let pushed = ListMessage {
        correlation_id: None,
        event: Some(event("1.4.2")),
        ..started(&world, policy.id).await
    };
    world.list(&pushed).await;
    assert_eq!(tags_of(&world, pushed.execution_id), ["1.4.2"]);
    // 1.0 is no longer among the newest three (1.4.2, 2.0.0, 1.4.0): its event copies nothing.
    let old = ListMessage {
        correlation_id: None,
        event: Some(event("1.0")),
        ..started(&world, policy.id).await
    };
    world.list(&old).await;
    assert!(tags_of(&world, old.execution_id).is_empty());
}
