use super::World;
use crate::ports::store::PolicyStore;
use crate::replication::events::{parse_webhook, start_for_events};

#[tokio::test]
async fn a_push_starts_each_event_based_policy_it_concerns_once() {
    let world = World::new().await;
    let concerned = world
        .policy(serde_json::json!({"trigger": {"type": "event_based"}, "filters": [{"type": "name", "value": "team/**"}]}))
        .await;
    world
        .policy(serde_json::json!({"trigger": {"type": "event_based"}, "filters": [{"type": "name", "value": "other/**"}]}))
        .await;
    world.policy(serde_json::json!({})).await;
    let body = br#"{"events":[{"id":"e1","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"team/app","tag":"1.0"}}]}"#;
    let events = parse_webhook(body).expect("parsed");
    let policies = world
        .store
        .list_policies(None, 100)
        .await
        .expect("policies")
        .items;
    let started = start_for_events(
        world.store.as_ref(),
        world.queue.as_ref(),
        &policies,
        1,
        &events,
    )
    .await
    .expect("started");
    assert_eq!(started.len(), 1);
    let list = world.queue.take_list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].policy_id, concerned.id);
    assert_eq!(
        list[0].event.as_ref().map(|e| e.reference.as_str()),
        Some("1.0")
    );
    // The registry sends the same event again: nothing more starts.
    let again = start_for_events(
        world.store.as_ref(),
        world.queue.as_ref(),
        &policies,
        1,
        &events,
    )
    .await
    .expect("handled");
    assert!(again.is_empty());
    assert!(world.queue.take_list().is_empty());
    // An event from another registry concerns none of them.
    assert!(start_for_events(
        world.store.as_ref(),
        world.queue.as_ref(),
        &policies,
        2,
        &events
    )
    .await
    .expect("handled")
    .is_empty());
}
