//! One delivery of an event to one webhook policy: Harbor 2.x calls these the policy's
//! "executions".

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::time_format;

/// How long a delivery stays in the log (DynamoDB's TTL removes it after).
pub const DELIVERY_TTL_SECS: i64 = 30 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum DeliveryStatus {
    Success,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookDelivery {
    pub id: i64,
    pub policy_id: i64,
    /// `REPLICATION`, as Harbor's payload says.
    pub event_type: String,
    /// Ferry's addition: which replication event (`execution_started`, ...) of which execution.
    pub event: String,
    pub execution_id: i64,
    pub address: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// The receiver's last HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Why the last attempt failed, when it did.
    #[serde(default)]
    pub status_text: String,
    #[serde(with = "time_format::rfc3339")]
    #[schema(value_type = String, format = DateTime, default = "1970-01-01T00:00:00Z")]
    pub creation_time: OffsetDateTime,
    #[serde(with = "time_format::rfc3339")]
    #[schema(value_type = String, format = DateTime, default = "1970-01-01T00:00:00Z")]
    pub end_time: OffsetDateTime,
}
