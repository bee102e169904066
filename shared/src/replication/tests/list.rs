use super::{counts, inbound, statuses, World, MAX_RECEIVES};
use crate::messages::ListMessage;
use crate::model::{ExecutionStatus, TaskStatus, TriggerType};
use crate::ports::fakes::Injected;
use crate::ports::store::{ExecutionStore, Launch};
use crate::replication::HandleError;

/// Three images in two repositories of the source, and one the policy leaves out.
pub(super) fn fleet(world: &World) {
    world
        .source
        .push_image("team/app", "1.0", &[b"base", b"app 1.0"]);
    world
        .source
        .push_image("team/app", "1.1", &[b"base", b"app 1.1"]);
    world
        .source
        .push_image("team/web", "1.0", &[b"base", b"web"]);
    world.source.push_image("other/tool", "1.0", &[b"tool"]);
}

/// An execution of `policy` created, and its first list message (not yet delivered).
pub(super) async fn started(world: &World, policy_id: i64) -> ListMessage {
    let execution = world
        .store
        .create_execution(policy_id, TriggerType::Manual, 1, &Launch::Listing)
        .await
        .expect("execution");
    ListMessage {
        correlation_id: None,
        execution_id: execution.id,
        policy_id,
        start_after: None,
        event: None,
        resume: None,
    }
}

#[tokio::test]
async fn listing_writes_one_task_and_one_message_per_artifact_within_the_filters() {
    let world = World::new().await;
    fleet(&world);
    let policy = world
        .policy(serde_json::json!({"filters": [{"type": "name", "value": "team/**"}], "dest_namespace": "mirror", "dest_namespace_replace_count": 0}))
        .await;
    let message = started(&world, policy.id).await;
    world.list(&message).await;
    let tasks = world.tasks(message.execution_id);
    let mut copies: Vec<String> = tasks.iter().map(|t| t.dst_resource.clone()).collect();
    copies.sort();
    assert_eq!(
        copies,
        vec![
            "mirror/team/app:1.0",
            "mirror/team/app:1.1",
            "mirror/team/web:1.0"
        ]
    );
    assert_eq!(world.queue.take_transfer().len(), 3);
    let execution = world.execution(message.execution_id).await;
    assert_eq!(counts(&execution), (3, 0, 0, 0, 3));
    assert_eq!(world.store.listings_pending(message.execution_id), Some(0));
}

#[tokio::test]
async fn what_the_destination_holds_already_is_skipped_without_a_transfer() {
    let world = World::new().await;
    fleet(&world);
    world
        .destination
        .push_image("team/app", "1.0", &[b"base", b"app 1.0"]);
    let policy = world
        .policy(serde_json::json!({"filters": [{"type": "name", "value": "team/app"}]}))
        .await;
    let message = started(&world, policy.id).await;
    world.list(&message).await;
    let tasks = world.tasks(message.execution_id);
    let skipped: Vec<&str> = tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Succeed)
        .map(|t| t.status_text.as_str())
        .collect();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].starts_with("skipped: unchanged"), "{skipped:?}");
    assert_eq!(
        world.queue.take_transfer().len(),
        1,
        "only 1.1 is transferred"
    );
}

#[tokio::test]
async fn the_repositories_of_a_piece_are_written_together_not_one_batch_each() {
    let world = World::new().await;
    for repository in 0..12 {
        for tag in ["1.0", "1.1"] {
            let layer = format!("layer {repository} {tag}");
            world.source.push_image(
                &format!("fleet/app{repository:02}"),
                tag,
                &[layer.as_bytes()],
            );
        }
    }
    let policy = world.policy(serde_json::json!({})).await;
    let message = started(&world, policy.id).await;
    world.list(&message).await;
    assert_eq!(world.tasks(message.execution_id).len(), 24);
    assert_eq!(world.store.faults.calls("create_tasks"), 1, "one batch");
    assert_eq!(world.queue.take_transfer().len(), 24);
    let execution = world.execution(message.execution_id).await;
    assert_eq!(counts(&execution), (24, 0, 0, 0, 24));
}

#[tokio::test]
async fn a_piece_delivered_twice_creates_its_tasks_once() {
    let world = World::new().await;
    fleet(&world);
    let policy = world.policy(serde_json::json!({})).await;
    let message = started(&world, policy.id).await;
    let lister = world.list_worker(100);
    lister
        .handle(&inbound(&message, 1), None)
        .await
        .expect("listed");
    lister
        .handle(&inbound(&message, 2), None)
        .await
        .expect("listed again");
    assert_eq!(world.tasks(message.execution_id).len(), 4);
    let execution = world.execution(message.execution_id).await;
    assert_eq!(counts(&execution), (4, 0, 0, 0, 4), "counted once");
    assert_eq!(world.store.listings_pending(message.execution_id), Some(0));
}

