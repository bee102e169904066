use proptest::prelude::*;
use serde_json::json;

use super::*;

fn roundtrip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let text = serde_json::to_string(value).expect("serialize");
    serde_json::from_str(&text).expect("deserialize")
}

#[test]
fn registry_reads_harbor_json_and_writes_it_back() {
    let body = json!({
        "id": 3, "name": "hub", "description": "d", "type": "docker-hub",
        "url": "https://registry-1.docker.io",
        "credential": {"type": "basic", "access_key": "u", "access_secret": "p"},
        "insecure": true, "status": "healthy",
        "creation_time": "2024-01-02T03:04:05.123Z", "update_time": "2024-01-02T03:04:05Z",
        "unknown_field": "ignored as Harbor does"
    });
    let registry: Registry = serde_json::from_value(body).expect("parse");
    assert_eq!(registry.kind, Some(RegistryType::DockerHub));
    assert_eq!(registry.status, RegistryStatus::Healthy);
    assert_eq!(roundtrip(&registry), registry);
    let out = serde_json::to_value(registry.masked()).expect("json");
    assert_eq!(out["credential"]["access_secret"], SECRET_MASK);
    assert_eq!(out["type"], "docker-hub");
    assert_eq!(out["creation_time"], "2024-01-02T03:04:05.123Z");
}

#[test]
fn every_registry_type_round_trips_with_harbors_spelling() {
    for kind in RegistryType::ALL {
        let text = serde_json::to_string(&kind).expect("json");
        assert_eq!(text, format!("\"{}\"", kind.as_str()));
        assert_eq!(
            serde_json::from_str::<RegistryType>(&text).expect("parse"),
            kind
        );
    }
    assert!(serde_json::from_str::<RegistryType>("\"nexus\"").is_err());
}

#[test]
fn registry_validation_names_the_field() {
    let ok = Registry {
        name: "src".into(),
        kind: Some(RegistryType::DockerRegistry),
        url: "http://127.0.0.1:5001".into(),
        ..Registry::default()
    };
    assert_eq!(ok.validate(), Ok(()));
    let cases: Vec<(Registry, &str)> = vec![
        (
            Registry {
                name: " ".into(),
                ..ok.clone()
            },
            "name",
        ),
        (
            Registry {
                kind: None,
                ..ok.clone()
            },
            "type",
        ),
        (
            Registry {
                url: "ftp://host".into(),
                ..ok.clone()
            },
            "url",
        ),
        (
            Registry {
                url: "not a url".into(),
                ..ok.clone()
            },
            "url",
        ),
        (
            Registry {
                url: "".into(),
                ..ok.clone()
            },
            "url",
        ),
        (
            Registry {
                credential: Some(Credential {
                    access_key: "u".into(),
                    ..Credential::default()
                }),
                ..ok.clone()
            },
            "credential.access_secret",
        ),
        (
            Registry {
                ca_certificate: Some("junk".into()),
                ..ok.clone()
            },
            "ca_certificate",
        ),
    ];
    for (registry, field) in cases {
        let err = registry.validate().expect_err(field);
        assert_eq!(err.field, field, "{err}");
        assert!(!err.reason.is_empty());
    }
}

fn valid_policy() -> ReplicationPolicy {
    serde_json::from_value(json!({
        "name": "mirror",
        "src_registry": {"id": 1},
        "dest_registry": {"id": 2},
        "dest_namespace": "mirror/team",
        "dest_namespace_replace_count": 1,
        "trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 0 */2 * * *"}},
        "filters": [
            {"type": "name", "value": "library/**"},
            {"type": "tag", "value": "v{1,2}.*", "decoration": "excludes"},
            {"type": "label", "value": ["prod"]},
            {"type": "resource", "value": "image"}
        ],
        "deletion": true,
        "override": true,
        "speed": 1024,
        "copy_by_chunk": true,
        "single_active_replication": true
    }))
    .expect("parse")
}

