//! A policy's `prepare_replication` handlers: kept in the policy's record, changed through the
//! store's conditional read-change-write so two changes at once lose neither.

use crate::model::handler::{ReplicationHandler, MAX_HANDLERS};
use crate::model::{ReplicationPolicy, ValidationError};
use crate::ports::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum HandlerRefused {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("policy {policy_id} has no handler {handler_id}")]
    NotFound { policy_id: i64, handler_id: i64 },
}

pub async fn list_handlers(
    store: &dyn Store,
    policy_id: i64,
) -> Result<Vec<ReplicationHandler>, HandlerRefused> {
    Ok(store.get_policy(policy_id).await?.handlers)
}

pub async fn get_handler(
    store: &dyn Store,
    policy_id: i64,
    handler_id: i64,
) -> Result<ReplicationHandler, HandlerRefused> {
    list_handlers(store, policy_id)
        .await?
        .into_iter()
        .find(|h| h.id == handler_id)
        .ok_or(HandlerRefused::NotFound {
            policy_id,
            handler_id,
        })
}

/// Adds `handler` (validated) to the policy with the next id; the handler as stored.
pub async fn add_handler(
    store: &dyn Store,
    policy_id: i64,
    handler: &ReplicationHandler,
) -> Result<ReplicationHandler, HandlerRefused> {
    handler.validate()?;
    let updated = store
        .update_policy(policy_id, &|policy: &mut ReplicationPolicy| {
            if policy.handlers.len() >= MAX_HANDLERS {
                return Err(ValidationError::new(
                    "handler",
                    format!("a policy has at most {MAX_HANDLERS} handlers"),
                ));
            }
            let id = policy.handlers.iter().map(|h| h.id).max().unwrap_or(0) + 1;
            policy.handlers.push(ReplicationHandler {
                id,
                ..handler.clone()
            });
            Ok(())
        })
        .await?;
    updated
        .handlers
        .last()
        .cloned()
        .ok_or(HandlerRefused::NotFound {
            policy_id,
            handler_id: 0,
        })
}

/// Replaces handler `handler_id` of the policy with `handler` (validated), keeping its id.
pub async fn update_handler(
    store: &dyn Store,
    policy_id: i64,
    handler_id: i64,
    handler: &ReplicationHandler,
) -> Result<(), HandlerRefused> {
    handler.validate()?;
    change(store, policy_id, handler_id, &|handlers, at| {
        handlers[at] = ReplicationHandler {
            id: handler_id,
            ..handler.clone()
        };
    })
    .await
}

pub async fn delete_handler(
    store: &dyn Store,
    policy_id: i64,
    handler_id: i64,
) -> Result<(), HandlerRefused> {
    change(store, policy_id, handler_id, &|handlers, at| {
        handlers.remove(at);
    })
    .await
}

/// Applies `edit` to the policy's handlers at the position of `handler_id`; a handler that is
/// not there is NotFound, and nothing is written.
async fn change(
    store: &dyn Store,
    policy_id: i64,
    handler_id: i64,
    edit: &(dyn Fn(&mut Vec<ReplicationHandler>, usize) + Send + Sync),
) -> Result<(), HandlerRefused> {
    // Found in the record read, so a handler deleted meanwhile is not edited.
    let missing = "no such handler";
    let result = store
        .update_policy(policy_id, &|policy: &mut ReplicationPolicy| {
            let at = policy
                .handlers
                .iter()
                .position(|h| h.id == handler_id)
                .ok_or_else(|| ValidationError::new("handler_id", missing))?;
            edit(&mut policy.handlers, at);
            Ok(())
        })
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(StoreError::Invalid(e)) if e.field == "handler_id" && e.reason == missing => {
            Err(HandlerRefused::NotFound {
                policy_id,
                handler_id,
            })
        }
        Err(e) => Err(e.into()),
    }
}