#[tokio::test]
async fn a_large_source_is_listed_in_pieces_and_complete_only_when_all_are_done() {
    let world = World::new().await;
    fleet(&world);
    let policy = world.policy(serde_json::json!({})).await;
    let first = started(&world, policy.id).await;
    let lister = world.list_worker(1);
    lister
        .handle(&inbound(&first, 1), None)
        .await
        .expect("first piece");
    let mut pieces = 1;
    while let Some(next) = world.queue.take_list().pop() {
        assert_eq!(
            world.store.listings_pending(first.execution_id),
            Some(1),
            "one open"
        );
        lister
            .handle(&inbound(&next, 1), None)
            .await
            .expect("next piece");
        pieces += 1;
    }
    assert_eq!(pieces, 3, "other/tool, team/app, team/web");
    assert_eq!(world.tasks(first.execution_id).len(), 4);
    assert_eq!(world.store.listings_pending(first.execution_id), Some(0));
}

#[tokio::test]
async fn a_stopped_execution_is_not_listed() {
    let world = World::new().await;
    fleet(&world);
    let policy = world.policy(serde_json::json!({})).await;
    let message = started(&world, policy.id).await;
    world
        .store
        .end_execution(
            message.execution_id,
            ExecutionStatus::Stopped,
            "stopped by the user",
        )
        .await
        .expect("stopped");
    world.list(&message).await;
    assert!(world.tasks(message.execution_id).is_empty());
    assert!(world.queue.take_transfer().is_empty());
}

#[tokio::test]
async fn a_source_that_fails_for_a_moment_is_listed_on_the_next_delivery() {
    let world = World::new().await;
    fleet(&world);
    let policy = world.policy(serde_json::json!({})).await;
    let message = started(&world, policy.id).await;
    world.source.fail("list_tags", 1, Injected::Transient);
    let lister = world.list_worker(100);
    assert!(matches!(
        lister.handle(&inbound(&message, 1), None).await,
        Err(HandleError::Retry(_))
    ));
    lister
        .handle(&inbound(&message, 2), None)
        .await
        .expect("healed");
    assert_eq!(world.tasks(message.execution_id).len(), 4);
    assert_eq!(
        world.execution(message.execution_id).await.status,
        ExecutionStatus::InProgress
    );
}

#[tokio::test]
async fn a_refusal_or_the_last_delivery_fails_the_execution_with_the_reason() {
    let world = World::new().await;
    fleet(&world);
    let policy = world.policy(serde_json::json!({})).await;
    let lister = world.list_worker(100);

    let refused = started(&world, policy.id).await;
    world.source.fail("list_tags", 1, Injected::Refused(403));
    lister
        .handle(&inbound(&refused, 1), None)
        .await
        .expect("handled");
    let execution = world.execution(refused.execution_id).await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert!(
        execution.status_text.contains("listing artifacts of"),
        "{}",
        execution.status_text
    );
    assert!(
        execution.status_text.contains("403"),
        "{}",
        execution.status_text
    );

    let exhausted = started(&world, policy.id).await;
    world
        .source
        .fail("list_repositories", 1, Injected::Transient);
    lister
        .handle(&inbound(&exhausted, MAX_RECEIVES), None)
        .await
        .expect("handled");
    let execution = world.execution(exhausted.execution_id).await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert!(
        execution
            .status_text
            .starts_with(&format!("listing failed after {MAX_RECEIVES} attempts")),
        "{}",
        execution.status_text
    );
}

#[tokio::test]
async fn destination_namespaces_are_made_first_and_a_refusal_fails_before_any_task() {
    let world = World::new().await;
    fleet(&world);
    let namespaces = world.registries.add_namespaces(2);
    let policy = world
        .policy(serde_json::json!({"filters": [{"type": "name", "value": "team/**"}]}))
        .await;
    let message = started(&world, policy.id).await;
    world.list(&message).await;
    assert_eq!(namespaces.made(), vec!["team"]);

    namespaces
        .faults
        .fail("ensure", 1, crate::ports::fakes::Injected::Refused(403));
    let other = world
        .policy(serde_json::json!({"filters": [{"type": "name", "value": "other/**"}]}))
        .await;
    let refused = started(&world, other.id).await;
    world.list(&refused).await;
    let execution = world.execution(refused.execution_id).await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert!(
        execution
            .status_text
            .contains("preparing the destination failed: namespace \"other\""),
        "{}",
        execution.status_text
    );
    assert!(world.tasks(refused.execution_id).is_empty());
}

