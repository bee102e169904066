use super::World;
use crate::model::{ExecutionStatus, TriggerType};
use crate::ports::logs::TaskLogSink;
use crate::ports::store::{ExecutionStore, Launch};
use crate::replication::sweep::sweep_executions;

#[tokio::test]
async fn executions_beyond_the_newest_kept_go_with_their_logs_and_running_ones_stay() {
    let world = World::new().await;
    let policy = world.policy(serde_json::json!({})).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let execution = world
            .store
            .create_execution(policy.id, TriggerType::Manual, 0, &Launch::Listing)
            .await
            .expect("execution");
        ids.push(execution.id);
    }
    // The oldest stays running; the others end.
    for id in &ids[1..] {
        world
            .store
            .end_execution(*id, ExecutionStatus::Succeed, "")
            .await
            .expect("ended");
    }
    world
        .logs
        .append(ids[1], 1, "00000-00001", &["old line".into()])
        .await
        .expect("log");
    let swept = sweep_executions(world.store.as_ref(), world.logs.as_ref(), policy.id, 2)
        .await
        .expect("swept");
    assert_eq!(swept, 2, "the 2nd and 3rd oldest");
    for (id, kept) in ids.iter().zip([true, false, false, true, true]) {
        assert_eq!(
            world.store.get_execution(*id).await.is_ok(),
            kept,
            "execution {id}"
        );
    }
    assert_eq!(world.logs.read(ids[1], 1).await.expect("read"), "");
    // Sweeping again finds nothing more to do.
    assert_eq!(
        sweep_executions(world.store.as_ref(), world.logs.as_ref(), policy.id, 2)
            .await
            .expect("swept"),
        0
    );
}

#[tokio::test]
async fn a_sweep_the_store_interrupts_is_finished_by_the_next_one() {
    let world = World::new().await;
    let policy = world.policy(serde_json::json!({})).await;
    for _ in 0..3 {
        let execution = world
            .store
            .create_execution(policy.id, TriggerType::Manual, 0, &Launch::Listing)
            .await
            .expect("execution");
        world
            .store
            .end_execution(execution.id, ExecutionStatus::Failed, "")
            .await
            .expect("ended");
    }
    world.store.faults.fail(
        "delete_execution",
        1,
        crate::ports::fakes::Injected::Transient,
    );
    assert!(
        sweep_executions(world.store.as_ref(), world.logs.as_ref(), policy.id, 1)
            .await
            .is_err()
    );
    let swept = sweep_executions(world.store.as_ref(), world.logs.as_ref(), policy.id, 1)
        .await
        .expect("swept");
    assert_eq!(swept, 2);
    let left = world
        .store
        .list_executions(Some(policy.id), None, 10)
        .await
        .expect("listed");
    assert_eq!(left.items.len(), 1);
}
