//! `/replication/policies/{id}/handlers` (Ferry's addition, seed 000): a policy's
//! `prepare_replication` handlers. The lifecycle is the use case's; this maps HTTP.

use bytes::Bytes;
use http::{Response, StatusCode};

use super::access::Caller;
use super::confinement::{may_manage, visibility};
use super::errors::ApiError;
use super::{created, json, parse_body, Api};
use crate::model::ReplicationHandler;
use crate::replication::handlers::{
    add_handler, delete_handler, get_handler, list_handlers, update_handler,
};

impl Api {
    /// A 403 unless `caller` may see the policy (a namespace robot: its own, or a system policy
    /// that refers to its namespace); handlers are read as their policy is.
    async fn may_read_handlers(&self, caller: &Caller, policy_id: i64) -> Result<(), ApiError> {
        let policy = self.store.get_policy(policy_id).await?;
        match visibility(caller, &policy) {
            Some(_) => Ok(()),
            None => may_manage(caller, &policy),
        }
    }

    /// A 403 unless `caller` may change the policy's handlers: the admin and system robots
    /// only. A handler is called with the destination registry's own credential, so a
    /// namespace robot registering one could have Ferry POST anywhere on that registry as
    /// its account; it may read them.
    async fn may_change_handlers(&self, caller: &Caller, policy_id: i64) -> Result<(), ApiError> {
        let policy = self.managed_policy(caller, policy_id).await?;
        match caller.namespace() {
            None => Ok(()),
            Some(namespace) => Err(ApiError::forbidden(format!(
                "policy {}'s handlers are called with the destination registry's credential: \
                 only the admin and system robots may change them, not robots of namespace {namespace}",
                policy.id
            ))),
        }
    }

    pub(super) async fn list_handlers(
        &self,
        caller: &Caller,
        policy_id: i64,
    ) -> Result<Response<Bytes>, ApiError> {
        self.may_read_handlers(caller, policy_id).await?;
        let handlers = list_handlers(self.store.as_ref(), policy_id).await?;
        Ok(json(StatusCode::OK, &handlers))
    }

    pub(super) async fn create_handler(
        &self,
        caller: &Caller,
        policy_id: i64,
        body: &Bytes,
    ) -> Result<Response<Bytes>, ApiError> {
        self.may_change_handlers(caller, policy_id).await?;
        let handler: ReplicationHandler = parse_body(body)?;
        let stored = add_handler(self.store.as_ref(), policy_id, &handler).await?;
        Ok(created(&format!(
            "/replication/policies/{policy_id}/handlers/{}",
            stored.id
        )))
    }

    pub(super) async fn get_handler(
        &self,
        caller: &Caller,
        policy_id: i64,
        handler_id: i64,
    ) -> Result<Response<Bytes>, ApiError> {
        self.may_read_handlers(caller, policy_id).await?;
        let handler = get_handler(self.store.as_ref(), policy_id, handler_id).await?;
        Ok(json(StatusCode::OK, &handler))
    }

    pub(super) async fn update_handler(
        &self,
        caller: &Caller,
        policy_id: i64,
        handler_id: i64,
        body: &Bytes,
    ) -> Result<Response<Bytes>, ApiError> {
        self.may_change_handlers(caller, policy_id).await?;
        let handler: ReplicationHandler = parse_body(body)?;
        update_handler(self.store.as_ref(), policy_id, handler_id, &handler).await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    pub(super) async fn delete_handler(
        &self,
        caller: &Caller,
        policy_id: i64,
        handler_id: i64,
    ) -> Result<Response<Bytes>, ApiError> {
        self.may_change_handlers(caller, policy_id).await?;
        delete_handler(self.store.as_ref(), policy_id, handler_id).await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }
}