#[tokio::test]
async fn a_tag_that_is_not_a_valid_name_gets_a_task_that_fails_naming_it() {
    let world = World::new().await;
    world.source.push_image("team/app", "1.0", &[b"layer"]);
    let digest = world.source.tagged("team/app", "1.0").expect("pushed");
    world.source.push_manifest(
        "team/app",
        "../../../victim/app/manifests/latest",
        crate::oci::media::OCI_MANIFEST,
        &serde_json::json!({"schemaVersion": 2, "digest": digest.to_string()}),
    );
    let policy = world.policy(serde_json::json!({})).await;
    let execution_id = world.listed(&policy).await;
    world.transfer_all().await;
    let tasks = world.tasks(execution_id);
    assert_eq!(
        statuses(&tasks)
            .iter()
            .filter(|s| **s == TaskStatus::Failed)
            .count(),
        1
    );
    let failed = tasks
        .iter()
        .find(|t| t.status == TaskStatus::Failed)
        .expect("failed");
    assert!(
        failed.status_text.contains("tag \"../../../victim"),
        "{}",
        failed.status_text
    );
    assert_eq!(
        world.execution(execution_id).await.status,
        ExecutionStatus::Failed
    );
    assert!(
        world.destination.tagged("team/app", "1.0").is_some(),
        "the good one went"
    );
}

#[tokio::test]
async fn a_piece_that_outlasts_its_invocation_goes_on_where_it_stopped_and_writes_each_task_once() {
    let world = World::new().await;
    fleet(&world);
    let digest = world
        .source
        .push_image("team/many", "0000", &[b"one image"]);
    let manifest = serde_json::json!({"tagged": digest.to_string()});
    for n in 1..250 {
        world.source.push_manifest(
            "team/many",
            &format!("{n:04}"),
            crate::oci::media::OCI_MANIFEST,
            &manifest,
        );
    }
    let policy = world.policy(serde_json::json!({})).await;
    let first = started(&world, policy.id).await;
    // No time at all: every invocation lists one window of tags, then hands the rest on.
    let lister = crate::replication::list::ListWorker {
        time_budget: Some(std::time::Duration::ZERO),
        ..world.list_worker(100)
    };
    lister
        .handle(&inbound(&first, 1), None)
        .await
        .expect("listed");
    let mut invocations = 1;
    let mut pending = world.queue.take_list();
    while let Some(rest) = pending.pop() {
        assert!(rest.resume.is_some(), "a continuation, not a new piece");
        invocations += 1;
        assert!(invocations < 20, "no progress");
        lister
            .handle(&inbound(&rest, 1), None)
            .await
            .expect("went on");
        let next = world.queue.take_list();
        // Delivered twice, it hands on the same rest and writes nothing twice.
        lister
            .handle(&inbound(&rest, 2), None)
            .await
            .expect("again");
        assert_eq!(world.queue.take_list(), next);
        pending = next;
    }
    let tasks = world.tasks(first.execution_id);
    let mut names: Vec<&str> = tasks.iter().map(|t| t.dst_resource.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), tasks.len(), "each task once");
    assert_eq!(tasks.len(), 4 + 250);
    assert!(invocations >= 4, "{invocations} invocations");
    assert_eq!(world.store.listings_pending(first.execution_id), Some(0));
    assert_eq!(world.execution(first.execution_id).await.total, 254);
}

#[tokio::test]
async fn a_deletion_by_digest_reaches_only_a_manifest_a_destination_tag_names() {
    let world = World::new().await;
    let tagged = world
        .destination
        .push_image("team/app", "1.0", &[b"base", b"app 1.0"]);
    // An index's child (or a referrer) is held by digest alone.
    let child = world
        .destination
        .push_image("team/app", "child", &[b"base", b"arm64"]);
    world.destination.untag("team/app", "child");
    let policy = world
        .policy(serde_json::json!({"trigger": {"type": "event_based"}, "replicate_deletion": true, "filters": [{"type": "name", "value": "team/**"}]}))
        .await;
    let deletion = |digest: &crate::oci::Digest| crate::messages::ArtifactEvent {
        repository: "team/app".into(),
        reference: digest.to_string(),
        deleted: true,
    };
    for (digest, expected) in [(&child, 0), (&tagged, 1)] {
        let message = ListMessage {
            correlation_id: None,
            event: Some(deletion(digest)),
            ..started(&world, policy.id).await
        };
        world.list(&message).await;
        let tasks = world.tasks(message.execution_id);
        assert_eq!(tasks.len(), expected, "{digest}: {tasks:?}");
        if let Some(task) = tasks.first() {
            assert_eq!(task.operation, crate::model::Operation::Deletion);
            assert_eq!(task.dst_resource, format!("team/app@{tagged}"));
        }
    }
}