#[test]
fn policy_reads_harbor_json_and_honours_both_deletion_names() {
    let policy = valid_policy();
    assert_eq!(policy.validate(), Ok(()));
    assert!(
        policy.replicates_deletion(),
        "the old `deletion` alias counts"
    );
    assert!(policy.override_);
    assert!(policy.enabled, "enabled defaults to true");
    assert_eq!(policy.src_registry_id(), 1);
    assert_eq!(policy.trigger_type(), TriggerType::Scheduled);
    assert_eq!(policy.filters[1].decoration(), Decoration::Excludes);
    assert_eq!(roundtrip(&policy), policy);
    let out = serde_json::to_value(&policy).expect("json");
    assert_eq!(out["override"], true);
    assert_eq!(out["trigger"]["type"], "scheduled");
}

#[test]
fn policy_validation_names_the_field() {
    let ok = valid_policy();
    let mut cases: Vec<(ReplicationPolicy, &str)> = vec![
        (
            ReplicationPolicy {
                name: String::new(),
                ..ok.clone()
            },
            "name",
        ),
        (
            ReplicationPolicy {
                dest_namespace: "Upper/Case".into(),
                ..ok.clone()
            },
            "dest_namespace",
        ),
        (
            ReplicationPolicy {
                dest_namespace: "a//b".into(),
                ..ok.clone()
            },
            "dest_namespace",
        ),
        (
            ReplicationPolicy {
                dest_namespace_replace_count: -2,
                ..ok.clone()
            },
            "dest_namespace_replace_count",
        ),
        (
            ReplicationPolicy {
                speed: -5,
                ..ok.clone()
            },
            "speed",
        ),
    ];
    let mut same = ok.clone();
    same.dest_registry = same.src_registry.clone();
    cases.push((same, "dest_registry.id"));
    for cron in [
        "0 0 * * *",
        "* 5 * * * *",
        "0 * * * * *",
        "0 0 25 * * *",
        "0 0 0 32 * *",
    ] {
        let mut p = ok.clone();
        p.trigger = Some(Trigger {
            kind: TriggerType::Scheduled,
            trigger_settings: Some(TriggerSettings { cron: cron.into() }),
        });
        cases.push((p, "trigger.trigger_settings.cron"));
    }
    let mut no_cron = ok.clone();
    no_cron.trigger = Some(Trigger {
        kind: TriggerType::Scheduled,
        trigger_settings: None,
    });
    cases.push((no_cron, "trigger.trigger_settings.cron"));
    for (i, (kind, value)) in [
        (FilterType::Name, json!("[a-")),
        (FilterType::Tag, json!(42)),
        (FilterType::Resource, json!("not a type!")),
        (FilterType::Label, json!("prod")),
    ]
    .into_iter()
    .enumerate()
    {
        let mut p = ok.clone();
        p.filters = vec![Filter {
            kind,
            value,
            decoration: None,
        }];
        cases.push((p, ["filters[0].value"; 4][i]));
    }
    for (policy, field) in cases {
        let err = policy.validate().expect_err(field);
        assert_eq!(err.field, field, "{err}");
    }
    let mut too_many = ok.clone();
    too_many.filters = vec![Filter {
        kind: FilterType::Name,
        value: json!("a/b"),
        decoration: None,
    }];
    too_many.dest_namespace_replace_count = 2;
    assert_eq!(
        too_many.validate().unwrap_err().field,
        "dest_namespace_replace_count"
    );
    too_many.dest_namespace_replace_count = 1;
    assert_eq!(too_many.validate(), Ok(()));
    let unknown_filter = serde_json::from_value::<ReplicationPolicy>(json!({
        "name": "x", "filters": [{"type": "size", "value": "1"}]
    }));
    assert!(unknown_filter
        .unwrap_err()
        .to_string()
        .contains("unknown variant"));
}

#[test]
fn patterns_follow_doublestar() {
    let m = |p: &str, s: &str| filters::compile_pattern(p).expect("compiles").is_match(s);
    assert!(m("library/*", "library/nginx"));
    assert!(!m("library/*", "library/a/nginx"));
    assert!(m("library/**", "library/a/nginx"));
    assert!(m("v1.?", "v1.2"));
    assert!(!m("a?c", "a/c"));
    assert!(m("{nginx,redis}", "redis"));
    assert!(m("[a-c]*", "busybox"));
    assert!(!m("nginx", "library/nginx"), "the whole string must match");
    assert!(m("", "anything/at/all"));
}

