//! Robot accounts in the shape of Harbor's system robots: a name, permissions on Ferry's
//! resources, a lifetime, and a secret kept only as a hash. Scripts and CI call the API as
//! `robot$<name>` with the secret, never with the admin password.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::time_format;
use super::validation::{Validated, ValidationError};

/// What a robot's user name starts with, as in Harbor.
pub const ROBOT_PREFIX: &str = "robot$";
/// The longest lifetime a robot may be given, in days (100 years); -1 means no expiry.
const MAX_DURATION_DAYS: i64 = 36_500;

/// The resources a robot can be allowed to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RobotResource {
    /// `/registries` and the registry kinds.
    Registry,
    /// `/replication/policies`.
    ReplicationPolicy,
    /// `/replication/executions`, their tasks and logs.
    Replication,
}

impl RobotResource {
    pub const ALL: [Self; 3] = [Self::Registry, Self::ReplicationPolicy, Self::Replication];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registry => "registry",
            Self::ReplicationPolicy => "replication-policy",
            Self::Replication => "replication",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RobotAction {
    Read,
    List,
    Create,
    Update,
    Delete,
}

impl RobotAction {
    pub const ALL: [Self; 5] = [
        Self::Read,
        Self::List,
        Self::Create,
        Self::Update,
        Self::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::List => "list",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// Harbor's `Access`: one allowed action on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct Access {
    pub resource: String,
    pub action: String,
    /// Only `allow`: a robot holds what it is given and nothing else.
    pub effect: String,
}

/// Harbor's `RobotPermission`; a system robot's `kind` is `system` and its namespace `/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct RobotPermission {
    pub kind: String,
    pub namespace: String,
    pub access: Vec<Access>,
}

/// Harbor's `Robot` (and `RobotCreate`, whose fields it holds). `name` is stored without the
/// `robot$` prefix and shown with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Robot {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub level: String,
    pub disable: bool,
    /// Days the robot lives from its creation; -1: no expiry.
    pub duration: i64,
    /// Unix seconds when it expires; -1: never.
    pub expires_at: i64,
    pub editable: bool,
    pub permissions: Vec<RobotPermission>,
    #[serde(with = "time_format::rfc3339")]
    #[schema(value_type = String, format = DateTime, default = "1970-01-01T00:00:00Z")]
    pub creation_time: OffsetDateTime,
    #[serde(with = "time_format::rfc3339")]
    #[schema(value_type = String, format = DateTime, default = "1970-01-01T00:00:00Z")]
    pub update_time: OffsetDateTime,
}

impl Default for Robot {
    fn default() -> Self {
        Self {
            id: 0,
            name: String::new(),
            description: String::new(),
            level: "system".into(),
            disable: false,
            duration: -1,
            expires_at: -1,
            editable: true,
            permissions: Vec::new(),
            creation_time: OffsetDateTime::UNIX_EPOCH,
            update_time: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

impl Robot {
    /// The name as a create gives it, with or without the prefix; stored without.
    pub fn bare_name(name: &str) -> &str {
        name.strip_prefix(ROBOT_PREFIX).unwrap_or(name)
    }

    /// Checks a create or an update, naming the first field that does not fit.
    pub fn validate(&self) -> Validated {
        let name = Self::bare_name(&self.name);
        if name.is_empty() || name.len() > 255 {
            return Err(ValidationError::new(
                "name",
                "is required, at most 255 characters",
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        {
            return Err(ValidationError::new(
                "name",
                "must be lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
            ));
        }
        if self.description.chars().count() > 1024 {
            return Err(ValidationError::new(
                "description",
                "must be at most 1024 characters",
            ));
        }
        if self.level != "system" {
            return Err(ValidationError::new(
                "level",
                "must be system: Ferry's robots act on the whole service",
            ));
        }
        if self.duration != -1 && !(1..=MAX_DURATION_DAYS).contains(&self.duration) {
            return Err(ValidationError::new(
                "duration",
                format!("must be -1 (never expires) or 1 to {MAX_DURATION_DAYS} days"),
            ));
        }
        if self.permissions.is_empty() {
            return Err(ValidationError::new(
                "permissions",
                "at least one is required",
            ));
        }
        for (i, permission) in self.permissions.iter().enumerate() {
            if permission.kind != "system" || permission.namespace != "/" {
                return Err(ValidationError::new(
                    format!("permissions[{i}]"),
                    "must have kind system and namespace /",
                ));
            }
            for (j, access) in permission.access.iter().enumerate() {
                let field = format!("permissions[{i}].access[{j}]");
                if parse_resource(&access.resource).is_none() {
                    return Err(ValidationError::new(
                        format!("{field}.resource"),
                        format!(
                            "{:?} is not one of {}",
                            access.resource,
                            RobotResource::ALL.map(RobotResource::as_str).join(", ")
                        ),
                    ));
                }
                if parse_action(&access.action).is_none() {
                    return Err(ValidationError::new(
                        format!("{field}.action"),
                        format!(
                            "{:?} is not one of {}",
                            access.action,
                            RobotAction::ALL.map(RobotAction::as_str).join(", ")
                        ),
                    ));
                }
                if !access.effect.is_empty() && access.effect != "allow" {
                    return Err(ValidationError::new(
                        format!("{field}.effect"),
                        "only allow is supported",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The robot as it is stored: bare name, `expires_at` from its duration, counted from
    /// `from` (its creation).
    pub fn normalized(mut self, from: OffsetDateTime) -> Self {
        self.name = Self::bare_name(&self.name).to_string();
        self.level = "system".into();
        self.editable = true;
        for permission in &mut self.permissions {
            for access in &mut permission.access {
                access.effect = "allow".into();
            }
        }
        self.expires_at = if self.duration == -1 {
            -1
        } else {
            from.unix_timestamp() + self.duration * 86_400
        };
        self
    }

    /// The robot as reads show it: the name with its prefix.
    pub fn shown(mut self) -> Self {
        self.name = format!("{ROBOT_PREFIX}{}", self.name);
        self
    }

    /// Whether the robot may act now: enabled and not expired.
    pub fn active(&self, now: OffsetDateTime) -> bool {
        !self.disable && (self.expires_at == -1 || now.unix_timestamp() < self.expires_at)
    }

    /// Whether its permissions include `action` on `resource`.
    pub fn allows(&self, resource: RobotResource, action: RobotAction) -> bool {
        self.permissions.iter().any(|p| {
            p.access.iter().any(|a| {
                parse_resource(&a.resource) == Some(resource)
                    && parse_action(&a.action) == Some(action)
            })
        })
    }
}

fn parse_resource(value: &str) -> Option<RobotResource> {
    RobotResource::ALL.into_iter().find(|r| r.as_str() == value)
}

fn parse_action(value: &str) -> Option<RobotAction> {
    RobotAction::ALL.into_iter().find(|a| a.as_str() == value)
}

/// A secret given for a robot (Harbor's rule): 8 to 128 characters with an upper-case
/// letter, a lower-case letter and a digit.
pub fn validate_robot_secret(secret: &str) -> Validated {
    let fits = (8..=128).contains(&secret.chars().count())
        && secret.chars().any(|c| c.is_ascii_uppercase())
        && secret.chars().any(|c| c.is_ascii_lowercase())
        && secret.chars().any(|c| c.is_ascii_digit());
    if fits {
        Ok(())
    } else {
        Err(ValidationError::new(
            "secret",
            "must be 8 to 128 characters with an upper-case letter, a lower-case letter and a digit",
        ))
    }
}

#[cfg(test)]
mod tests {
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
}