/// Requests by operation between two counts.
fn since(
    before: &std::collections::HashMap<&'static str, u32>,
    after: &std::collections::HashMap<&'static str, u32>,
) -> u32 {
    after
        .iter()
        .map(|(op, n)| n - before.get(op).copied().unwrap_or(0))
        .sum()
}

/// A generated source, `FERRY_LIST_REPOSITORIES` x `FERRY_LIST_TAGS` (200 x 20 in the suite,
/// 5,000 x 20 in `make bench-list`), listed in pieces of 100 repositories as the lister runs
/// them, one delivery each: every artifact gets its task, and what one piece asks of the
/// registries, the store and the queue is bounded by the piece, not the source. Prints per
/// piece the requests and the time in memory (the lister's own work), and what a piece takes
/// at 20 ms a registry request, 8 at once: one Lambda invocation has 15 minutes.
#[tokio::test]
async fn a_generated_source_lists_in_bounded_pieces() {
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (repositories, tags) = (
        var("FERRY_LIST_REPOSITORIES", 200),
        var("FERRY_LIST_TAGS", 20),
    );
    const PAGE: usize = 100;
    let world = World::new().await;
    for r in 0..repositories {
        for t in 0..tags {
            let layer = format!("r{r} t{t}");
            world.source.push_image(
                &format!("fleet/r{r:05}"),
                &format!("1.{t}"),
                &[b"base", layer.as_bytes()],
            );
        }
    }
    let policy = world.policy(serde_json::json!({})).await;
    let first = started(&world, policy.id).await;
    let lister = world.list_worker(PAGE);
    let mut next = Some(first.clone());
    let (mut pieces, mut slowest, mut total_time) = (0, 0.0f64, 0.0f64);
    let (mut most_registry, mut most_writes, mut most_sends) = (0, 0, 0);
    let mut messages = 0;
    while let Some(message) = next.take() {
        let registry_before = (world.source.calls(), world.destination.calls());
        let writes_before = world.store.faults.calls("create_tasks");
        let sends_before = world.queue.faults.calls("send_transfer");
        let started_at = std::time::Instant::now();
        lister
            .handle(&inbound(&message, 1), None)
            .await
            .expect("piece");
        let took = started_at.elapsed().as_secs_f64();
        pieces += 1;
        slowest = slowest.max(took);
        total_time += took;
        let registry = since(&registry_before.0, &world.source.calls())
            + since(&registry_before.1, &world.destination.calls());
        let writes = world.store.faults.calls("create_tasks") - writes_before;
        let sends = world.queue.faults.calls("send_transfer") - sends_before;
        let sent = world.queue.take_transfer().len();
        messages += sent;
        // A piece asks about its own repositories only: one catalog page, a tag list each,
        // a HEAD at the source and one at the destination per tag.
        assert!(
            registry as usize <= 1 + PAGE * (1 + 2 * tags),
            "piece {pieces}: {registry} registry requests"
        );
        // Tasks in batches of up to 98, a repository's together (so at least 98 - tags + 1 in
        // a batch but the last), their messages with them.
        let batches = sent.div_ceil(98usize.saturating_sub(tags).max(1) + 1) + 1;
        assert!(
            writes as usize <= batches,
            "piece {pieces}: {writes} task writes"
        );
        assert!(sends as usize <= batches, "piece {pieces}: {sends} sends");
        (most_registry, most_writes, most_sends) = (
            most_registry.max(registry),
            most_writes.max(writes),
            most_sends.max(sends),
        );
        next = world.queue.take_list().pop();
    }
    let artifacts = repositories * tags;
    assert_eq!(pieces, repositories.div_ceil(PAGE));
    assert_eq!(messages, artifacts, "one transfer message per artifact");
    assert_eq!(world.tasks(first.execution_id).len(), artifacts);
    assert_eq!(world.store.listings_pending(first.execution_id), Some(0));
    // Registry requests one after another at 20 ms, 8 at once (the lister's parallelism).
    let modelled = f64::from(most_registry) * 0.020 / 8.0;
    println!(
        "listing {repositories} x {tags} = {artifacts} artifacts: {pieces} pieces of {PAGE} \
         repositories; per piece at most {most_registry} registry requests, {most_writes} task \
         writes (up to 98 tasks each, a repository's together), {most_sends} message batches; in memory {total_time:.1} s \
         in all, {slowest:.2} s for the slowest piece; at 20 ms a registry request, 8 at once, \
         {modelled:.0} s a piece (an invocation has 900 s)"
    );
}