#[test]
fn execution_status_follows_harbors_aggregation() {
    use ExecutionStatus::*;
    assert_eq!(ExecutionStatus::aggregate(1, 5, 5), InProgress);
    assert_eq!(ExecutionStatus::aggregate(0, 1, 5), Failed);
    assert_eq!(ExecutionStatus::aggregate(0, 0, 1), Stopped);
    assert_eq!(ExecutionStatus::aggregate(0, 0, 0), Succeed);
}

#[test]
fn a_task_goes_pending_running_then_ends_once_and_counts_once() {
    use TaskStatus::*;
    let start = Pending.change_to(InProgress).expect("starts");
    assert!(start.starts && start.ends.is_none());
    let done = InProgress.change_to(Succeed).expect("ends");
    assert_eq!(done.ends, Some(EndCounter::Succeed));
    assert!(!done.starts);
    assert_eq!(
        Pending.change_to(Stopped).map(|c| c.ends),
        Ok(Some(EndCounter::Stopped))
    );
    assert!(
        Succeed.change_to(Failed).is_err(),
        "an ended task does not change"
    );
    assert!(InProgress.change_to(Pending).is_err());
    assert!(Pending.change_to(Pending).is_err());

    let mut execution = Execution {
        id: 1,
        policy_id: 1,
        status: ExecutionStatus::InProgress,
        trigger: TriggerType::Manual,
        start_time: time::OffsetDateTime::UNIX_EPOCH,
        end_time: None,
        status_text: String::new(),
        total: 0,
        failed: 0,
        succeed: 0,
        in_progress: 0,
        stopped: 0,
        dry_run: false,
    };
    assert_eq!(execution.final_status(1), None, "a list piece is open");
    assert_eq!(
        execution.final_status(0),
        Some(ExecutionStatus::Succeed),
        "nothing to do"
    );
    execution.add_tasks(2);
    assert_eq!((execution.total, execution.in_progress), (2, 2));
    execution.count(start);
    execution.count(done);
    assert_eq!(execution.final_status(0), None, "one task still open");
    execution.count(InProgress.change_to(Failed).expect("fails"));
    assert_eq!(
        (execution.in_progress, execution.succeed, execution.failed),
        (0, 1, 1)
    );
    assert_eq!(execution.final_status(0), Some(ExecutionStatus::Failed));
    execution.status = ExecutionStatus::Failed;
    assert_eq!(execution.final_status(0), None, "ended already");
}

#[test]
fn one_delivery_runs_a_task_at_a_time_and_a_handed_on_message_is_spent() {
    use TaskStatus::*;
    let free = TaskLease::default();
    assert_eq!(free.take(Pending, 0, 1000, "m1"), Take::Granted);
    assert_eq!(free.take(Succeed, 0, 1000, "m1"), Take::Ended);
    let held = TaskLease {
        lease_until: Some(2000),
        holder: Some("m1".into()),
        ..free.clone()
    };
    assert_eq!(held.take(InProgress, 0, 1000, "m2"), Take::Held);
    assert_eq!(
        held.take(InProgress, 0, 1000, "m1"),
        Take::Granted,
        "the holder's message again: its earlier delivery is over"
    );
    assert_eq!(
        held.take(InProgress, 0, 2001, "m2"),
        Take::Granted,
        "a lease ends"
    );
    let handed_on = TaskLease {
        continuations: 0,
        handed_on: Some(0),
        ..free.clone()
    };
    assert_eq!(
        handed_on.take(InProgress, 0, 1000, "m1"),
        Take::Stale,
        "the message that handed on"
    );
    assert_eq!(
        handed_on.take(InProgress, 1, 1000, "m2"),
        Take::Granted,
        "its successor"
    );
    let moved_on = TaskLease {
        continuations: 2,
        ..free
    };
    assert_eq!(moved_on.take(InProgress, 1, 1000, "m1"), Take::Stale);
}

