//! `/replication/policies`. Any registry to any registry: a side left empty (or 0) means the
//! home registry configured at deploy time. The lifecycle is the use case's; this maps HTTP.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::access::Caller;
use super::confinement::{may_manage, may_write, visibility, PolicyView};
use super::errors::ApiError;
use super::listing::{ListRequest, ListSpec};
use super::{created, json, parse_body, Api};
use crate::model::scope::refers_to_namespace;
use crate::model::{PolicyScope, Registry, ReplicationPolicy};
use crate::ports::store::{collect_pages, StoreError};
use crate::replication::policies::{
    check_filter_types, create_policy, delete_policy, update_policy, with_home_registry,
};

const POLICIES: ListSpec = ListSpec {
    query: Some(&[
        "id",
        "name",
        "description",
        "enabled",
        "src_registry.id",
        "dest_registry.id",
        // Ferry's: applied by the handler (a system policy shows no scope; `namespace` also
        // finds the system policies that refer to the namespace).
        "scope",
        "namespace",
    ]),
    sort: &["id", "name", "creation_time", "update_time"],
    default_sort: "id",
};

impl Api {
    /// The policy as Harbor returns it: with both registries embedded, secrets masked.
    async fn embed_registries(
        &self,
        mut policy: ReplicationPolicy,
        cache: &mut HashMap<i64, Registry>,
    ) -> Result<ReplicationPolicy, ApiError> {
        for side in [&mut policy.src_registry, &mut policy.dest_registry] {
            if let Some(reference) = side.as_ref() {
                let id = reference.id;
                if let Entry::Vacant(slot) = cache.entry(id) {
                    match self.store.get_registry(id).await {
                        Ok(registry) => {
                            slot.insert(registry);
                        }
                        Err(StoreError::NotFound { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                *side = cache.get(&id).cloned();
            }
        }
        Ok(policy)
    }

    /// The body as a policy, its empty sides filled with the home registry.
    fn policy_of(&self, body: &Bytes) -> Result<ReplicationPolicy, ApiError> {
        let policy = with_home_registry(parse_body(body)?, self.home_registry)?;
        check_filter_types(&policy, &self.types)?;
        Ok(policy)
    }

    pub(super) async fn list_policies(
        &self,
        caller: &Caller,
        query: Option<&str>,
        path: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let mut request = ListRequest::parse(query, &POLICIES)?;
        let scope = match request.take_exact("scope")?.as_deref() {
            None => None,
            Some("system") => Some(PolicyScope::System),
            Some("namespace") => Some(PolicyScope::Namespace),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "q: scope {other:?} is not one of system, namespace"
                )))
            }
        };
        let namespace = request.take_exact("namespace")?;
        let name = request.param("name").unwrap_or_default();
        let policies = collect_pages(|cursor| async move {
            self.store.list_policies(cursor.as_deref(), 1000).await
        })
        .await?;
        let mut cache = HashMap::new();
        let mut items = Vec::new();
        for policy in policies.into_iter().filter(|p| {
            p.name.contains(name)
                && scope.is_none_or(|s| p.scope == s)
                && namespace
                    .as_deref()
                    .is_none_or(|ns| refers_to_namespace(p, ns))
        }) {
            let Some(read_only) = visibility(caller, &policy) else {
                continue;
            };
            items.push(PolicyView {
                policy: self.embed_registries(policy, &mut cache).await?,
                read_only,
            });
        }
        Ok(request.answer(items, path))
    }

    pub(super) async fn create_policy(
        &self,
        caller: &Caller,
        body: &Bytes,
    ) -> Result<Response<Bytes>, ApiError> {
        let policy = self.policy_of(body)?;
        may_write(caller, &policy)?;
        let stored = create_policy(self.store.as_ref(), self.schedules.as_ref(), &policy).await?;
        Ok(created(&format!("/replication/policies/{}", stored.id)))
    }

    pub(super) async fn get_policy(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<Response<Bytes>, ApiError> {
        let policy = self.store.get_policy(id).await?;
        let Some(read_only) = visibility(caller, &policy) else {
            return Err(may_manage(caller, &policy).err().unwrap_or_else(|| {
                ApiError::forbidden(format!("policy {id} is not visible to this caller"))
            }));
        };
        let policy = self.embed_registries(policy, &mut HashMap::new()).await?;
        Ok(json(StatusCode::OK, &PolicyView { policy, read_only }))
    }

    pub(super) async fn update_policy(
        &self,
        caller: &Caller,
        id: i64,
        body: &Bytes,
    ) -> Result<Response<Bytes>, ApiError> {
        let wanted = self.policy_of(body)?;
        // Checked against the stored policy first: a namespace robot cannot take over a
        // system policy by sending a namespace-scoped body.
        if caller.namespace().is_some() {
            self.managed_policy(caller, id).await?;
        }
        may_write(caller, &wanted)?;
        update_policy(self.store.as_ref(), self.schedules.as_ref(), id, &wanted).await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    pub(super) async fn delete_policy(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<Response<Bytes>, ApiError> {
        if caller.namespace().is_some() {
            self.managed_policy(caller, id).await?;
        }
        delete_policy(self.store.as_ref(), self.schedules.as_ref(), id).await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }
}
