//! Starting an execution of a policy: the record, then the first list message.

use crate::messages::{ArtifactEvent, ListMessage};
use crate::model::notification::ReplicationEventKind;
use crate::model::{Execution, ExecutionStatus, RegistryStatus, TriggerType};
use crate::ports::queue::MessageQueue;
use crate::ports::store::{Launch, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("policy {0} is disabled")]
    Disabled(i64),
    #[error("execution {execution_id} could not be queued for listing: {message}")]
    Queue { execution_id: i64, message: String },
}

/// What a start did.
#[derive(Debug)]
pub enum Started {
    Running(Execution),
    /// Recorded and ended at once: Stopped, for `single_active_replication` and an execution
    /// still running; Failed, for a destination the health monitor found unhealthy.
    Skipped(Execution),
    /// This firing (or event) was handled before: a duplicate delivery.
    Duplicate,
}

/// Creates an execution of `policy_id` and asks the lister to list its source. When the list
/// message cannot be sent the execution ends Failed with the reason, so none is left running.
/// `once` names the firing or event that asks, so asking twice starts once; `event` narrows the
/// execution to the one artifact an event named.
pub async fn start_execution(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    policy_id: i64,
    trigger: TriggerType,
    once: Option<&str>,
    event: Option<&ArtifactEvent>,
) -> Result<Started, StartError> {
    let policy = store.get_policy(policy_id).await?;
    if !policy.enabled {
        return Err(StartError::Disabled(policy_id));
    }
    if let Some(key) = once {
        if !store.claim_once(key).await? {
            tracing::info!(policy_id, key, "already started for this firing");
            return Ok(Started::Duplicate);
        }
    }
    let launch = event.map_or(Launch::Listing, |e| Launch::Event(e.clone()));
    let started = start_claimed(store, queue, &policy, trigger, &launch).await;
    if let (Err(_), Some(key)) = (&started, once) {
        // Let a redelivery of the firing try again.
        if let Err(e) = store.release_claim(key).await {
            tracing::warn!(error = %e, key, "claim not released");
        }
    }
    started
}

/// Starts a plan of `policy_id` (a dry run, Ferry's addition): an execution that lists and
/// filters exactly as a manual one would and records what each artifact would come to, writing
/// nothing to the destination. A plan holds no place of `single_active_replication`.
pub async fn start_plan(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    policy_id: i64,
) -> Result<Started, StartError> {
    let policy = store.get_policy(policy_id).await?;
    start_claimed(store, queue, &policy, TriggerType::Manual, &Launch::Plan).await
}

async fn start_claimed(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    policy: &crate::model::ReplicationPolicy,
    trigger: TriggerType,
    launch: &Launch,
) -> Result<Started, StartError> {
    let policy_id = policy.id;
    let event = match launch {
        Launch::Event(event) => Some(event),
        _ => None,
    };
    // A pruning policy's execution has one piece more, closed when its prune is written: it
    // cannot finish before the prune ran, which waits for every other piece.
    let pieces = 1 + i64::from(super::prune::prunes(policy, event));
    let execution = store
        .create_execution(policy_id, trigger, pieces, launch)
        .await?;
    if policy.single_active_replication && !execution.dry_run {
        // Claimed after the record exists, so of two starts at once exactly one runs.
        if let Some(running) = store.claim_active(policy_id, execution.id).await? {
            let reason = format!(
                "skipped: execution {running} of this policy is still running and the policy allows one at a time (single_active_replication)"
            );
            super::notify::end_announced(
                store,
                queue,
                execution.id,
                ExecutionStatus::Stopped,
                &reason,
            )
            .await?;
            tracing::info!(
                execution_id = execution.id,
                policy_id,
                running,
                "execution skipped"
            );
            let skipped = store.get_execution(execution.id).await?;
            return Ok(Started::Skipped(skipped));
        }
    }
    if let Some(reason) = unhealthy_destination(store, policy).await {
        super::notify::end_announced(store, queue, execution.id, ExecutionStatus::Failed, &reason)
            .await?;
        tracing::warn!(
            execution_id = execution.id,
            policy_id,
            reason,
            "execution failed at once"
        );
        return Ok(Started::Skipped(store.get_execution(execution.id).await?));
    }
    send_first_listing(store, queue, &execution, event).await?;
    super::notify::announce(
        queue,
        ReplicationEventKind::ExecutionStarted,
        execution.id,
        None,
    )
    .await;
    tracing::info!(
        execution_id = execution.id,
        policy_id,
        trigger = trigger.as_str(),
        "execution started"
    );
    Ok(Started::Running(execution))
}

/// Why the policy's destination cannot take a replication now, when the health monitor found
/// it unhealthy: an execution then fails at once with the reason rather than task by task. A
/// registry that cannot be read is left to the lister, which says why.
async fn unhealthy_destination(
    store: &dyn Store,
    policy: &crate::model::ReplicationPolicy,
) -> Option<String> {
    let id = policy.dest_registry_id();
    if id <= 0 {
        return None;
    }
    let registry = store.get_registry(id).await.ok()?;
    if registry.status != RegistryStatus::Unhealthy {
        return None;
    }
    let health = registry.health.as_ref();
    let reason = health
        .and_then(|h| h.reason.as_deref())
        .unwrap_or("no reason recorded");
    let since = health
        .and_then(|h| {
            h.checked_time
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "an earlier check".into());
    Some(format!(
        "the destination registry {} ({}) is unhealthy (checked at {since}): {reason}",
        registry.name, registry.url
    ))
}

/// Sends the message that lists an execution's source (or its one event's artifact); when it
/// cannot be sent the execution ends Failed with the reason. The reaper sends it again for an
/// execution whose starter died before sending it.
pub(crate) async fn send_first_listing(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    execution: &Execution,
    event: Option<&ArtifactEvent>,
) -> Result<(), StartError> {
    let message = ListMessage {
        correlation_id: crate::telemetry::correlation_id(),
        execution_id: execution.id,
        policy_id: execution.policy_id,
        start_after: None,
        event: event.cloned(),
        resume: None,
    };
    if let Err(e) = queue.send_list(&[message]).await {
        let reason = format!("could not queue the listing: {e}");
        super::notify::end_announced(store, queue, execution.id, ExecutionStatus::Failed, &reason)
            .await?;
        return Err(StartError::Queue {
            execution_id: execution.id,
            message: e.to_string(),
        });
    }
    Ok(())
}
