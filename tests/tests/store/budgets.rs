//! The budgets every process shares, in DynamoDB (DynamoDB Local: its conditions are the real
//! ones): slots taken by conditional puts are never more than their number, whoever races for
//! them; a slot whose lease ended is free again; a window never grants past its limit. And the
//! health monitor's record touches the status and health only.

use super::*;
use ferry::model::{RegistryHealth, RegistryStatus};
use ferry::ports::budget::SharedBudgets;

#[tokio::test(flavor = "multi_thread")]
async fn racing_takers_never_hold_more_slots_than_there_are_and_ended_leases_free_theirs() {
    let (_stack, a) = resources_only("slots").await;
    let budgets: Arc<dyn SharedBudgets> = a.store.clone();
    let far = ferry::model::time_format::now_millis() + 60_000;
    // Twenty takers at once for three slots.
    let takes = (0..20).map(|i| {
        let budgets = Arc::clone(&budgets);
        async move {
            let holder = format!("holder-{i}");
            let slot = budgets
                .take_slot("blobs#7", 3, &holder, far)
                .await
                .expect("asked");
            slot.map(|s| (s, holder))
        }
    });
    let taken: Vec<(u32, String)> = futures::future::join_all(takes)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(taken.len(), 3, "{taken:?}");
    let slots: HashSet<u32> = taken.iter().map(|(s, _)| *s).collect();
    assert_eq!(slots, HashSet::from([0, 1, 2]));
    // Another key has slots of its own.
    assert!(budgets
        .take_slot("blobs#8", 1, "other", far)
        .await
        .expect("asked")
        .is_some());
    // Given back by someone else: nothing happens; by its holder: free.
    let (slot, holder) = &taken[0];
    budgets
        .give_back_slot("blobs#7", *slot, "not-the-holder")
        .await
        .expect("asked");
    assert_eq!(
        budgets
            .take_slot("blobs#7", 3, "late", far)
            .await
            .expect("asked"),
        None
    );
    budgets
        .give_back_slot("blobs#7", *slot, holder)
        .await
        .expect("asked");
    assert_eq!(
        budgets
            .take_slot("blobs#7", 3, "late", far)
            .await
            .expect("asked"),
        Some(*slot)
    );
    // A holder that died: its lease ends, and the slot is free again.
    let past = ferry::model::time_format::now_millis() - 1;
    assert!(budgets
        .take_slot("blobs#9", 1, "dies", past)
        .await
        .expect("asked")
        .is_some());
    assert!(budgets
        .take_slot("blobs#9", 1, "next", far)
        .await
        .expect("asked")
        .is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_grants_no_more_than_its_rate_to_racing_processes() {
    let (_stack, a) = resources_only("rates").await;
    let budgets: Arc<dyn SharedBudgets> = a.store.clone();
    let second = 1_900_000_000;
    let grants = (0..12).map(|_| {
        let budgets = Arc::clone(&budgets);
        async move {
            budgets
                .grant_requests("requests#https://hub", second, 10, 2)
                .await
                .expect("asked")
        }
    });
    let granted: u32 = futures::future::join_all(grants).await.into_iter().sum();
    assert_eq!(granted, 10, "ten a second, however many ask");
    assert_eq!(
        budgets
            .grant_requests("requests#https://hub", second + 1, 10, 4)
            .await
            .expect("asked"),
        4,
        "the next second is a new window"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recording_health_changes_the_status_and_health_and_nothing_else() {
    let (_stack, a) = resources_only("health").await;
    let created = a
        .store
        .create_registry(&registry("checked"))
        .await
        .expect("create");
    let health = RegistryHealth::failed("the registry at http://127.0.0.1:5001 is down".into());
    a.store
        .record_health(created.id, RegistryStatus::Unhealthy, &health)
        .await
        .expect("recorded");
    let read = a
        .store
        .get_registry_with_secret(created.id)
        .await
        .expect("read");
    assert_eq!(read.status, RegistryStatus::Unhealthy);
    assert_eq!(
        read.health.as_ref().and_then(|h| h.reason.clone()),
        health.reason
    );
    assert_eq!(read.update_time, created.update_time, "not an edit");
    assert_eq!(
        read.credential.and_then(|c| c.access_secret).as_deref(),
        Some("plain-secret-value"),
        "the secret is untouched"
    );
    // An edit after it still applies (the version did not move under it).
    let renamed = a
        .store
        .update_registry(created.id, &|r: &mut Registry| {
            r.description = "edited".into();
            Ok(())
        })
        .await
        .expect("updated");
    assert_eq!(renamed.description, "edited");
    assert_eq!(renamed.status, RegistryStatus::Unhealthy);
    assert!(matches!(
        a.store
            .record_health(9_999, RegistryStatus::Healthy, &RegistryHealth::answered())
            .await,
        Err(StoreError::NotFound { .. })
    ));
}
