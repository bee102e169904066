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
    let plan_id = world.planned(&policy).await;
    assert!(
        world.queue.take_transfer().is_empty(),
        "a plan copies nothing"
    );
    let planned = world.store.get_execution(plan_id).await.expect("plan");
    assert_eq!(planned.status, ExecutionStatus::Succeed);
    assert!(planned.dry_run);
    assert_eq!(
        outcomes(&world, plan_id),
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
        outcomes(&world, plan_id),
        "task by task"
    );
    assert!(world.destination.tagged("team/new", "1.0").is_some());
}
