use super::World;
use crate::model::{ExecutionStatus, ReplicationPolicy, TriggerType};
use crate::ports::fakes::Injected;
use crate::ports::store::{ExecutionStore, Launch, PolicyStore};
use crate::replication::policies::{
    create_policy, delete_policy, update_policy, with_home_registry, PolicyRefused,
};

fn scheduled(name: &str, cron: &str) -> ReplicationPolicy {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "src_registry": {"id": 1},
        "dest_registry": {"id": 2},
        "trigger": {"type": "scheduled", "trigger_settings": {"cron": cron}},
    }))
    .expect("policy")
}

#[tokio::test]
async fn a_scheduled_policy_gets_its_schedule_and_keeps_it_in_step() {
    let world = World::new().await;
    let policy = create_policy(
        world.store.as_ref(),
        world.schedules.as_ref(),
        &scheduled("nightly", "0 0 2 * * *"),
    )
    .await
    .expect("created");
    assert_eq!(
        world.schedules.of(policy.id),
        Some(("cron(0 2 * * ? *)".into(), true))
    );
    let mut disabled = policy.clone();
    disabled.enabled = false;
    update_policy(
        world.store.as_ref(),
        world.schedules.as_ref(),
        policy.id,
        &disabled,
    )
    .await
    .expect("updated");
    assert_eq!(
        world.schedules.of(policy.id),
        Some(("cron(0 2 * * ? *)".into(), false))
    );
    delete_policy(world.store.as_ref(), world.schedules.as_ref(), policy.id)
        .await
        .expect("deleted");
    assert_eq!(world.schedules.of(policy.id), None);
    assert!(world.store.get_policy(policy.id).await.is_err());
}

#[tokio::test]
async fn a_policy_whose_schedule_cannot_be_made_is_not_left_behind() {
    let world = World::new().await;
    world
        .schedules
        .faults
        .fail("put_schedule", 1, Injected::Transient);
    let refused = create_policy(
        world.store.as_ref(),
        world.schedules.as_ref(),
        &scheduled("nightly", "0 0 2 * * *"),
    )
    .await;
    assert!(
        matches!(refused, Err(PolicyRefused::Schedule { .. })),
        "{refused:?}"
    );
    let policies = world.store.list_policies(None, 10).await.expect("listed");
    assert!(policies.items.is_empty(), "the policy was taken back");
    // The scheduler is back: the same request goes through.
    create_policy(
        world.store.as_ref(),
        world.schedules.as_ref(),
        &scheduled("nightly", "0 0 2 * * *"),
    )
    .await
    .expect("created");
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_a_running_policy_is_not_deleted() {
    let world = World::new().await;
    let both_days = create_policy(
        world.store.as_ref(),
        world.schedules.as_ref(),
        &scheduled("x", "0 0 0 1 * 1"),
    )
    .await;
    match both_days {
        Err(PolicyRefused::Invalid(e)) => assert_eq!(e.field, "trigger.trigger_settings.cron"),
        other => panic!("{other:?}"),
    }
    let no_home = with_home_registry(ReplicationPolicy::default(), None).expect_err("no home");
    assert_eq!(no_home.field, "src_registry");
    let filled = with_home_registry(ReplicationPolicy::default(), Some(7)).expect("home");
    assert_eq!(
        (filled.src_registry_id(), filled.dest_registry_id()),
        (7, 7)
    );

    let policy = world.policy(serde_json::json!({})).await;
    let running = world
        .store
        .create_execution(policy.id, TriggerType::Manual, 1, &Launch::Listing)
        .await
        .expect("execution");
    let refused = delete_policy(world.store.as_ref(), world.schedules.as_ref(), policy.id).await;
    assert!(
        matches!(refused, Err(PolicyRefused::Running { execution_id, .. }) if execution_id == running.id)
    );
    world
        .store
        .end_execution(running.id, ExecutionStatus::Stopped, "")
        .await
        .expect("stopped");
    delete_policy(world.store.as_ref(), world.schedules.as_ref(), policy.id)
        .await
        .expect("deleted");
}

/// Seed 001's example through the use case and the in-memory store: a namespace policy of
/// ns2 to the registry a system policy already replicates ns1 and ns2 to is refused, naming
/// it; elsewhere it is stored, with the name filter of its namespace and its scope kept.
#[tokio::test]
async fn a_namespace_policy_overlapping_a_system_policy_is_refused() {
    let world = World::new().await;
    let (store, schedules) = (world.store.as_ref(), world.schedules.as_ref());
    let policy = |body: serde_json::Value| {
        with_home_registry(serde_json::from_value(body).expect("policy"), None).expect("sides")
    };
    let system = create_policy(
        store,
        schedules,
        &policy(serde_json::json!({
            "name": "policy-1", "src_registry": {"id": 1}, "dest_registry": {"id": 2},
            "dest_namespace": "ns3", "filters": [{"type": "name", "value": "{ns1,ns2}/**"}],
        })),
    )
    .await
    .expect("system policy");
    let namespaced = |ns: &str, dest: i64| {
        policy(serde_json::json!({
            "name": format!("{ns}-to-{dest}"), "src_registry": {"id": 3 - dest},
            "dest_registry": {"id": dest}, "dest_namespace": "ns4",
            "scope": "namespace", "namespace": ns,
        }))
    };
    match create_policy(store, schedules, &namespaced("ns2", 2)).await {
        Err(PolicyRefused::Overlaps {
            policy_id,
            policy_name,
            ..
        }) => assert_eq!((policy_id, policy_name.as_str()), (system.id, "policy-1")),
        other => panic!("not refused for overlapping: {other:?}"),
    }
    let ns5 = create_policy(store, schedules, &namespaced("ns5", 2))
        .await
        .expect("ns5 overlaps nothing");
    let stored = store.get_policy(ns5.id).await.expect("stored");
    assert_eq!(stored.namespace, "ns5");
    assert_eq!(stored.filters[0].value, "ns5/**");
    create_policy(store, schedules, &namespaced("ns2", 1))
        .await
        .expect("another destination registry");
    // An update into the overlap is refused the same way.
    let mut moved = namespaced("ns5", 2);
    moved.namespace = "ns1".into();
    moved.filters = vec![];
    moved.normalize_scope();
    assert!(matches!(
        update_policy(store, schedules, ns5.id, &moved).await,
        Err(PolicyRefused::Overlaps { .. })
    ));
}
