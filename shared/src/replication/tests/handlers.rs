//! `prepare_replication` handlers: kept in their policy, called before any task is written,
//! and deciding by their answer; namespace visibility and bypass.

use super::list::{fleet, started};
use super::*;
use crate::model::handler::PREPARE_REPLICATION;
use crate::model::{ExecutionStatus, ReplicationHandler};
use crate::replication::handlers::{
    add_handler, delete_handler, get_handler, list_handlers, update_handler, HandlerRefused,
};

fn handler(url: &str, abort: &[u16]) -> ReplicationHandler {
    ReplicationHandler {
        events: PREPARE_REPLICATION.into(),
        handler_url: url.into(),
        abort_code: abort.to_vec(),
        ..ReplicationHandler::default()
    }
}

/// A policy of `team/**` with one handler aborting on 404, 403 and 500.
async fn guarded(world: &World, fields: serde_json::Value) -> ReplicationPolicy {
    let mut body = serde_json::json!({
        "filters": [{"type": "name", "value": "team/**"}],
        "dest_namespace": "cloud",
        "handlers": [handler("/v2/manage/namespaces", &[404, 403, 500])],
    });
    if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
        body.extend(fields.clone());
    }
    world.policy(body).await
}

#[tokio::test]
async fn handlers_are_added_changed_and_deleted_in_their_policy() {
    let world = World::new().await;
    let policy = world.policy(serde_json::json!({})).await.id;
    let store = world.store.as_ref();
    let first = add_handler(store, policy, &handler("/a", &[403]))
        .await
        .expect("added");
    let second = add_handler(store, policy, &handler("https://x.example/b", &[]))
        .await
        .expect("added");
    assert_eq!((first.id, second.id), (1, 2));
    update_handler(store, policy, 1, &handler("/c", &[]))
        .await
        .expect("updated");
    let read = get_handler(store, policy, 1).await.expect("read");
    assert_eq!((read.id, read.handler_url.as_str()), (1, "/c"));
    delete_handler(store, policy, 1).await.expect("deleted");
    let left = list_handlers(store, policy).await.expect("listed");
    assert_eq!(left.iter().map(|h| h.id).collect::<Vec<_>>(), vec![2]);
    assert!(matches!(
        delete_handler(store, policy, 1).await,
        Err(HandlerRefused::NotFound { handler_id: 1, .. })
    ));
    assert!(matches!(
        update_handler(store, policy, 9, &handler("/c", &[])).await,
        Err(HandlerRefused::NotFound { handler_id: 9, .. })
    ));
    assert!(matches!(
        add_handler(store, policy, &handler("no-slash", &[])).await,
        Err(HandlerRefused::Invalid(e)) if e.field == "handler_url"
    ));
    // A policy's update keeps its handlers; a create starts without.
    let stored = world.store.get_policy(policy).await.expect("policy");
    let updated = crate::replication::policies::update_policy(
        store,
        world.schedules.as_ref(),
        policy,
        &ReplicationPolicy {
            description: "changed".into(),
            handlers: Vec::new(),
            ..stored.clone()
        },
    )
    .await
    .expect("updated");
    assert_eq!(updated.handlers.len(), 1);
    let copy = crate::replication::policies::create_policy(
        store,
        world.schedules.as_ref(),
        &ReplicationPolicy {
            name: "copy".into(),
            ..updated
        },
    )
    .await
    .expect("created");
    assert!(copy.handlers.is_empty());
}

#[tokio::test]
async fn an_abort_code_fails_the_execution_before_any_task_or_namespace() {
    let world = World::new().await;
    fleet(&world);
    let namespaces = world.registries.add_namespaces(2);
    world.destination.answer_handlers(&[403]);
    let policy = guarded(&world, serde_json::json!({})).await;
    let message = started(&world, policy.id).await;
    world.list(&message).await;
    let execution = world.execution(message.execution_id).await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert!(
        execution.status_text.contains("aborted the replication")
            && execution.status_text.contains("403")
            && execution.status_text.contains("answer 403"),
        "{}",
        execution.status_text
    );
    assert!(world.tasks(message.execution_id).is_empty());
    assert!(world.queue.take_transfer().is_empty());
    assert!(namespaces.made().is_empty());
    assert_eq!(
        world.destination.handler_calls().len(),
        1,
        "an abort is not asked again"
    );
}

#[tokio::test]
async fn a_2xx_lets_it_go_on_with_the_seeds_body_once_per_execution() {
    let world = World::new().await;
    fleet(&world);
    world.registries.add_namespaces(2);
    world.destination.answer_handlers(&[201]);
    let policy = guarded(&world, serde_json::json!({"target_project_public": true})).await;
    let message = started(&world, policy.id).await;
    world.list(&message).await;
    assert_eq!(world.tasks(message.execution_id).len(), 3);
    let calls = world.destination.handler_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "/v2/manage/namespaces");
    let body: serde_json::Value = serde_json::from_slice(&calls[0].1).expect("json");
    assert_eq!(body["events"], "prepare_replication");
    assert_eq!(body["replicate_policy_name"], policy.name.as_str());
    assert_eq!(body["source_project"], "team");
    assert_eq!(body["target_project"], "cloud");
    assert_eq!(body["target_project_public"], "true");
    assert_eq!(body["trigger"]["kind"], "Manual");
    assert_eq!(body["execution_id"], message.execution_id);

    // The same message again (the first delivery's answer lost): the tasks are there, the
    // handler is not asked again and nothing is written twice.
    world.list(&message).await;
    assert_eq!(world.destination.handler_calls().len(), 1);
    assert_eq!(world.tasks(message.execution_id).len(), 3);
}

#[tokio::test]
async fn other_answers_are_asked_again_then_fail_the_execution_saying_so() {
    let world = World::new().await;
    fleet(&world);
    world.destination.answer_handlers(&[503, 200]);
    let healed = guarded(&world, serde_json::json!({})).await;
    let message = started(&world, healed.id).await;
    world.list(&message).await;
    assert_eq!(world.destination.handler_calls().len(), 2);
    assert_eq!(world.tasks(message.execution_id).len(), 3);

    world.destination.answer_handlers(&[503]);
    let broken = guarded(&world, serde_json::json!({"name": "broken"})).await;
    let message = started(&world, broken.id).await;
    world.list(&message).await;
    let execution = world.execution(message.execution_id).await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert!(
        execution.status_text.contains("answered 503")
            && execution.status_text.contains("after 3 attempts"),
        "{}",
        execution.status_text
    );
    assert_eq!(world.destination.handler_calls().len(), 2 + 3);
    assert!(world.tasks(message.execution_id).is_empty());
}

#[tokio::test]
async fn namespaces_are_made_public_when_asked_and_not_at_all_when_bypassed() {
    let world = World::new().await;
    fleet(&world);
    let namespaces = world.registries.add_namespaces(2);
    let public = world
        .policy(
            serde_json::json!({"filters": [{"type": "name", "value": "team/**"}],
                                   "target_project_public": true}),
        )
        .await;
    world.list(&started(&world, public.id).await).await;
    assert_eq!(namespaces.public(), vec!["team"]);

    let bypassed = world
        .policy(
            serde_json::json!({"filters": [{"type": "name", "value": "other/**"}],
                                   "bypass_namespace_management": true}),
        )
        .await;
    let message = started(&world, bypassed.id).await;
    world.list(&message).await;
    assert_eq!(namespaces.made(), vec!["team"], "other was never made");
    assert_eq!(world.tasks(message.execution_id).len(), 1);
}
