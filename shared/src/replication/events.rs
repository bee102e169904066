//! Events from a source registry's webhook: CNCF distribution's notifications and Harbor's
//! webhook payloads, read into pushes and deletes of tagged artifacts, and the executions of the
//! event-based policies they concern.

use crate::messages::ArtifactEvent;
use crate::model::{ReplicationPolicy, Selection, TriggerType};
use crate::oci::{media, Reference, Repository};
use crate::ports::queue::MessageQueue;
use crate::ports::store::Store;

use super::payloads::{Envelope, HarborPayload};
use super::start::{start_execution, StartError, Started};

/// Events one webhook request may carry: distribution sends a few per request, Harbor one.
pub const MAX_EVENTS: usize = 100;

/// Why a webhook body is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("{count} events in one request; at most {max} are accepted")]
    TooMany { count: usize, max: usize },
    #[error("{0}")]
    Invalid(String),
}

/// One event, with an id unique per event at its source (so a resent event starts nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEvent {
    pub id: String,
    pub event: ArtifactEvent,
}

/// The pushes of tags and the deletes a webhook body tells of; other events (pulls, blob
/// pushes, pushes by digest alone) are none of replication's business. A repository, tag or
/// digest that is not a valid name refuses the whole body, naming it.
/// More than [`MAX_EVENTS`] refuses the body before anything starts. An event without an id
/// gets one from what it says (action, repository, digest, tag, time), so a replayed body
/// starts nothing new either way.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<SourceEvent>, WebhookError> {
    let events = read_webhook(body)?;
    for source in &events {
        let invalid = |e: crate::oci::NameError| WebhookError::Invalid(e.to_string());
        Repository::parse(&source.event.repository).map_err(invalid)?;
        Reference::parse(&source.event.reference).map_err(invalid)?;
    }
    Ok(events)
}

fn too_many(count: usize) -> Result<(), WebhookError> {
    if count > MAX_EVENTS {
        return Err(WebhookError::TooMany {
            count,
            max: MAX_EVENTS,
        });
    }
    Ok(())
}

fn read_webhook(body: &[u8]) -> Result<Vec<SourceEvent>, WebhookError> {
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        too_many(envelope.events.len())?;
        return Ok(envelope
            .events
            .into_iter()
            .filter_map(|e| {
                let deleted = match e.action.as_str() {
                    "push"
                        if !e.target.tag.is_empty() && media::is_manifest(&e.target.media_type) =>
                    {
                        false
                    }
                    "delete" => true,
                    _ => return None,
                };
                let reference = if e.target.tag.is_empty() {
                    e.target.digest.clone()
                } else {
                    e.target.tag
                };
                let id = if e.id.is_empty() {
                    format!(
                        "{}-{}-{}-{}-{}",
                        e.action, e.target.repository, e.target.digest, reference, e.timestamp
                    )
                } else {
                    e.id
                };
                (!reference.is_empty()).then_some(SourceEvent {
                    id,
                    event: ArtifactEvent {
                        repository: e.target.repository,
                        reference,
                        deleted,
                    },
                })
            })
            .collect());
    }
    let harbor: HarborPayload = serde_json::from_slice(body).map_err(|e| {
        WebhookError::Invalid(format!(
            "not a distribution notification nor a Harbor webhook payload: {e}"
        ))
    })?;
    too_many(harbor.event_data.resources.len())?;
    let deleted = match harbor.kind.as_str() {
        "PUSH_ARTIFACT" => false,
        "DELETE_ARTIFACT" => true,
        _ => return Ok(Vec::new()),
    };
    let repository = harbor.event_data.repository.repo_full_name;
    Ok(harbor
        .event_data
        .resources
        .into_iter()
        .filter_map(|r| {
            let reference = if r.tag.is_empty() {
                r.digest.clone()
            } else {
                r.tag
            };
            (!reference.is_empty() && (deleted || !reference.starts_with("sha256:"))).then(|| {
                SourceEvent {
                    id: format!(
                        "{}-{}-{repository}-{}-{reference}",
                        harbor.kind, harbor.occur_at, r.digest
                    ),
                    event: ArtifactEvent {
                        repository: repository.clone(),
                        reference,
                        deleted,
                    },
                }
            })
        })
        .collect())
}

/// Whether an event-based policy from `registry_id` wants the event: enabled, from that
/// registry, deletions only with `replicate_deletion`, its name filters accept the repository
/// and its tag filters the tag (a digest, and labels and kinds, are the lister's to judge).
pub fn concerns(policy: &ReplicationPolicy, registry_id: i64, event: &ArtifactEvent) -> bool {
    policy.enabled
        && policy
            .trigger
            .as_ref()
            .is_some_and(|t| t.kind == TriggerType::EventBased)
        && policy.src_registry_id() == registry_id
        && (!event.deleted || policy.replicates_deletion())
        && Selection::of(&policy.filters).is_ok_and(|s| {
            s.repository(&event.repository)
                && (event.reference.contains(':') || s.tag(&event.reference))
        })
}

