//! Times travel as RFC 3339 in UTC, as Harbor writes them.

use time::OffsetDateTime;

pub fn now() -> OffsetDateTime {
    // Millisecond precision: what DynamoDB sort keys and Harbor clients keep round-trips exactly.
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(now)
}

/// Now, in milliseconds since the epoch (as leases are compared).
pub fn now_millis() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub mod rfc3339 {
    pub use time::serde::rfc3339::*;
}

pub mod rfc3339_option {
    pub use time::serde::rfc3339::option::*;
}
