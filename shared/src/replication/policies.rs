//! A policy's lifecycle: validated, stored, and its schedule kept in step with it. A scheduled
//! policy is never left without its schedule: a create whose schedule fails is undone.

use super::schedule::{schedule_of, sync_schedule};
use crate::model::artifact_types::ArtifactTypes;
use crate::model::scope::overlapping_system_policy;
use crate::model::{ExecutionStatus, Registry, ReplicationPolicy, ValidationError};
use crate::ports::schedules::{PolicySchedules, ScheduleError};
use crate::ports::store::{collect_pages, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PolicyRefused {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The scheduler failed; `outcome` says what became of the policy.
    #[error("{error}; {outcome}")]
    Schedule {
        error: ScheduleError,
        outcome: &'static str,
    },
    #[error("policy {policy_id} has execution {execution_id} in progress; stop it first")]
    Running { policy_id: i64, execution_id: i64 },
    /// A namespace policy would replicate what a system policy already replicates to the
    /// same destination registry (seed 001: namespace policies may not overlap system ones).
    #[error("namespace {namespace} is already replicated to destination registry {registry_id} by system policy {policy_id} ({policy_name:?}); a namespace policy may not overlap a system policy")]
    Overlaps {
        namespace: String,
        registry_id: i64,
        policy_id: i64,
        policy_name: String,
    },
}

/// Fills a side left empty (or 0) with the home registry, or says there is none, and writes
/// both names of the deletion flag.
pub fn with_home_registry(
    mut policy: ReplicationPolicy,
    home_registry: Option<i64>,
) -> Result<ReplicationPolicy, ValidationError> {
    policy.normalize_deletion();
    policy.normalize_scope();
    for (field, side) in [
        ("src_registry", &mut policy.src_registry),
        ("dest_registry", &mut policy.dest_registry),
    ] {
        if side.as_ref().is_none_or(|r| r.id == 0) {
            let home = home_registry.ok_or_else(|| {
                ValidationError::new(
                    field,
                    "is required: no home registry is configured (FERRY_HOME_REGISTRY_ID)",
                )
            })?;
            *side = Some(Registry {
                id: home,
                ..Registry::default()
            });
        }
    }
    Ok(policy)
}

/// A resource filter names a type Ferry knows: built in, or registered in processors.yaml.
pub fn check_filter_types(
    policy: &ReplicationPolicy,
    types: &ArtifactTypes,
) -> Result<(), ValidationError> {
    let selection = crate::model::Selection::of(&policy.filters)?;
    if let Some(kind) = selection.resource_type() {
        let index = policy
            .filters
            .iter()
            .position(|f| f.kind == crate::model::FilterType::Resource)
            .unwrap_or_default();
        types.check_filter(&format!("filters[{index}].value"), kind)?;
    }
    Ok(())
}

/// The policy checked on its own, including that its cron is one the scheduler can express.
fn validate(policy: &ReplicationPolicy) -> Result<(), ValidationError> {
    policy.validate()?;
    schedule_of(policy)
        .map(|_| ())
        .map_err(|reason| ValidationError::new("trigger.trigger_settings.cron", reason))
}

/// Refuses a namespace policy that overlaps a system policy. Checked against the policies
/// stored now: two creates racing could both pass, as with Harbor.
async fn refuse_overlap(
    store: &dyn Store,
    candidate: &ReplicationPolicy,
) -> Result<(), PolicyRefused> {
    if candidate.scope.is_system() {
        return Ok(());
    }
    let policies =
        collect_pages(|cursor| async move { store.list_policies(cursor.as_deref(), 1000).await })
            .await?;
    match overlapping_system_policy(candidate, &policies) {
        Some(system) => Err(PolicyRefused::Overlaps {
            namespace: candidate.namespace.clone(),
            registry_id: candidate.dest_registry_id(),
            policy_id: system.id,
            policy_name: system.name.clone(),
        }),
        None => Ok(()),
    }
}

pub async fn create_policy(
    store: &dyn Store,
    schedules: &dyn PolicySchedules,
    policy: &ReplicationPolicy,
) -> Result<ReplicationPolicy, PolicyRefused> {
    validate(policy)?;
    refuse_overlap(store, policy).await?;
    // Handlers are added through their own routes, once the policy has an id.
    let policy = ReplicationPolicy {
        handlers: Vec::new(),
        ..policy.clone()
    };
    let stored = store.create_policy(&policy).await?;
    if let Err(error) = sync_schedule(schedules, &stored).await {
        // Not half-written: a scheduled policy without its schedule would never run.
        store.delete_policy(stored.id).await?;
        return Err(PolicyRefused::Schedule {
            error,
            outcome: "the policy was not created",
        });
    }
    Ok(stored)
}

/// Replaces the policy with `wanted`, keeping its id, creation time and handlers (which a
/// Harbor client's update does not know of).
pub async fn update_policy(
    store: &dyn Store,
    schedules: &dyn PolicySchedules,
    id: i64,
    wanted: &ReplicationPolicy,
) -> Result<ReplicationPolicy, PolicyRefused> {
    validate(wanted)?;
    let mut candidate = wanted.clone();
    candidate.id = id;
    refuse_overlap(store, &candidate).await?;
    let updated = store
        .update_policy(id, &|current: &mut ReplicationPolicy| {
            let (created_at, id) = (current.creation_time, current.id);
            let handlers = std::mem::take(&mut current.handlers);
            *current = wanted.clone();
            current.id = id;
            current.creation_time = created_at;
            current.handlers = handlers;
            Ok(())
        })
        .await?;
    // Put again by saving again: the schedule follows the stored policy either way.
    sync_schedule(schedules, &updated)
        .await
        .map_err(|error| PolicyRefused::Schedule {
            error,
            outcome: "the policy is saved; save it again to retry",
        })?;
    Ok(updated)
}

/// Deletes a policy with no execution in progress, its schedule first.
pub async fn delete_policy(
    store: &dyn Store,
    schedules: &dyn PolicySchedules,
    id: i64,
) -> Result<(), PolicyRefused> {
    store.get_policy(id).await?;
    let executions = collect_pages(|cursor| async move {
        store
            .list_executions(Some(id), cursor.as_deref(), 100)
            .await
    })
    .await?;
    if let Some(running) = executions
        .iter()
        .find(|e| e.status == ExecutionStatus::InProgress)
    {
        return Err(PolicyRefused::Running {
            policy_id: id,
            execution_id: running.id,
        });
    }
    schedules
        .delete_schedule(id)
        .await
        .map_err(|error| PolicyRefused::Schedule {
            error,
            outcome: "the policy was not deleted",
        })?;
    store.delete_policy(id).await?;
    Ok(())
}
