use super::*;
use crate::model::Registry;

fn name_filter(value: &str) -> Filter {
    Filter {
        kind: FilterType::Name,
        value: serde_json::Value::String(value.into()),
        decoration: None,
    }
}

fn excluding(value: &str) -> Filter {
    Filter {
        decoration: Some(Decoration::Excludes),
        ..name_filter(value)
    }
}

fn to(registry: i64) -> Option<Registry> {
    Some(Registry {
        id: registry,
        ..Registry::default()
    })
}

fn system(id: i64, name: &str, filter: &str, dest: i64) -> ReplicationPolicy {
    ReplicationPolicy {
        id,
        name: name.into(),
        src_registry: to(1),
        dest_registry: to(dest),
        filters: vec![name_filter(filter)],
        ..ReplicationPolicy::default()
    }
}

fn in_namespace(namespace: &str, dest: i64) -> ReplicationPolicy {
    let mut policy = ReplicationPolicy {
        name: format!("{namespace}-mirror"),
        scope: PolicyScope::Namespace,
        namespace: namespace.into(),
        src_registry: to(1),
        dest_registry: to(dest),
        ..ReplicationPolicy::default()
    };
    normalize_scope(&mut policy);
    policy
}

#[test]
fn name_patterns_select_a_namespace_when_their_first_component_can_match_it() {
    let selects = |pattern: &str, ns: &str| selects_namespace(&[name_filter(pattern)], ns);
    assert!(selects("{ns1,ns2}/**", "ns2"));
    assert!(selects("{ns1,ns2}/**", "ns1"));
    assert!(!selects("{ns1,ns2}/**", "ns3"));
    assert!(selects("ns2/app", "ns2"));
    assert!(!selects("ns2/app", "ns22"));
    assert!(selects("ns*/app", "ns22"));
    assert!(!selects("ns?/app", "ns22"));
    assert!(selects("[a-n]s2/*", "ns2"));
    assert!(!selects("[a-m]s2/*", "ns2"));
    // Across `/`, or a `/` hidden in alternatives: cannot be ruled out.
    assert!(selects("**", "ns2"));
    assert!(selects("**/app", "ns2"));
    assert!(selects("{ns1/a,ns2/b}", "ns2"));
    assert!(selects("", "ns2"));
    // One component only: no repository under `ns2/`.
    assert!(!selects("ns2", "ns2"));
    assert!(!selects("*", "ns2"));
    // Braces and brackets hide the split; an escape is not a split either.
    assert!(selects("{ns2,x}/a", "ns2"));
    assert!(!selects("{ns1,x}/a", "ns2"));
}

#[test]
fn no_name_filter_selects_everything_and_only_a_whole_exclusion_rules_out() {
    assert!(selects_namespace(&[], "ns2"));
    let tag_only = Filter {
        kind: FilterType::Tag,
        value: serde_json::Value::String("v*".into()),
        decoration: None,
    };
    assert!(selects_namespace(&[tag_only], "ns2"));
    assert!(!selects_namespace(&[excluding("ns2/**")], "ns2"));
    assert!(selects_namespace(&[excluding("ns2/internal/**")], "ns2"));
    assert!(selects_namespace(&[excluding("ns1/**")], "ns2"));
}

/// The seed's example: system policy 1 replicates ns1 and ns2 to R (into ns3); a namespace
/// policy of ns2 to R (into ns4) is refused, naming policy 1.
#[test]
fn a_namespace_policy_may_not_overlap_a_system_policy_to_the_same_registry() {
    let registry_r = 7;
    let mut policy_1 = system(1, "ns1-and-ns2", "{ns1,ns2}/**", registry_r);
    policy_1.dest_namespace = "ns3".into();
    let existing = vec![policy_1, system(2, "other", "ns9/**", registry_r)];
    let mut policy_2 = in_namespace("ns2", registry_r);
    policy_2.dest_namespace = "ns4".into();
    let conflict = overlapping_system_policy(&policy_2, &existing).map(|p| (p.id, p.name.clone()));
    assert_eq!(conflict, Some((1, "ns1-and-ns2".to_string())));
    assert_eq!(
        overlapping_system_policy(&in_namespace("ns5", registry_r), &existing),
        None
    );
    assert_eq!(
        overlapping_system_policy(&in_namespace("ns2", 8), &existing),
        None,
        "another destination registry"
    );
    // A system policy is never refused for overlapping: the rule binds namespace policies.
    assert_eq!(
        overlapping_system_policy(&system(3, "x", "ns2/**", registry_r), &existing),
        None
    );
    // Namespace policies do not conflict with each other.
    let namespaced = vec![in_namespace("ns2", registry_r)];
    assert_eq!(
        overlapping_system_policy(&in_namespace("ns2", registry_r), &namespaced),
        None
    );
}

