use super::*;
use crate::model::Filter;

fn policy(id: i64, namespace: &str, count: i8, filters: serde_json::Value) -> ReplicationPolicy {
    ReplicationPolicy {
        id,
        name: format!("p{id}"),
        dest_namespace: namespace.into(),
        dest_namespace_replace_count: count,
        filters: serde_json::from_value::<Vec<Filter>>(filters).expect("filters"),
        auto_sync: AutoSync {
            enabled: true,
            ..AutoSync::default()
        },
        ..ReplicationPolicy::default()
    }
}

fn repo(name: &str) -> Repository {
    Repository::parse(name).expect("repository")
}

fn source(policy: &ReplicationPolicy, destination: &str) -> Result<String, Unmapped> {
    policy.source_of(&repo(destination)).map(|r| r.to_string())
}

#[test]
fn pulled_names_lead_back_to_their_source_for_each_naming_rule() {
    // No namespace, nothing replaced: the same name.
    let same = policy(1, "", -1, serde_json::json!([]));
    assert_eq!(
        source(&same, "library/nginx").as_deref(),
        Ok("library/nginx")
    );
    // A namespace, nothing replaced: the namespace goes.
    let prefixed = policy(2, "mirror", 0, serde_json::json!([]));
    assert_eq!(
        source(&prefixed, "mirror/library/nginx").as_deref(),
        Ok("library/nginx")
    );
    assert!(matches!(
        source(&prefixed, "other/library/nginx"),
        Err(Unmapped::OutsideNamespace(_))
    ));
    assert!(matches!(
        source(&prefixed, "mirror"),
        Err(Unmapped::OutsideNamespace(_))
    ));
    // One component replaced: the name filter says which.
    let replaced = policy(
        3,
        "mirror",
        1,
        serde_json::json!([{"type": "name", "value": "library/**"}]),
    );
    assert_eq!(
        source(&replaced, "mirror/nginx").as_deref(),
        Ok("library/nginx")
    );
    assert_eq!(
        source(&replaced, "mirror/a/b").as_deref(),
        Ok("library/a/b")
    );
    // Flattened: the filter fixes all but the last component.
    let flat = policy(
        4,
        "mirror",
        -1,
        serde_json::json!([{"type": "name", "value": "team/apps/*"}]),
    );
    assert_eq!(source(&flat, "mirror/web").as_deref(), Ok("team/apps/web"));
    assert!(matches!(
        source(&flat, "mirror/a/web"),
        Err(Unmapped::NoRoundTrip { .. })
    ));
}

#[test]
fn the_name_filter_decides_what_a_name_may_be() {
    let only_library = policy(
        1,
        "mirror",
        0,
        serde_json::json!([{"type": "name", "value": "library/*"}]),
    );
    assert_eq!(
        source(&only_library, "mirror/library/nginx").as_deref(),
        Ok("library/nginx")
    );
    assert!(matches!(
        source(&only_library, "mirror/team/app"),
        Err(Unmapped::Filtered { .. })
    ));
    let tags = policy(
        2,
        "",
        0,
        serde_json::json!([{"type": "tag", "value": "v*"}, {"type": "tag", "value": "*-rc", "decoration": "excludes"}]),
    );
    let reference = |r: &str| Reference::parse(r).expect("reference");
    assert!(tags.syncs_reference(&reference("v1")));
    assert!(!tags.syncs_reference(&reference("latest")));
    assert!(!tags.syncs_reference(&reference("v2-rc")));
    assert!(tags.syncs_reference(&reference(
        "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    )));
}

#[test]
fn validation_refuses_names_that_cannot_lead_back() {
    let refused = |p: ReplicationPolicy| validate_auto_sync(&p).expect_err("refused");
    let error = refused(policy(1, "mirror", 1, serde_json::json!([])));
    assert_eq!(error.field, "auto_sync.enabled");
    assert!(error.reason.contains("literally"), "{}", error.reason);
    let error = refused(policy(
        1,
        "mirror",
        -1,
        serde_json::json!([{"type": "name", "value": "team/**"}]),
    ));
    assert!(error.reason.contains("flattens"), "{}", error.reason);
    let error = refused(policy(
        1,
        "mirror",
        2,
        serde_json::json!([{"type": "name", "value": "team/*/**"}]),
    ));
    assert!(error.reason.contains("team/*/**"), "{}", error.reason);
    // The flags need `enabled`.
    let mut flags = policy(1, "", 0, serde_json::json!([]));
    flags.auto_sync = AutoSync {
        enabled: false,
        public: true,
        on_pull_event: false,
    };
    assert_eq!(refused(flags).field, "auto_sync.enabled");
    for fine in [
        policy(1, "", -1, serde_json::json!([])),
        policy(1, "mirror", 0, serde_json::json!([])),
        policy(
            1,
            "mirror",
            1,
            serde_json::json!([{"type": "name", "value": "library/**"}]),
        ),
        policy(
            1,
            "mirror",
            -1,
            serde_json::json!([{"type": "name", "value": "*"}]),
        ),
    ] {
        assert_eq!(validate_auto_sync(&fine), Ok(()), "{fine:?}");
    }
    // The policy's own validation asks the same.
    let mut whole = policy(1, "mirror", 1, serde_json::json!([]));
    whole.name = "whole".into();
    assert_eq!(
        whole.validate().expect_err("refused").field,
        "auto_sync.enabled"
    );
}

#[test]
fn the_most_specific_namespace_owns_a_name_then_the_lowest_id() {
    let mut broad = policy(1, "", -1, serde_json::json!([]));
    let specific = policy(7, "mirror", 0, serde_json::json!([]));
    let twin = policy(5, "mirror", 0, serde_json::json!([]));
    let mut off = policy(2, "mirror/library", 0, serde_json::json!([]));
    off.auto_sync.enabled = false;
    let mut disabled = policy(3, "mirror/library", 0, serde_json::json!([]));
    disabled.enabled = false;
    broad.dest_namespace = String::new();
    let policies = vec![broad, specific, twin, off, disabled];
    let owner = owner_of(&policies, &repo("mirror/library/nginx")).expect("owned");
    assert_eq!(owner.policy.id, 5);
    assert_eq!(owner.source.as_str(), "library/nginx");
    let reversed: Vec<_> = policies.iter().rev().cloned().collect();
    assert_eq!(
        owner_of(&reversed, &repo("mirror/library/nginx")).map(|o| o.policy.id),
        Some(5)
    );
    assert_eq!(
        owner_of(&policies, &repo("elsewhere/app")).map(|o| o.policy.id),
        Some(1)
    );
    assert!(owner_of(&policies[1..], &repo("elsewhere/app")).is_none());
}

#[test]
fn the_option_round_trips_and_old_policies_still_read() {
    let old: ReplicationPolicy =
        serde_json::from_value(serde_json::json!({"name": "old"})).expect("old policy");
    assert!(old.auto_sync.is_off());
    let shown = serde_json::to_value(&old).expect("json");
    assert!(shown.get("auto_sync").is_none(), "left out while off");
    let on: ReplicationPolicy = serde_json::from_value(
        serde_json::json!({"name": "on", "auto_sync": {"enabled": true, "public": true}}),
    )
    .expect("policy");
    assert_eq!(
        on.auto_sync,
        AutoSync {
            enabled: true,
            public: true,
            on_pull_event: false
        }
    );
    let again: ReplicationPolicy =
        serde_json::from_value(serde_json::to_value(&on).expect("json")).expect("again");
    assert_eq!(again.auto_sync, on.auto_sync);
}
