//! Auto-sync on pull on the fakes: a missing manifest replicated once however many pulls ask,
//! served from the destination afterwards; filters and an absent upstream answer unknown;
//! a replication that takes too long is "not yet" and keeps running; blobs redirect or
//! stream; pull events sync once.

use std::time::Duration;

use super::*;
use crate::model::auto_sync::owner_of;
use crate::model::ExecutionStatus;
use crate::oci::{Digest, Reference, Repository};
use crate::ports::registry::{Manifests, RegistryClient};
use crate::replication::pull::events::{parse_pulls, start_for_pulls};
use crate::replication::pull::{BlobAnswer, Pull, PullError, PullSettings, Served};

fn quick() -> PullSettings {
    PullSettings {
        wait: Duration::from_secs(5),
        first_poll: Duration::from_millis(5),
        max_poll: Duration::from_millis(20),
        ..PullSettings::default()
    }
}

fn repo(name: &str) -> Repository {
    Repository::parse(name).expect("repository")
}

fn reference(value: &str) -> Reference {
    Reference::parse(value).expect("reference")
}

async fn auto_sync_policy(world: &World, extra: serde_json::Value) -> ReplicationPolicy {
    let mut fields = serde_json::json!({
        "dest_namespace": "mirror",
        "dest_namespace_replace_count": 0,
        "trigger": {"type": "manual"},
        "auto_sync": {"enabled": true},
    });
    if let (Some(fields), Some(extra)) = (fields.as_object_mut(), extra.as_object()) {
        fields.extend(extra.clone());
    }
    world.policy(fields).await
}

impl World {
    fn pull<'a>(&'a self, settings: &'a PullSettings) -> Pull<'a> {
        Pull {
            store: self.store.as_ref(),
            queue: self.queue.as_ref(),
            destination: &self.destination,
            source: &self.source,
            settings,
        }
    }

