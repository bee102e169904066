//! A replication policy, with Harbor's `ReplicationPolicy` JSON names.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::filters::{Filter, Selection};
use super::registry::Registry;
use super::scope::{normalize_scope, validate_scope, PolicyScope};
use super::time_format;
use super::transfer::CopyOptions;
use super::validation::{require_name, Validated, ValidationError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerType {
    Manual,
    Scheduled,
    EventBased,
}

impl TriggerType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Scheduled => "scheduled",
            Self::EventBased => "event_based",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct TriggerSettings {
    pub cron: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Trigger {
    #[serde(rename = "type")]
    pub kind: TriggerType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_settings: Option<TriggerSettings>,
}

impl Trigger {
    pub fn manual() -> Self {
        Self {
            kind: TriggerType::Manual,
            trigger_settings: None,
        }
    }

    pub fn cron(&self) -> Option<&str> {
        self.trigger_settings
            .as_ref()
            .map(|s| s.cron.as_str())
            .filter(|c| !c.is_empty())
    }
}

/// Harbor's cron: six fields, seconds first; seconds must be a fixed value and minutes not `*`,
/// so that a schedule fires at most once a minute.
pub fn validate_cron(field: &str, expression: &str) -> Validated {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(ValidationError::new(
            field,
            format!(
                "must have six fields (second minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ),
        ));
    }
    if !fields[0].chars().all(|c| c.is_ascii_digit()) {
        return Err(ValidationError::new(
            field,
            "the seconds field must be a single number, such as 0",
        ));
    }
    if fields[1] == "*" {
        return Err(ValidationError::new(
            field,
            "the minutes field must not be *: a schedule fires at most once a minute",
        ));
    }
    expression
        .parse::<cron::Schedule>()
        .map(|_| ())
        .map_err(|e| ValidationError::new(field, format!("is not a valid cron expression: {e}")))
}

/// A repository path as the distribution spec allows it: lower-case components separated by `/`.
pub fn validate_repository_path(field: &str, path: &str) -> Validated {
    crate::oci::Repository::parse(path)
        .map(|_| ())
        .map_err(|e| ValidationError::new(field, e.reason))
}

/// Harbor's `ReplicationPolicy`. Registries are referred to by `id`; reads embed the whole
/// registry. Every field defaults so that validation, not the parser, names what is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ReplicationPolicy {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub src_registry: Option<Registry>,
    pub dest_registry: Option<Registry>,
    pub dest_namespace: String,
    pub dest_namespace_replace_count: i8,
    pub trigger: Option<Trigger>,
    pub filters: Vec<Filter>,
    pub replicate_deletion: bool,
    /// Harbor's old name for `replicate_deletion`; either one set means deletions replicate.
    pub deletion: bool,
    #[serde(rename = "override")]
    pub override_: bool,
    pub enabled: bool,
    /// Bandwidth limit per task in KiB/s; -1 or 0 is unlimited.
    pub speed: i32,
    pub copy_by_chunk: bool,
    pub single_active_replication: bool,
    /// Ferry's addition: copy only these platforms of multi-arch indexes (`os/arch` or
    /// `os/arch/variant`); empty copies all. A filtered index has a new digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Ferry's addition (seed 000): whether a destination namespace (Harbor project, TCR
    /// namespace, ...) that Ferry creates for this policy is public. One that exists keeps its
    /// own setting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub target_project_public: bool,
    /// Ferry's addition (seed 000): Ferry does not create or check destination namespaces
    /// (projects, ECR repositories, organisations); a handler or the platform does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bypass_namespace_management: bool,
    /// Ferry's addition (seed 000): the policy's `prepare_replication` handlers, managed
    /// through `/replication/policies/{id}/handlers`; a policy's create or update leaves them
    /// as they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handlers: Vec<super::handler::ReplicationHandler>,
    /// Ferry's addition (seed 001's policy scope): `system` (the default, shown by leaving the
    /// field out) or `namespace`, a policy managed under one source namespace by that
    /// namespace's robots. A namespace policy selects only repositories under
    /// `<namespace>/` and may not overlap a system policy to the same destination registry.
    #[serde(default, skip_serializing_if = "PolicyScope::is_system")]
    pub scope: PolicyScope,
    /// Ferry's addition: the source namespace (one path component) of a `namespace` policy;
    /// required with that scope, refused with `system`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Ferry's addition: auto-sync on pull. With `enabled`, Ferry serves the distribution pull
    /// API (`GET /v2/<name>/manifests/<reference>`, `/blobs/<digest>`) for the destination
    /// namespace and replicates, from the source, what a pull asks for and the destination
    /// lacks (one execution per artifact, trigger `event_based`); `public` answers anonymous
    /// pulls, `on_pull_event` syncs a tag again when the destination registry's webhook tells
    /// of its pull. Left out while all off.
    #[serde(default, skip_serializing_if = "super::auto_sync::AutoSync::is_off")]
    pub auto_sync: super::auto_sync::AutoSync,
    /// Ferry's addition: mirror mode. With `enabled`, after a complete listing the destination's
    /// tags within the policy's scope that the source no longer has, or that the filters no
    /// longer select, are deleted (tasks of operation `deletion`), unless they are more than
    /// `max_percent` (default 10) of the tags held there and `unlimited` is off. Left out while
    /// off.
    #[serde(default, skip_serializing_if = "super::prune::Prune::is_off")]
    pub prune: super::prune::Prune,
    #[serde(with = "time_format::rfc3339")]
    #[schema(value_type = String, format = DateTime, default = "1970-01-01T00:00:00Z")]
    pub creation_time: OffsetDateTime,
    #[serde(with = "time_format::rfc3339")]
    #[schema(value_type = String, format = DateTime, default = "1970-01-01T00:00:00Z")]
    pub update_time: OffsetDateTime,
}

impl Default for ReplicationPolicy {
    fn default() -> Self {
        Self {
            id: 0,
            name: String::new(),
            description: String::new(),
            src_registry: None,
            dest_registry: None,
            dest_namespace: String::new(),
            dest_namespace_replace_count: -1,
            trigger: None,
            filters: Vec::new(),
            replicate_deletion: false,
            deletion: false,
            override_: false,
            enabled: true,
            speed: -1,
            copy_by_chunk: false,
            single_active_replication: false,
            platforms: Vec::new(),
            target_project_public: false,
            bypass_namespace_management: false,
            handlers: Vec::new(),
            scope: PolicyScope::System,
            namespace: String::new(),
            auto_sync: super::auto_sync::AutoSync::default(),
            prune: super::prune::Prune::default(),
            creation_time: OffsetDateTime::UNIX_EPOCH,
            update_time: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

impl ReplicationPolicy {
    /// Both spellings of "replicate deletions", as Harbor's clients send either.
    pub fn replicates_deletion(&self) -> bool {
        self.replicate_deletion || self.deletion
    }

    /// Writes both spellings of "replicate deletions" from either, so reads agree with Harbor's
    /// newer clients (`replicate_deletion`) and its older ones (`deletion`).
    pub fn normalize_deletion(&mut self) {
        let replicate = self.replicates_deletion();
        self.replicate_deletion = replicate;
        self.deletion = replicate;
    }

    /// A namespace policy without a name filter is given one for its whole namespace.
    pub fn normalize_scope(&mut self) {
        normalize_scope(self);
    }

    /// The registry ids the policy names; 0 stands for the home registry configured at deploy time.
    pub fn src_registry_id(&self) -> i64 {
        self.src_registry.as_ref().map_or(0, |r| r.id)
    }

    pub fn dest_registry_id(&self) -> i64 {
        self.dest_registry.as_ref().map_or(0, |r| r.id)
    }

    /// The copy options each of the policy's tasks carries.
    pub fn copy_options(&self) -> CopyOptions {
        CopyOptions {
            override_: self.override_,
            copy_by_chunk: self.copy_by_chunk,
            speed: self.speed,
        }
    }

    pub fn trigger_type(&self) -> TriggerType {
        self.trigger
            .as_ref()
            .map_or(TriggerType::Manual, |t| t.kind)
    }

    /// Checks the policy on its own; that its registries exist is the store's and API's concern.
    pub fn validate(&self) -> Validated {
        require_name("name", &self.name)?;
        if self.description.chars().count() > 1024 {
            return Err(ValidationError::new(
                "description",
                "must be at most 1024 characters",
            ));
        }
        if self.src_registry_id() < 0 {
            return Err(ValidationError::new(
                "src_registry.id",
                "must not be negative",
            ));
        }
        if self.dest_registry_id() < 0 {
            return Err(ValidationError::new(
                "dest_registry.id",
                "must not be negative",
            ));
        }
        if self.src_registry_id() != 0 && self.src_registry_id() == self.dest_registry_id() {
            return Err(ValidationError::new(
                "dest_registry.id",
                "must differ from src_registry.id",
            ));
        }
        if !self.dest_namespace.is_empty() {
            validate_repository_path("dest_namespace", &self.dest_namespace)?;
        }
        if self.dest_namespace_replace_count < -1 {
            return Err(ValidationError::new(
                "dest_namespace_replace_count",
                "must be -1 (flatten to the last component) or at least 0",
            ));
        }
        let selection = Selection::of(&self.filters)?;
        validate_scope(self)?;
        // A literal name filter names the source path, so the count can be checked now.
        if let Some(path) = selection.literal_name() {
            let components = path.split('/').count();
            if self.dest_namespace_replace_count >= 0
                && self.dest_namespace_replace_count as usize >= components
            {
                return Err(ValidationError::new(
                    "dest_namespace_replace_count",
                    format!(
                        "{} would replace every component of {path:?}, which has {components}",
                        self.dest_namespace_replace_count
                    ),
                ));
            }
        }
        if let Some(trigger) = &self.trigger {
            match trigger.kind {
                TriggerType::Scheduled => match trigger.cron() {
                    Some(cron) => validate_cron("trigger.trigger_settings.cron", cron)?,
                    None => {
                        return Err(ValidationError::new(
                            "trigger.trigger_settings.cron",
                            "is required for a scheduled trigger",
                        ))
                    }
                },
                TriggerType::Manual | TriggerType::EventBased => {
                    if trigger.cron().is_some() {
                        return Err(ValidationError::new(
                            "trigger.trigger_settings.cron",
                            "is only allowed with a scheduled trigger",
                        ));
                    }
                }
            }
        }
        for (i, platform) in self.platforms.iter().enumerate() {
            crate::oci::Platform::parse(platform)
                .map_err(|reason| ValidationError::new(format!("platforms[{i}]"), reason))?;
        }
        super::auto_sync::validate_auto_sync(self)?;
        self.prune.validate()?;
        if self.speed < -1 {
            return Err(ValidationError::new(
                "speed",
                "must be -1 or 0 (unlimited) or a positive KiB/s",
            ));
        }
        Ok(())
    }
}
