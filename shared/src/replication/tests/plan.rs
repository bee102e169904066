//! A plan (dry run) lists and filters as the real execution, says what each artifact would
//! come to, writes nothing at the destination; the real execution then does what it said.

use serde_json::json;

use super::World;
use crate::model::{ExecutionStatus, Task, TaskStatus};
use crate::ports::store::ExecutionStore;

/// What a task came to, in the words plan and real execution share: copy, overwrite, skip.
fn outcome(task: &Task) -> (String, &'static str) {
    let text = task.status_text.as_str();
    let kind = if text.starts_with("plan: copy")
        || (text.is_empty() && task.status == TaskStatus::Succeed)
    {
        "copy"
    } else if text.starts_with("plan: overwrite") {
        "overwrite"
    } else if text.contains("unchanged") {
        "unchanged"
    } else if text.contains("override is off") {
        "held"
    } else {
        "other"
    };
    (task.src_resource.clone(), kind)
}

fn outcomes(world: &World, execution_id: i64) -> Vec<(String, &'static str)> {
    let mut all: Vec<_> = world.tasks(execution_id).iter().map(outcome).collect();
    all.sort();
    all
}

#[tokio::test]
async fn a_plan_says_what_the_real_execution_then_does_and_writes_nothing() {
    let world = World::new().await;
    world.source.push_image("team/new", "1.0", &[b"new"]);
    world.source.push_image("team/same", "1.0", &[b"same"]);
    world.destination.push_image("team/same", "1.0", &[b"same"]);
    world.source.push_image("team/held", "1.0", &[b"source's"]);
    world
        .destination
        .push_image("team/held", "1.0", &[b"destination's"]);
    world
        .source
        .push_image("team/other", "1.0", &[b"filtered out"]);
    let policy = world
        .policy(json!({"override": false, "filters": [
            {"type": "name", "value": "team/{new,same,held}"},
        ]}))
        .await;
    let started = crate::replication::start::start_plan(
        world.store.as_ref(),
        world.queue.as_ref(),
        policy.id,
    )
    .await
    .expect("a plan");
    let crate::replication::start::Started::Running(plan) = started else {
        panic!("not running: {started:?}");
    };
    assert!(plan.dry_run);
    let lister = world.list_worker(100);
    for message in world.queue.take_list() {
        lister
            .handle(&super::inbound(&message, 1), None)
            .await
            .expect("listed");
    }
    assert!(
        world.queue.take_transfer().is_empty(),
        "a plan copies nothing"
    );
    let planned = world.store.get_execution(plan.id).await.expect("plan");
    assert_eq!(planned.status, ExecutionStatus::Succeed);
    assert!(planned.dry_run);
    assert_eq!(
        outcomes(&world, plan.id),
        vec![
            ("team/held:1.0".to_string(), "held"),
            ("team/new:1.0".to_string(), "copy"),
            ("team/same:1.0".to_string(), "unchanged"),
        ]
    );
    assert_eq!(
        world.destination.tagged("team/new", "1.0"),
        None,
        "nothing written"
    );

    let real = world.listed(&policy).await;
    world.transfer_all().await;
    assert!(!world.execution(real).await.dry_run);
    assert_eq!(
        outcomes(&world, real),
        outcomes(&world, plan.id),
        "task by task"
    );
    assert!(world.destination.tagged("team/new", "1.0").is_some());
}