#[test]
fn the_reaper_finishes_what_is_done_relaunches_once_and_gives_up_only_on_silence() {
    let mut execution = Execution::new(1, 1, TriggerType::Manual, time::OffsetDateTime::UNIX_EPOCH);
    let still = Silence {
        last_moved_ms: 0,
        now_ms: 10_000,
        stale_ms: 5_000,
    };
    let moving = Silence {
        last_moved_ms: 9_000,
        ..still
    };
    assert_eq!(
        execution.reaping(0, false, moving),
        Reaping::Finish,
        "nothing open"
    );
    assert_eq!(
        execution.reaping(1, false, moving),
        Reaping::Leave,
        "listing, lately"
    );
    assert_eq!(execution.reaping(1, false, still), Reaping::Relaunch);
    assert_eq!(
        execution.reaping(1, true, still),
        Reaping::GiveUp,
        "relaunched once"
    );
    execution.add_tasks(3);
    assert_eq!(
        execution.reaping(0, false, moving),
        Reaping::Leave,
        "tasks moving"
    );
    assert_eq!(
        execution.reaping(0, false, still),
        Reaping::GiveUp,
        "tasks lost"
    );
    execution.status = ExecutionStatus::Failed;
    assert_eq!(execution.reaping(0, false, still), Reaping::Leave, "ended");
}

fn time_strategy() -> impl Strategy<Value = time::OffsetDateTime> {
    (0i64..4_000_000_000i64, 0u32..1000).prop_map(|(secs, ms)| {
        time::OffsetDateTime::from_unix_timestamp(secs).expect("in range")
            + time::Duration::milliseconds(ms.into())
    })
}

proptest! {
    #[test]
    fn execution_round_trips(
        id in 1i64..i64::MAX, policy_id in 1i64..1_000_000, counts in proptest::array::uniform5(0i64..1_000_000),
        start in time_strategy(), end in proptest::option::of(time_strategy()), text in ".{0,40}",
        status in prop_oneof![Just(ExecutionStatus::InProgress), Just(ExecutionStatus::Failed), Just(ExecutionStatus::Succeed), Just(ExecutionStatus::Stopped)],
        trigger in prop_oneof![Just(TriggerType::Manual), Just(TriggerType::Scheduled), Just(TriggerType::EventBased)],
    ) {
        let e = Execution {
            id, policy_id, status, trigger, start_time: start, end_time: end, status_text: text,
            total: counts[0], failed: counts[1], succeed: counts[2], in_progress: counts[3], stopped: counts[4],
            dry_run: id % 2 == 0,
        };
        prop_assert_eq!(roundtrip(&e), e);
    }

    #[test]
    fn task_round_trips(
        id in 1i64..i64::MAX, execution_id in 1i64..i64::MAX, repo in "[a-z]{1,8}(/[a-z]{1,8}){0,3}",
        tag in "[a-z0-9]{1,10}", start in proptest::option::of(time_strategy()),
        bytes in 0i64..i64::MAX, blobs in 0i64..1000,
    ) {
        let t = Task {
            id, execution_id, job_id: format!("{execution_id}-{id}"), status: TaskStatus::Succeed,
            status_text: String::new(), operation: Operation::Copy, resource_type: ResourceType::IMAGE,
            src_resource: format!("{repo}:{tag}"), dst_resource: format!("mirror/{repo}:{tag}"),
            start_time: start, end_time: start,
            figures: TransferFigures { bytes_copied: bytes, blobs_copied: blobs, blobs_skipped: 1, blobs_mounted: 0 },
            resource: None,
            continuations: 0,
            log: None, artifact: None,
        };
        prop_assert_eq!(roundtrip(&t), t);
    }

    #[test]
    fn registry_round_trips(name in "[a-zA-Z0-9][a-zA-Z0-9 _-]{0,29}", port in 1u16.., insecure in any::<bool>(), created in time_strategy()) {
        let r = Registry {
            id: 7, name, kind: Some(RegistryType::Harbor), url: format!("https://h.example:{port}"),
            credential: Some(Credential { kind: CredentialType::Basic, access_key: "k".into(), access_secret: Some("s".into()) }),
            insecure, creation_time: created, update_time: created, ..Registry::default()
        };
        prop_assert_eq!(r.validate(), Ok(()));
        prop_assert_eq!(roundtrip(&r), r);
    }
}
