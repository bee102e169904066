//! The messages between the stages: typed, versioned JSON.
//!
//! Every message carries `kind` and `version`. A consumer refuses a kind or version it does not
//! know with an error that says which; such a message is retried and then lands in the DLQ,
//! where it waits for a consumer that understands it.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::model::{Checkpoint, CopyOptions, Operation, Resource};

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("message is not JSON with `kind` and `version`: {0}")]
    Malformed(String),
    #[error("expected a {expected} message, got {found:?}")]
    WrongKind {
        expected: &'static str,
        found: String,
    },
    #[error(
        "{kind} message version {version} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion {
        kind: &'static str,
        version: u32,
        supported: u32,
    },
}

pub trait Versioned: Serialize + DeserializeOwned {
    const KIND: &'static str;
    const VERSION: u32;
}

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    kind: &'static str,
    version: u32,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Deserialize)]
struct Header {
    kind: String,
    version: u32,
}

pub fn encode<T: Versioned>(message: &T) -> Result<String, MessageError> {
    serde_json::to_string(&EnvelopeOut {
        kind: T::KIND,
        version: T::VERSION,
        body: message,
    })
    .map_err(|e| MessageError::Malformed(e.to_string()))
}

pub fn decode<T: Versioned>(body: &str) -> Result<T, MessageError> {
    let header: Header =
        serde_json::from_str(body).map_err(|e| MessageError::Malformed(e.to_string()))?;
    if header.kind != T::KIND {
        return Err(MessageError::WrongKind {
            expected: T::KIND,
            found: header.kind,
        });
    }
    if header.version != T::VERSION {
        return Err(MessageError::UnsupportedVersion {
            kind: T::KIND,
            version: header.version,
            supported: T::VERSION,
        });
    }
    serde_json::from_str(body).map_err(|e| MessageError::Malformed(e.to_string()))
}

/// Asks the lister to list (a piece of) the source of a policy for an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListMessage {
    pub execution_id: i64,
    pub policy_id: i64,
    /// The request (or invocation) that started the execution, on every log line after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Where this piece starts in the source's listing; None for the first piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_after: Option<String>,
    /// An execution started by an event lists exactly that artifact, not the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<ArtifactEvent>,
    /// Where an earlier invocation stopped listing this piece, out of time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ListResume>,
}

/// A piece's listing, part done: it goes on at this repository, after this tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResume {
    pub repository: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_tag: Option<String>,
}

/// A push or a delete at a source registry, as its webhook told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactEvent {
    pub repository: String,
    /// The tag pushed or deleted, or the digest when the event names no tag.
    pub reference: String,
    pub deleted: bool,
}

impl Versioned for ListMessage {
    const KIND: &'static str = "list";
    const VERSION: u32 = 1;
}

/// Asks transfer to copy one artifact for one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferMessage {
    pub execution_id: i64,
    pub task_id: i64,
    /// The execution's policy, for the metrics by policy (0 in messages of older builds).
    #[serde(default)]
    pub policy_id: i64,
    /// The request (or invocation) that started the execution, on every log line after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    pub resource: Resource,
    /// Copy, or delete at the destination (a replicated deletion).
    #[serde(default = "copy_operation")]
    pub operation: Operation,
    #[serde(default)]
    pub options: CopyOptions,
    /// Platforms to keep in multi-arch indexes; empty keeps all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Where an earlier invocation left off, when it ran out of time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

fn copy_operation() -> Operation {
    Operation::Copy
}

impl Versioned for TransferMessage {
    const KIND: &'static str = "transfer";
    const VERSION: u32 = 1;
}

/// Tells the notifier that something happened to an execution (the outbox of notifications).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyMessage {
    #[serde(flatten)]
    pub event: crate::model::notification::ReplicationEvent,
}

impl Versioned for NotifyMessage {
    const KIND: &'static str = "notify";
    const VERSION: u32 = 1;
}

/// A message as a consumer receives it, without the event source's wrapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub message_id: String,
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
    /// It comes from the stage's dead-letter queue: its deliveries were used up without the
    /// handler ending it (a timeout or a crash), so what it stands for must end now.
    pub from_dead_letters: bool,
    /// Where it was received: the queue (its ARN) and the receipt to act on it with, so a
    /// message to deliver again can be made visible again sooner than the queue's timeout.
    pub receipt: Option<Receipt>,
}

/// A message's receipt at its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub queue_arn: String,
    pub handle: String,
}

/// How long a message to deliver again stays hidden: seconds for the first retries, growing
/// with its receives (a fault that heals costs seconds, one that does not backs off), capped
/// well under a function's timeout.
pub fn redelivery_delay(receive_count: u32) -> std::time::Duration {
    let seconds = 2u64.saturating_mul(1 << receive_count.saturating_sub(1).min(6));
    std::time::Duration::from_secs(seconds.min(REDELIVERY_CAP_SECS))
}

const REDELIVERY_CAP_SECS: u64 = 60;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ArtifactLocation, ResourceType};

    fn transfer() -> TransferMessage {
        let location = |registry_id, repository: &str| ArtifactLocation {
            registry_id,
            repository: repository.into(),
            reference: "v1".into(),
        };
        TransferMessage {
            execution_id: 1,
            task_id: 2,
            policy_id: 3,
            correlation_id: Some("req-1".into()),
            resource: Resource {
                resource_type: ResourceType::IMAGE,
                src: location(1, "library/nginx"),
                dst: location(2, "mirror/nginx"),
            },
            operation: Operation::Copy,
            options: CopyOptions {
                override_: true,
                copy_by_chunk: false,
                speed: -1,
            },
            platforms: Vec::new(),
            checkpoint: None,
        }
    }

    #[test]
    fn redeliveries_back_off_from_seconds_to_a_minute() {
        let delays: Vec<u64> = (1..=8).map(|n| redelivery_delay(n).as_secs()).collect();
        assert_eq!(delays, vec![2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(redelivery_delay(0).as_secs(), 2);
    }

    #[test]
    fn round_trips_with_kind_and_version() {
        let text = encode(&transfer()).expect("encode");
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(json["kind"], "transfer");
        assert_eq!(json["version"], 1);
        assert_eq!(
            decode::<TransferMessage>(&text).expect("decode"),
            transfer()
        );
    }

    #[test]
    fn refuses_other_kinds_versions_and_garbage() {
        let text = encode(&transfer()).expect("encode");
        assert!(matches!(
            decode::<ListMessage>(&text),
            Err(MessageError::WrongKind { .. })
        ));
        let v2 = text.replace("\"version\":1", "\"version\":2");
        let err = decode::<TransferMessage>(&v2).unwrap_err();
        assert!(
            err.to_string().contains("version 2 is not supported"),
            "{err}"
        );
        assert!(matches!(
            decode::<TransferMessage>("{oops"),
            Err(MessageError::Malformed(_))
        ));
        let missing = r#"{"kind":"transfer","version":1,"execution_id":1}"#;
        assert!(matches!(
            decode::<TransferMessage>(missing),
            Err(MessageError::Malformed(_))
        ));
    }
}
