//! Auto-sync on pull in DynamoDB: the policy's option round-trips, and a pull's window claim
//! is won by exactly one of many at once.

use super::*;

#[tokio::test]
async fn auto_sync_round_trips_and_one_of_many_pulls_wins_the_claim() {
    let (_stack, a) = resources_only("pullsync").await;
    let src = a.store.create_registry(&registry("up")).await.expect("src");
    let dst = a
        .store
        .create_registry(&registry("home"))
        .await
        .expect("dst");
    let mut on = policy("on-pull", src.id, dst.id);
    on.dest_namespace = "mirror".into();
    on.dest_namespace_replace_count = 0;
    on.auto_sync = ferry::model::AutoSync {
        enabled: true,
        public: true,
        on_pull_event: true,
    };
    on.validate().expect("valid");
    let stored = a.store.create_policy(&on).await.expect("create");
    let read = a.store.get_policy(stored.id).await.expect("read");
    assert_eq!(read.auto_sync, on.auto_sync);
    let off = a
        .store
        .create_policy(&policy("plain", src.id, dst.id))
        .await
        .expect("plain");
    assert!(a
        .store
        .get_policy(off.id)
        .await
        .expect("read")
        .auto_sync
        .is_off());

    let key = "pull#1#team/app#v1#29000000";
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
    let claims = (0..6).map(|_| {
        let store = Arc::clone(&a.store);
        async move { store.claim_once_until(key, expires).await.expect("claim") }
    });
    let won = futures::future::join_all(claims).await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    a.store.release_claim(key).await.expect("release");
    assert!(a.store.claim_once_until(key, expires).await.expect("again"));
}
