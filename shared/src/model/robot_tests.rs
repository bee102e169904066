use super::*;

fn robot(access: &[(&str, &str)]) -> Robot {
    Robot {
        name: "robot$ci".into(),
        permissions: vec![RobotPermission {
            kind: "system".into(),
            namespace: "/".into(),
            access: access
                .iter()
                .map(|(resource, action)| Access {
                    resource: (*resource).into(),
                    action: (*action).into(),
                    effect: String::new(),
                })
                .collect(),
        }],
        ..Robot::default()
    }
}

#[test]
fn permissions_are_exactly_what_was_given() {
    let r = robot(&[("replication", "read"), ("registry", "list")]);
    assert!(r.validate().is_ok());
    assert!(r.allows(RobotResource::Replication, RobotAction::Read));
    assert!(r.allows(RobotResource::Registry, RobotAction::List));
    assert!(!r.allows(RobotResource::Replication, RobotAction::Create));
    assert!(!r.allows(RobotResource::ReplicationPolicy, RobotAction::Read));
}

#[test]
fn validation_names_the_field() {
    let bad = robot(&[("projects", "read")]);
    assert_eq!(
        bad.validate().map_err(|e| e.field),
        Err("permissions[0].access[0].resource".into())
    );
    let bad = robot(&[("registry", "push")]);
    assert_eq!(
        bad.validate().map_err(|e| e.field),
        Err("permissions[0].access[0].action".into())
    );
    let bad = Robot {
        name: "Robot One".into(),
        ..robot(&[("registry", "read")])
    };
    assert_eq!(bad.validate().map_err(|e| e.field), Err("name".into()));
    let bad = Robot {
        duration: 0,
        ..robot(&[("registry", "read")])
    };
    assert_eq!(bad.validate().map_err(|e| e.field), Err("duration".into()));
    assert!(validate_robot_secret("Abcdefg1").is_ok());
    assert!(validate_robot_secret("abcdefg1").is_err());
    assert!(validate_robot_secret("Ab1").is_err());
}

#[test]
fn a_project_robot_holds_one_namespace_and_only_reads_registries() {
    let project = |namespace: &str, access: &[(&str, &str)]| Robot {
        level: "project".into(),
        permissions: vec![RobotPermission {
            kind: "project".into(),
            namespace: namespace.into(),
            ..robot(access).permissions[0].clone()
        }],
        ..robot(access)
    };
    let ci = project(
        "ns2",
        &[
            ("replication-policy", "create"),
            ("replication", "create"),
            ("registry", "list"),
            ("registry", "read"),
        ],
    );
    assert_eq!(ci.validate(), Ok(()));
    let stored = ci.normalized(OffsetDateTime::UNIX_EPOCH);
    assert_eq!(stored.level, "project");
    assert_eq!(stored.namespace(), Some("ns2"));
    assert_eq!(robot(&[("registry", "read")]).namespace(), None);
    let field = |r: Robot| r.validate().map_err(|e| e.field);
    assert_eq!(
        field(project("ns2", &[("registry", "create")])),
        Err("permissions[0].access[0].action".into())
    );
    assert_eq!(
        field(project("ns2/x", &[("registry", "read")])),
        Err("permissions[0].namespace".into())
    );
    let system_kind = Robot {
        level: "project".into(),
        ..robot(&[("registry", "read")])
    };
    assert_eq!(field(system_kind), Err("permissions[0].kind".into()));
    let two = Robot {
        permissions: [
            project("ns1", &[("registry", "read")]).permissions,
            project("ns2", &[("registry", "read")]).permissions,
        ]
        .concat(),
        ..project("ns1", &[("registry", "read")])
    };
    assert_eq!(field(two), Err("permissions".into()));
    let unknown = Robot {
        level: "team".into(),
        ..robot(&[("registry", "read")])
    };
    assert_eq!(field(unknown), Err("level".into()));
    let project_kind_on_system = Robot {
        level: "system".into(),
        ..project("ns2", &[("registry", "read")])
    };
    assert_eq!(field(project_kind_on_system), Err("permissions[0]".into()));
}

#[test]
fn a_robot_expires_after_its_duration_and_a_disabled_one_is_inactive() {
    let created = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
    let r = Robot {
        duration: 2,
        ..robot(&[("registry", "read")])
    }
    .normalized(created);
    assert_eq!(r.name, "ci");
    assert!(r.active(created + time::Duration::days(1)));
    assert!(!r.active(created + time::Duration::days(2)));
    let never = robot(&[("registry", "read")]).normalized(created);
    assert!(never.active(created + time::Duration::days(100_000)));
    let disabled = Robot {
        disable: true,
        ..never
    };
    assert!(!disabled.active(created));
}
