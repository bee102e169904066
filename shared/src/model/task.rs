//! A task copies (or deletes) one artifact; Harbor's `ReplicationTask` JSON names plus Ferry's
//! transfer figures, which Harbor's clients ignore.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::time_format;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum TaskStatus {
    Pending,
    InProgress,
    Succeed,
    Failed,
    Stopped,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Succeed => "Succeed",
            Self::Failed => "Failed",
            Self::Stopped => "Stopped",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeed | Self::Failed | Self::Stopped)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Copy,
    Deletion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    Image,
    Artifact,
    Chart,
}

/// What a transfer did, beyond the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct TransferFigures {
    pub bytes_copied: i64,
    pub blobs_copied: i64,
    pub blobs_skipped: i64,
    pub blobs_mounted: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Task {
    pub id: i64,
    pub execution_id: i64,
    pub job_id: String,
    pub status: TaskStatus,
    #[serde(default)]
    pub status_text: String,
    pub operation: Operation,
    pub resource_type: ResourceType,
    pub src_resource: String,
    pub dst_resource: String,
    #[serde(with = "time_format::rfc3339_option", default)]
    pub start_time: Option<OffsetDateTime>,
    #[serde(with = "time_format::rfc3339_option", default)]
    pub end_time: Option<OffsetDateTime>,
    #[serde(flatten)]
    pub figures: TransferFigures,
    /// Invocations the copy has continued into after running out of time (Ferry's addition).
    #[serde(default)]
    pub continuations: u32,
    /// What the task copies, with the registries' ids (Ferry's addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<super::resource::Resource>,
}