#[test]
fn a_namespace_policy_is_kept_within_its_namespace() {
    let field = |policy: &ReplicationPolicy| validate_scope(policy).map_err(|e| e.field);
    let normalized = in_namespace("ns2", 2);
    assert_eq!(normalized.filters, vec![name_filter("ns2/**")]);
    assert_eq!(field(&normalized), Ok(()));
    assert_eq!(normalized.validate().map_err(|e| e.field), Ok(()));

    let mut outside = in_namespace("ns2", 2);
    outside.filters = vec![
        Filter {
            kind: FilterType::Tag,
            value: serde_json::Value::String("v*".into()),
            decoration: None,
        },
        name_filter("{ns2,ns3}/**"),
    ];
    assert_eq!(field(&outside), Err("filters[1].value".into()));
    outside.filters = vec![name_filter("ns22/**")];
    assert_eq!(field(&outside), Err("filters[0].value".into()));
    outside.filters = vec![name_filter("ns2/app")];
    assert_eq!(field(&outside), Ok(()));
    outside.filters = vec![excluding("ns2/internal/**")];
    assert_eq!(field(&outside), Err("filters[0].decoration".into()));

    let mut no_namespace = in_namespace("ns2", 2);
    no_namespace.namespace = String::new();
    assert_eq!(field(&no_namespace), Err("namespace".into()));
    for bad in ["ns2/sub", "NS2", "-x"] {
        let mut policy = in_namespace("ns2", 2);
        policy.namespace = bad.into();
        assert_eq!(field(&policy), Err("namespace".into()), "{bad}");
    }
    let mut system_with_namespace = system(1, "s", "ns2/**", 2);
    system_with_namespace.namespace = "ns2".into();
    assert_eq!(field(&system_with_namespace), Err("namespace".into()));
    assert_eq!(
        system_with_namespace.validate().map_err(|e| e.field),
        Err("namespace".into())
    );
}

#[test]
fn a_namespace_sees_its_policies_and_the_system_policies_that_refer_to_it() {
    let mine = in_namespace("ns2", 2);
    assert_eq!(namespace_access(&mine, "ns2"), NamespaceAccess::Manage);
    assert_eq!(namespace_access(&mine, "ns1"), NamespaceAccess::None);
    let both = system(1, "s", "{ns1,ns2}/**", 2);
    assert_eq!(namespace_access(&both, "ns2"), NamespaceAccess::ReadOnly);
    assert_eq!(namespace_access(&both, "ns5"), NamespaceAccess::None);
    assert!(namespace_may_write(&mine, "ns2").is_ok());
    assert!(namespace_may_write(&mine, "ns1").is_err_and(|why| why.contains("not of \"ns2\"")));
    assert!(namespace_may_write(&both, "ns2").is_err_and(|why| why.contains("system-scoped")));
}

#[test]
fn scope_is_snake_case_and_system_by_default() {
    let policy: ReplicationPolicy =
        serde_json::from_value(serde_json::json!({"name": "p"})).expect("policy");
    assert_eq!(policy.scope, PolicyScope::System);
    let shown = serde_json::to_value(&policy).expect("json");
    assert!(
        shown.get("scope").is_none(),
        "system is Harbor's shape: {shown}"
    );
    assert!(shown.get("namespace").is_none());
    let shown = serde_json::to_value(in_namespace("ns2", 2)).expect("json");
    assert_eq!(shown["scope"], "namespace");
    assert_eq!(shown["namespace"], "ns2");
    assert!(
        serde_json::from_value::<ReplicationPolicy>(serde_json::json!({"scope": "project"}))
            .is_err()
    );
}