    /// Delivers list and transfer messages for a while, as the queues' consumers would.
    async fn pump(&self, rounds: usize) {
        let lister = self.list_worker(100);
        for _ in 0..rounds {
            for message in self.queue.take_list() {
                lister
                    .handle(&inbound(&message, 1), None)
                    .await
                    .expect("listed");
            }
            self.transfer_all().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn executions_of(&self, policy_id: i64) -> Vec<Execution> {
        self.store
            .list_executions(Some(policy_id), None, 100)
            .await
            .expect("executions")
            .items
    }
}

#[tokio::test]
async fn two_pulls_of_a_missing_manifest_start_one_replication_and_both_are_served() {
    let world = World::new().await;
    let digest = world
        .source
        .push_image("team/app", "v1", &[b"layer one", b"layer two"]);
    let policy = auto_sync_policy(&world, serde_json::json!({})).await;
    let policies = vec![policy.clone()];
    let pulled = repo("mirror/team/app");
    let owner = owner_of(&policies, &pulled).expect("owned");
    assert_eq!(owner.source.as_str(), "team/app");
    let settings = quick();
    let pull = world.pull(&settings);
    let v1 = reference("v1");
    let (first, second, ()) = tokio::join!(
        pull.manifest(&owner, &pulled, &v1),
        pull.manifest(&owner, &pulled, &v1),
        world.pump(40),
    );
    let (first, second): (Served, Served) = (first.expect("first"), second.expect("second"));
    let upstream = world
        .source
        .get_manifest(&repo("team/app"), &v1)
        .await
        .expect("upstream");
    for served in [&first, &second] {
        assert_eq!(served.manifest.digest, digest);
        assert_eq!(served.manifest.bytes, upstream.bytes, "byte-exact");
    }
    let executions = world.executions_of(policy.id).await;
    assert_eq!(executions.len(), 1, "one replication for both pulls");
    assert_eq!(executions[0].trigger, crate::model::TriggerType::EventBased);
    assert_eq!(executions[0].status, ExecutionStatus::Succeed);
    let started: Vec<i64> = [first.execution_id, second.execution_id]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(
        started,
        vec![executions[0].id],
        "the winner started it, the other waited"
    );
    assert_eq!(
        world.destination.tagged("mirror/team/app", "v1"),
        Some(digest.clone())
    );

    // Held now: served from the destination, nothing started.
    let again = pull.manifest(&owner, &pulled, &v1).await.expect("again");
    assert_eq!(again.execution_id, None);
    assert_eq!(again.manifest.bytes, upstream.bytes);
    // By digest, once held.
    let pinned = pull
        .manifest(&owner, &pulled, &reference(digest.as_str()))
        .await
        .expect("by digest");
    assert_eq!(pinned.manifest.bytes, upstream.bytes);
    assert_eq!(world.executions_of(policy.id).await.len(), 1);
}

#[tokio::test]
async fn what_the_filters_leave_out_or_the_upstream_lacks_is_unknown_without_an_execution() {
    let world = World::new().await;
    world.source.push_image("team/app", "latest", &[b"a"]);
    world.source.push_image("team/app", "v1", &[b"b"]);
    let policy = auto_sync_policy(
        &world,
        serde_json::json!({"filters": [{"type": "tag", "value": "v*"}]}),
    )
    .await;
    let policies = vec![policy.clone()];
    let pulled = repo("mirror/team/app");
    let owner = owner_of(&policies, &pulled).expect("owned");
    let settings = quick();
    let pull = world.pull(&settings);
    let outside = pull
        .manifest(&owner, &pulled, &reference("latest"))
        .await
        .expect_err("outside the tag filter");
    assert!(
        matches!(&outside, PullError::ManifestUnknown(m) if m.contains("tag filter")),
        "{outside}"
    );
    let absent = pull
        .manifest(&owner, &pulled, &reference("v9"))
        .await
        .expect_err("not upstream");
    assert!(
        matches!(&absent, PullError::ManifestUnknown(m) if m.contains("source registry")),
        "{absent}"
    );
    let v1 = world.source.tagged("team/app", "v1").expect("v1");
    let by_digest = pull
        .manifest(&owner, &pulled, &reference(v1.as_str()))
        .await
        .expect_err("a digest the destination lacks");
    assert!(
        matches!(&by_digest, PullError::ManifestUnknown(m) if m.contains("by tag")),
        "{by_digest}"
    );
    assert!(world.executions_of(policy.id).await.is_empty());
    assert!(world.queue.take_list().is_empty());
}

#[tokio::test]
async fn a_replication_that_does_not_arrive_in_time_is_not_yet_and_keeps_running() {
    let world = World::new().await;
    world.source.push_image("team/app", "v1", &[b"slow"]);
    let policy = auto_sync_policy(&world, serde_json::json!({})).await;
    let policies = vec![policy.clone()];
    let pulled = repo("mirror/team/app");
    let owner = owner_of(&policies, &pulled).expect("owned");
    let settings = PullSettings {
        wait: Duration::from_millis(100),
        ..quick()
    };
    // Nobody delivers the list message: the replication cannot arrive.
    let error = world
        .pull(&settings)
        .manifest(&owner, &pulled, &reference("v1"))
        .await
        .expect_err("not in time");
    let PullError::NotYet {
        reason,
        retry_after,
    } = &error
    else {
        panic!("{error}");
    };
    assert!(reason.contains("has not finished"), "{reason}");
    assert!(*retry_after > Duration::ZERO);
    let executions = world.executions_of(policy.id).await;
    assert_eq!(executions.len(), 1);
    assert_eq!(
        executions[0].status,
        ExecutionStatus::InProgress,
        "left running"
    );
    // A pull in the same window starts nothing more; the replication, once delivered, lands.
    let again = world
        .pull(&settings)
        .manifest(&owner, &pulled, &reference("v1"))
        .await
        .expect_err("still not there");
    assert!(matches!(again, PullError::NotYet { .. }));
    assert_eq!(world.executions_of(policy.id).await.len(), 1);
    world.pump(3).await;
    assert!(world.destination.tagged("mirror/team/app", "v1").is_some());
}

#[tokio::test]
async fn blobs_pass_the_destinations_redirect_on_or_stream_within_the_limit() {
    let world = World::new().await;
    let layer = b"a layer of some bytes".as_slice();
    world
        .destination
        .push_image("mirror/team/app", "v1", &[layer]);
    let digest = Digest::sha256(layer);
    let settings = quick();
    let pull = world.pull(&settings);
    let pulled = repo("mirror/team/app");
    match pull.blob(&pulled, &digest, false).await.expect("blob") {
        BlobAnswer::Bytes { size, bytes } => {
            assert_eq!(bytes.as_ref(), layer);
            assert_eq!(size, Some(layer.len() as u64));
        }
        other => panic!("streamed, not {other:?}"),
    }
    let missing = Digest::sha256(b"not there");
    assert!(matches!(
        pull.blob(&pulled, &missing, false).await,
        Err(PullError::BlobUnknown { .. })
    ));
    let small = PullSettings {
        max_stream_bytes: 4,
        ..quick()
    };
    assert!(matches!(
        world.pull(&small).blob(&pulled, &digest, false).await,
        Err(PullError::TooLarge { size, .. }) if size == layer.len() as u64
    ));
    world
        .destination
        .redirect_blobs("https://storage.test/bucket");
    match world
        .pull(&small)
        .blob(&pulled, &digest, false)
        .await
        .expect("blob")
    {
        BlobAnswer::Redirect(location) => {
            assert!(
                location.starts_with("https://storage.test/bucket/"),
                "{location}"
            )
        }
        other => panic!("redirected, not {other:?}"),
    }
    assert_eq!(world.destination.name(), "destination.test");
}

#[tokio::test]
async fn a_pull_event_at_the_destination_syncs_the_tag_once() {
    let world = World::new().await;
    world.source.push_image("team/app", "v1", &[b"x"]);
    let syncing = auto_sync_policy(
        &world,
        serde_json::json!({"auto_sync": {"enabled": true, "on_pull_event": true}}),
    )
    .await;
    let quiet = auto_sync_policy(&world, serde_json::json!({"dest_namespace": "quiet"})).await;
    let body = br#"{"events":[
        {"id":"e1","action":"pull","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"mirror/team/app","tag":"v1"}},
        {"id":"e2","action":"pull","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"mirror/team/app","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}},
        {"id":"e3","action":"pull","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"quiet/team/app","tag":"v1"}},
        {"id":"e5","action":"pull","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"mirror/team/app","tag":"v1"},"request":{"useragent":"ferry/0.1.0"}},
        {"id":"e4","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"mirror/team/app","tag":"v2"}}
    ]}"#;
    let pulls = parse_pulls(body);
    assert_eq!(pulls.len(), 2, "tag pulls not by Ferry only: {pulls:?}");
    let policies = vec![syncing.clone(), quiet.clone()];
    let window = Duration::from_secs(60);
    let started = start_for_pulls(
        world.store.as_ref(),
        world.queue.as_ref(),
        &policies,
        2,
        &pulls,
        window,
    )
    .await
    .expect("started");
    assert_eq!(started.len(), 1);
    let again = start_for_pulls(
        world.store.as_ref(),
        world.queue.as_ref(),
        &policies,
        2,
        &pulls,
        window,
    )
    .await
    .expect("again");
    assert!(again.is_empty(), "once per event and window");
    // Not a pull at the policy's destination registry: nothing.
    assert!(start_for_pulls(
        world.store.as_ref(),
        world.queue.as_ref(),
        &policies,
        1,
        &pulls,
        window
    )
    .await
    .expect("other registry")
    .is_empty());
    assert!(world.executions_of(quiet.id).await.is_empty());
    world.pump(3).await;
    let executions = world.executions_of(syncing.id).await;
    assert_eq!(executions.len(), 1);
    assert_eq!(
        executions[0].status,
        ExecutionStatus::Succeed,
        "{}",
        executions[0].status_text
    );
    assert!(world.destination.tagged("mirror/team/app", "v1").is_some());
    let harbor = br#"{"type":"PULL_ARTIFACT","occur_at":1700000000,"event_data":{"resources":[{"digest":"sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd","tag":"1.0"}],"repository":{"repo_full_name":"mirror/team/app"}}}"#;
    let harbor_pulls = parse_pulls(harbor);
    assert_eq!(harbor_pulls.len(), 1);
    assert_eq!(harbor_pulls[0].tag.as_str(), "1.0");
}

#[tokio::test]
async fn with_on_pull_event_a_pull_of_a_held_tag_syncs_it_once_per_window() {
    let world = World::new().await;
    world.source.push_image("team/app", "v1", &[b"new"]);
    world
        .destination
        .push_image("mirror/team/app", "v1", &[b"old"]);
    let policy = auto_sync_policy(
        &world,
        serde_json::json!({"override": true, "auto_sync": {"enabled": true, "on_pull_event": true}}),
    )
    .await;
    let policies = vec![policy.clone()];
    let pulled = repo("mirror/team/app");
    let owner = owner_of(&policies, &pulled).expect("owned");
    let settings = quick();
    let pull = world.pull(&settings);
    let first = pull
        .manifest(&owner, &pulled, &reference("v1"))
        .await
        .expect("served as held");
    assert_ne!(
        Some(first.manifest.digest.clone()),
        world.source.tagged("team/app", "v1"),
        "served what the destination holds"
    );
    assert!(first.execution_id.is_some(), "and a sync started");
    let second = pull
        .manifest(&owner, &pulled, &reference("v1"))
        .await
        .expect("again");
    assert_eq!(second.execution_id, None, "once per window");
    world.pump(3).await;
    assert_eq!(
        world.destination.tagged("mirror/team/app", "v1"),
        world.source.tagged("team/app", "v1"),
        "the sync brought the source's v1"
    );
}

#[tokio::test]
async fn a_pinned_digest_the_destination_lacks_is_replicated_by_digest_where_no_filter_judges_tags()
{
    let world = World::new().await;
    let digest = world.source.push_image("team/app", "v1", &[b"pinned"]);
    let policy = auto_sync_policy(
        &world,
        serde_json::json!({"filters": [{"type": "name", "value": "team/**"}, {"type": "tag", "value": ""}]}),
    )
    .await;
    let policies = vec![policy.clone()];
    let pulled = repo("mirror/team/app");
    let owner = owner_of(&policies, &pulled).expect("owned");
    let settings = quick();
    let pull = world.pull(&settings);
    let pinned = reference(digest.as_str());
    let (served, ()) = tokio::join!(pull.manifest(&owner, &pulled, &pinned), world.pump(40));
    let served = served.expect("replicated by digest");
    assert_eq!(served.manifest.digest, digest);
    let upstream = world
        .source
        .get_manifest(&repo("team/app"), &pinned)
        .await
        .expect("upstream");
    assert_eq!(served.manifest.bytes, upstream.bytes, "byte-exact");
    let executions = world.executions_of(policy.id).await;
    assert_eq!(executions.len(), 1);
    let tasks = world.tasks(executions[0].id);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].dst_resource, format!("mirror/team/app@{digest}"));
    assert_eq!(
        world.destination.tagged("mirror/team/app", "v1"),
        None,
        "a digest alone writes no tag"
    );
}
