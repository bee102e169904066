//! Robot accounts in the shape of Harbor's system robots: a name, permissions on Ferry's
//! resources, a lifetime, and a secret kept only as a hash. Scripts and CI call the API as
//! `robot$<name>` with the secret, never with the admin password.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::scope::validate_namespace;
use super::time_format;
use super::validation::{Validated, ValidationError};

/// What a robot's user name starts with, as in Harbor.
pub const ROBOT_PREFIX: &str = "robot$";
/// The longest lifetime a robot may be given, in days (100 years); -1 means no expiry.
const MAX_DURATION_DAYS: i64 = 36_500;

/// Harbor's robot levels: `system` robots act on the whole service, `project` robots on one
/// source namespace (Harbor's project): its namespace-scoped policies and their executions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RobotLevel {
    System,
    Project,
}

impl RobotLevel {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "system" => Some(Self::System),
            "project" => Some(Self::Project),
            _ => None,
        }
    }
}

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

/// Harbor's `RobotPermission`; a system robot's `kind` is `system` and its namespace `/`, a
/// project robot's `kind` is `project` and its namespace the one source namespace it acts on.
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
        let level = RobotLevel::parse(&self.level).ok_or_else(|| {
            ValidationError::new(
                "level",
                "must be system (the whole service) or project (one source namespace)",
            )
        })?;
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
        if level == RobotLevel::Project && self.permissions.len() != 1 {
            return Err(ValidationError::new(
                "permissions",
                "a project robot has exactly one, for its one namespace (as Harbor's project robots have one project)",
            ));
        }
        for (i, permission) in self.permissions.iter().enumerate() {
            match level {
                RobotLevel::System
                    if permission.kind != "system" || permission.namespace != "/" =>
                {
                    return Err(ValidationError::new(
                        format!("permissions[{i}]"),
                        "a system robot's must have kind system and namespace /",
                    ));
                }
                RobotLevel::Project if permission.kind != "project" => {
                    return Err(ValidationError::new(
                        format!("permissions[{i}].kind"),
                        "a project robot's must have kind project",
                    ));
                }
                RobotLevel::Project => validate_namespace(
                    &format!("permissions[{i}].namespace"),
                    &permission.namespace,
                )?,
                RobotLevel::System => {}
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
                let registry_write = parse_resource(&access.resource)
                    == Some(RobotResource::Registry)
                    && !matches!(
                        parse_action(&access.action),
                        Some(RobotAction::Read | RobotAction::List)
                    );
                if level == RobotLevel::Project && registry_write {
                    return Err(ValidationError::new(
                        format!("{field}.action"),
                        "a project robot may only read and list registries: registries are shared by every namespace, create, update and delete are for system robots and the admin",
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

    /// The namespace a project robot is confined to; None for a system robot.
    pub fn namespace(&self) -> Option<&str> {
        if RobotLevel::parse(&self.level) != Some(RobotLevel::Project) {
            return None;
        }
        self.permissions
            .iter()
            .find(|p| p.kind == "project")
            .map(|p| p.namespace.as_str())
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
#[path = "robot_tests.rs"]
mod tests;
