//! Pulls a destination registry's webhook tells of (distribution's `pull` notifications,
//! Harbor's `PULL_ARTIFACT`): for the auto-sync policies with `on_pull_event` into that
//! registry, the pulled tag is synced from the source again, once per event, and at most once
//! per claim window per tag (so Ferry's own reads of the destination, which it notifies too,
//! cannot feed a loop).

use std::time::Duration;

use super::claim_key;
use crate::messages::ArtifactEvent;
use crate::model::auto_sync::{owner_of, Owner};
use crate::model::{ReplicationPolicy, TriggerType};
use crate::oci::{media, Reference, Repository, Tag};
use crate::ports::queue::MessageQueue;
use crate::ports::store::Store;
use crate::replication::events::MAX_EVENTS;
use crate::replication::payloads::{Envelope, HarborPayload};
use crate::replication::start::{start_execution, StartError, Started};

/// A tag pulled at the destination: the event's id, the destination repository and tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub id: String,
    pub repository: Repository,
    pub tag: Tag,
}

/// Ferry's own reads of the destination (a transfer's checks, the pull endpoint's reads) say
/// so in their user agent; their notifications start nothing (the pull endpoint syncs itself).
fn by_ferry(user_agent: &str) -> bool {
    user_agent.starts_with("ferry/")
}

/// The tag pulls a webhook body tells of; pulls by digest (an index's children, blobs), Ferry's
/// own pulls and names that are not valid are passed over (the body's pushes and deletes are
/// [`crate::replication::events::parse_webhook`]'s). At most [`MAX_EVENTS`] are read.
pub fn parse_pulls(body: &[u8]) -> Vec<Pulled> {
    let valid = |id: String, repository: &str, tag: &str| {
        Some(Pulled {
            id,
            repository: Repository::parse(repository).ok()?,
            tag: Tag::parse(tag).ok()?,
        })
    };
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        return envelope
            .events
            .into_iter()
            .take(MAX_EVENTS)
            .filter(|e| {
                e.action == "pull"
                    && !by_ferry(&e.request.useragent)
                    && !e.id.is_empty()
                    && !e.target.tag.is_empty()
                    && (e.target.media_type.is_empty() || media::is_manifest(&e.target.media_type))
            })
            .filter_map(|e| valid(e.id, &e.target.repository, &e.target.tag))
            .collect();
    }
    let Ok(harbor) = serde_json::from_slice::<HarborPayload>(body) else {
        return Vec::new();
    };
    if harbor.kind != "PULL_ARTIFACT" {
        return Vec::new();
    }
    let repository = harbor.event_data.repository.repo_full_name;
    harbor
        .event_data
        .resources
        .into_iter()
        .take(MAX_EVENTS)
        .filter(|r| !r.tag.is_empty())
        .filter_map(|r| {
            let id = format!(
                "PULL_ARTIFACT-{}-{repository}-{}-{}",
                harbor.occur_at, r.digest, r.tag
            );
            valid(id, &repository, &r.tag)
        })
        .collect()
}

/// Starts, for each pulled tag, the sync of the auto-sync policy that owns its name among
/// those with `on_pull_event` into `registry_id`; the ids of the executions started.
pub async fn start_for_pulls(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    policies: &[ReplicationPolicy],
    registry_id: i64,
    pulls: &[Pulled],
    window: Duration,
) -> Result<Vec<i64>, StartError> {
    let candidates: Vec<ReplicationPolicy> = policies
        .iter()
        .filter(|p| p.auto_sync.on_pull_event && p.dest_registry_id() == registry_id)
        .cloned()
        .collect();
    let mut started = Vec::new();
    for pulled in pulls {
        let Some(owner) = owner_of(&candidates, &pulled.repository) else {
            continue;
        };
        let reference = Reference::Tag(pulled.tag.clone());
        if !owner.policy.syncs_reference(&reference) {
            continue;
        }
        let once = format!("pull-event#{registry_id}#{}#{}", owner.policy.id, pulled.id);
        let id =
            sync_once_per_window(store, queue, &owner, &reference, window, Some(&once)).await?;
        started.extend(id);
    }
    Ok(started)
}

/// Starts the owner's sync of one tag unless one was started for it in this window (and,
/// with `once`, unless this event started one); the execution's id when it started.
pub(super) async fn sync_once_per_window(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    owner: &Owner<'_>,
    reference: &Reference,
    window: Duration,
    once: Option<&str>,
) -> Result<Option<i64>, StartError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let window_key = claim_key(owner.policy.id, &owner.source, reference, window, now);
    if !store
        .claim_once_until(&window_key, super::claim_expiry(window))
        .await?
    {
        tracing::info!(policy_id = owner.policy.id, tag = %reference, "synced in this window already");
        return Ok(None);
    }
    let event = ArtifactEvent {
        repository: owner.source.to_string(),
        reference: reference.to_string(),
        deleted: false,
    };
    let result = start_execution(
        store,
        queue,
        owner.policy.id,
        TriggerType::EventBased,
        once,
        Some(&event),
    )
    .await;
    match result {
        Ok(Started::Running(e) | Started::Skipped(e)) => {
            tracing::info!(execution_id = e.id, policy_id = owner.policy.id, tag = %reference, "sync on pull");
            Ok(Some(e.id))
        }
        Ok(Started::Duplicate) | Err(StartError::Disabled(_)) => Ok(None),
        Err(e) => {
            if let Err(released) = store.release_claim(&window_key).await {
                tracing::warn!(error = %released, key = window_key, "claim not released");
            }
            Err(e)
        }
    }
}
