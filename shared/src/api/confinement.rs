//! A namespace robot (Harbor's project robot) confined to its namespace: which policies and
//! executions it may see and touch. The rules are the model's ([`crate::model::scope`]); this
//! maps them to 403s with the reason. Admins and system robots pass every check.

use serde::Serialize;

use super::access::Caller;
use super::errors::ApiError;
use super::Api;
use crate::model::scope::{namespace_access, namespace_may_write, NamespaceAccess};
use crate::model::{Execution, ReplicationPolicy};
use crate::ports::store::StoreError;

/// A policy as a caller sees it: Ferry's `read_only` is shown (true) to a namespace robot
/// reading a system policy that refers to its namespace; it is never stored.
#[derive(Debug, Serialize)]
pub struct PolicyView {
    #[serde(flatten)]
    pub policy: ReplicationPolicy,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

/// How `caller` may see `policy`: None when not at all, else whether read-only.
pub fn visibility(caller: &Caller, policy: &ReplicationPolicy) -> Option<bool> {
    let Some(namespace) = caller.namespace() else {
        return Some(false);
    };
    match namespace_access(policy, namespace) {
        NamespaceAccess::Manage => Some(false),
        NamespaceAccess::ReadOnly => Some(true),
        NamespaceAccess::None => None,
    }
}

/// A 403 unless `caller` may manage (update, delete, run) the stored `policy`.
pub fn may_manage(caller: &Caller, policy: &ReplicationPolicy) -> Result<(), ApiError> {
    let Some(namespace) = caller.namespace() else {
        return Ok(());
    };
    match namespace_access(policy, namespace) {
        NamespaceAccess::Manage => Ok(()),
        NamespaceAccess::ReadOnly => Err(ApiError::forbidden(format!(
            "policy {} is a system policy: read-only for robots of namespace {namespace}",
            policy.id
        ))),
        NamespaceAccess::None => Err(ApiError::forbidden(format!(
            "policy {} is not a policy of namespace {namespace}",
            policy.id
        ))),
    }
}

/// A 403 unless `caller` may write `policy` as sent (a create's or an update's body).
pub fn may_write(caller: &Caller, policy: &ReplicationPolicy) -> Result<(), ApiError> {
    match caller.namespace() {
        Some(namespace) => namespace_may_write(policy, namespace).map_err(ApiError::forbidden),
        None => Ok(()),
    }
}

impl Api {
    /// The policy, when `caller` may manage it (404 when there is none).
    pub(super) async fn managed_policy(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<ReplicationPolicy, ApiError> {
        let policy = self.store.get_policy(id).await?;
        may_manage(caller, &policy)?;
        Ok(policy)
    }

    /// The execution, when `caller` may manage its policy. A namespace robot is refused the
    /// executions of a policy that no longer exists: nothing says whose they were.
    pub(super) async fn managed_execution(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<Execution, ApiError> {
        let execution = self.store.get_execution(id).await?;
        let Some(namespace) = caller.namespace() else {
            return Ok(execution);
        };
        match self.store.get_policy(execution.policy_id).await {
            Ok(policy) => may_manage(caller, &policy)
                .map_err(|_| {
                    ApiError::forbidden(format!(
                        "execution {id} is of policy {}, which is not a policy of namespace {namespace}",
                        execution.policy_id
                    ))
                })
                .map(|()| execution),
            Err(StoreError::NotFound { .. }) => Err(ApiError::forbidden(format!(
                "execution {id} is of policy {}, which no longer exists: only the admin and system robots may see it",
                execution.policy_id
            ))),
            Err(e) => Err(e.into()),
        }
    }
}
