//! Harbor's `WebhookPolicy`, served without projects, for replication events only.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::addresses::AddressPolicy;
use crate::model::time_format;
use crate::model::validation::{require_name, Validated, ValidationError};
use crate::model::SECRET_MASK;

/// The only payload format Ferry sends: Harbor's `Default` JSON.
pub const PAYLOAD_FORMAT_DEFAULT: &str = "Default";

/// Harbor's event type for replication, and Ferry's finer ones (a policy with `REPLICATION`
/// receives all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "REPLICATION")]
    Replication,
    #[serde(rename = "REPLICATION_EXECUTION_STARTED")]
    ReplicationExecutionStarted,
    #[serde(rename = "REPLICATION_EXECUTION_ENDED")]
    ReplicationExecutionEnded,
    #[serde(rename = "REPLICATION_TASK_FAILED")]
    ReplicationTaskFailed,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replication => "REPLICATION",
            Self::ReplicationExecutionStarted => "REPLICATION_EXECUTION_STARTED",
            Self::ReplicationExecutionEnded => "REPLICATION_EXECUTION_ENDED",
            Self::ReplicationTaskFailed => "REPLICATION_TASK_FAILED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookTargetType {
    #[default]
    Http,
}

/// Harbor's `WebhookTargetObject`. `auth_header` is a secret: stored encrypted, read masked.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct WebhookTarget {
    #[serde(rename = "type")]
    pub kind: WebhookTargetType,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_header: Option<String>,
    pub skip_cert_verify: bool,
    pub payload_format: String,
}

/// Harbor's `WebhookPolicy` without `project_id` (Ferry has no projects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct WebhookPolicy {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub targets: Vec<WebhookTarget>,
    pub event_types: Vec<EventType>,
    pub enabled: bool,
    pub creator: String,
    #[serde(with = "time_format::rfc3339")]
    #[schema(value_type = String, format = DateTime, default = "1970-01-01T00:00:00Z")]
    pub creation_time: OffsetDateTime,
    #[serde(with = "time_format::rfc3339")]
    #[schema(value_type = String, format = DateTime, default = "1970-01-01T00:00:00Z")]
    pub update_time: OffsetDateTime,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        Self {
            id: 0,
            name: String::new(),
            description: String::new(),
            targets: Vec::new(),
            event_types: Vec::new(),
            enabled: true,
            creator: String::new(),
            creation_time: OffsetDateTime::UNIX_EPOCH,
            update_time: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

/// Targets per policy: Harbor's UI makes one; a few are plenty.
const MAX_TARGETS: usize = 5;
const MAX_ADDRESS: usize = 2048;
const MAX_AUTH_HEADER: usize = 4096;

impl WebhookPolicy {
    /// Checks what a client sent: a name, at least one http(s) target Ferry may reach, and
    /// replication event types only.
    pub fn validate(&self, addresses: AddressPolicy) -> Validated {
        require_name("name", &self.name)?;
        if self.targets.is_empty() {
            return Err(ValidationError::new(
                "targets",
                "at least one target is required",
            ));
        }
        if self.targets.len() > MAX_TARGETS {
            return Err(ValidationError::new(
                "targets",
                format!("at most {MAX_TARGETS} targets"),
            ));
        }
        for (i, target) in self.targets.iter().enumerate() {
            target.validate(&format!("targets[{i}]"), addresses)?;
        }
        if self.event_types.is_empty() {
            return Err(ValidationError::new(
                "event_types",
                "at least one event type is required (REPLICATION)",
            ));
        }
        Ok(())
    }

    /// Whether this policy wants events of `kind`.
    pub fn wants(&self, kind: super::ReplicationEventKind) -> bool {
        self.enabled
            && self
                .event_types
                .iter()
                .any(|t| *t == EventType::Replication || *t == kind.event_type())
    }

    /// The policy as reads show it: auth headers masked.
    pub fn masked(mut self) -> Self {
        for target in &mut self.targets {
            if target.auth_header.as_deref().is_some_and(|h| !h.is_empty()) {
                target.auth_header = Some(SECRET_MASK.to_string());
            }
        }
        self
    }

    /// An update that sends the mask for a target's header keeps the one stored for the
    /// target at the same address.
    pub fn keep_masked_headers(&mut self, stored: &WebhookPolicy) {
        for target in &mut self.targets {
            if target.auth_header.as_deref() == Some(SECRET_MASK) {
                target.auth_header = stored
                    .targets
                    .iter()
                    .find(|s| s.address == target.address)
                    .and_then(|s| s.auth_header.clone());
            }
        }
    }
}

impl WebhookTarget {
    fn validate(&self, at: &str, addresses: AddressPolicy) -> Validated {
        let field = format!("{at}.address");
        if self.address.len() > MAX_ADDRESS {
            return Err(ValidationError::new(
                field,
                format!("must be at most {MAX_ADDRESS} characters"),
            ));
        }
        let url = url::Url::parse(&self.address)
            .map_err(|e| ValidationError::new(&field, format!("is not an absolute URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ValidationError::new(field, "must be an http or https URL"));
        }
        addresses
            .check_url(&url)
            .map_err(|reason| ValidationError::new(&field, reason))?;
        if let Some(header) = &self.auth_header {
            if header.len() > MAX_AUTH_HEADER || header.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    format!("{at}.auth_header"),
                    format!(
                        "must be at most {MAX_AUTH_HEADER} characters without control characters"
                    ),
                ));
            }
        }
        if !self.payload_format.is_empty() && self.payload_format != PAYLOAD_FORMAT_DEFAULT {
            return Err(ValidationError::new(
                format!("{at}.payload_format"),
                "only Default is supported",
            ));
        }
        Ok(())
    }
}