/// Starts an execution of each policy the events concern, once per event and policy; the ids
/// of the executions started.
pub async fn start_for_events(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    policies: &[ReplicationPolicy],
    registry_id: i64,
    events: &[SourceEvent],
) -> Result<Vec<i64>, StartError> {
    let mut started = Vec::new();
    for source in events {
        for policy in policies
            .iter()
            .filter(|p| concerns(p, registry_id, &source.event))
        {
            let once = format!("event#{registry_id}#{}#{}", policy.id, source.id);
            match start_execution(
                store,
                queue,
                policy.id,
                TriggerType::EventBased,
                (!source.id.is_empty()).then_some(once.as_str()),
                Some(&source.event),
            )
            .await
            {
                Ok(Started::Running(e) | Started::Skipped(e)) => started.push(e.id),
                Ok(Started::Duplicate) | Err(StartError::Disabled(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_notifications_become_tag_pushes_and_deletes() {
        let body = br#"{"events":[
            {"id":"1","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","repository":"team/app","tag":"v1"}},
            {"id":"2","action":"push","target":{"mediaType":"application/octet-stream","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","repository":"team/app"}},
            {"id":"3","action":"pull","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","repository":"team/app","tag":"v1"}},
            {"id":"4","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","repository":"team/app"}},
            {"id":"5","action":"delete","target":{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","repository":"team/app"}}
        ]}"#;
        let events = parse_webhook(body).expect("parsed");
        assert_eq!(
            events,
            vec![
                SourceEvent {
                    id: "1".into(),
                    event: ArtifactEvent {
                        repository: "team/app".into(),
                        reference: "v1".into(),
                        deleted: false
                    }
                },
                SourceEvent {
                    id: "5".into(),
                    event: ArtifactEvent {
                        repository: "team/app".into(),
                        reference: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
                        deleted: true
                    }
                },
            ]
        );
    }

    #[test]
    fn harbor_payloads_become_tag_pushes_and_deletes() {
        let body = br#"{"type":"DELETE_ARTIFACT","occur_at":1700000000,"operator":"admin",
            "event_data":{"resources":[{"digest":"sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd","tag":"1.0","resource_url":"h/library/app:1.0"}],
            "repository":{"name":"app","namespace":"library","repo_full_name":"library/app","repo_type":"private"}}}"#;
        let events = parse_webhook(body).expect("parsed");
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].event,
            ArtifactEvent {
                repository: "library/app".into(),
                reference: "1.0".into(),
                deleted: true
            }
        );
        assert!(parse_webhook(
            br#"{"type":"SCANNING_COMPLETED","event_data":{"repository":{"repo_full_name":"a"}}}"#
        )
        .expect("parsed")
        .is_empty());
        assert!(parse_webhook(b"not json").is_err());
    }

    #[test]
    fn names_that_are_not_valid_refuse_the_body() {
        let bad_tag = br#"{"events":[{"id":"1","action":"delete","target":{"repository":"team/app","tag":"../../../victim/app/manifests/latest"}}]}"#;
        let error = parse_webhook(bad_tag).expect_err("refused").to_string();
        assert!(error.contains("tag"), "{error}");
        let bad_repository = br#"{"events":[{"id":"1","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"../victim","tag":"v1"}}]}"#;
        assert!(parse_webhook(bad_repository)
            .expect_err("refused")
            .to_string()
            .contains("repository"));
    }

    #[test]
    fn a_body_over_the_limit_is_refused_and_events_without_ids_get_one() {
        let event = |i: usize| {
            format!(
                r#"{{"action":"push","timestamp":"2026-11-29T06:00:0{}Z","target":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"team/app","tag":"v{i}"}}}}"#,
                i % 10
            )
        };
        let body = |n: usize| {
            format!(
                r#"{{"events":[{}]}}"#,
                (0..n).map(event).collect::<Vec<_>>().join(",")
            )
        };
        assert_eq!(
            parse_webhook(body(MAX_EVENTS).as_bytes()).map(|e| e.len()),
            Ok(MAX_EVENTS)
        );
        assert_eq!(
            parse_webhook(body(5000).as_bytes()),
            Err(WebhookError::TooMany {
                count: 5000,
                max: MAX_EVENTS
            })
        );
        let events = parse_webhook(body(2).as_bytes()).expect("parsed");
        assert!(events.iter().all(|e| !e.id.is_empty()));
        assert_ne!(events[0].id, events[1].id);
        assert_eq!(
            events,
            parse_webhook(body(2).as_bytes()).expect("again"),
            "a replay has the same ids"
        );
    }
}
