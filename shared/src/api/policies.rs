//! `/replication/policies`. Any registry to any registry: a side left empty (or 0) means the
//! home registry configured at deploy time.

use crate::replication::schedule::{schedule_of, sync_schedule};
use std::collections::HashMap;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::errors::ApiError;
use super::listing::{page_response, params, Paging, Query, Sort};
use super::{created, json, parse_body, Api};
use crate::model::{ExecutionStatus, Registry, ReplicationPolicy, ValidationError};
use crate::ports::store::StoreError;

const QUERY_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "enabled",
    "src_registry.id",
    "dest_registry.id",
];
const SORT_FIELDS: &[&str] = &["id", "name", "creation_time", "update_time"];

impl Api {
    /// Fills an empty side with the home registry (or says that there is none) and writes
    /// both names of the deletion flag.
    fn with_home_registry(
        &self,
        mut policy: ReplicationPolicy,
    ) -> Result<ReplicationPolicy, ApiError> {
        policy.normalize_deletion();
        for (field, side) in [
            ("src_registry", &mut policy.src_registry),
            ("dest_registry", &mut policy.dest_registry),
        ] {
            if side.as_ref().is_none_or(|r| r.id == 0) {
                let home = self.home_registry.ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{field}: is required: no home registry is configured (FERRY_HOME_REGISTRY_ID)"
                    ))
                })?;
                *side = Some(Registry {
                    id: home,
                    ..Registry::default()
                });
            }
        }
        Ok(policy)
    }

    /// The policy as Harbor returns it: with both registries embedded, secrets masked.
    async fn embed_registries(
        &self,
        mut policy: ReplicationPolicy,
        cache: &mut HashMap<i64, Registry>,
    ) -> Result<ReplicationPolicy, ApiError> {
        for side in [&mut policy.src_registry, &mut policy.dest_registry] {
            if let Some(reference) = side.as_ref() {
                let id = reference.id;
                if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(id) {
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

    pub(super) async fn list_policies(
        &self,
        query: Option<&str>,
        path: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let params = params(query);
        let paging = Paging::from(&params)?;
        let q = Query::parse(params.get("q").map(String::as_str), QUERY_FIELDS)?;
        let sort = Sort::parse(params.get("sort").map(String::as_str), SORT_FIELDS, "id")?;
        let name = params.get("name").cloned().unwrap_or_default();
        let policies = super::collect_all(|cursor| async move {
            self.store.list_policies(cursor.as_deref(), 1000).await
        })
        .await?;
        let mut cache = HashMap::new();
        let mut items = Vec::new();
        for policy in policies.into_iter().filter(|p| p.name.contains(&name)) {
            let value = serde_json::to_value(self.embed_registries(policy, &mut cache).await?)
                .unwrap_or_default();
            if q.matches(&value) {
                items.push(value);
            }
        }
        sort.apply(&mut items);
        Ok(page_response(items, paging, path, &params))
    }

    pub(super) async fn create_policy(&self, body: &Bytes) -> Result<Response<Bytes>, ApiError> {
        let policy = self.with_home_registry(parse_body(body)?)?;
        policy.validate()?;
        schedule_of(&policy).map_err(|reason| bad_cron(&reason))?;
        let stored = self.store.create_policy(&policy).await?;
        if let Err(e) = sync_schedule(self.schedules.as_ref(), &stored).await {
            // Not half-written: a scheduled policy without its schedule would never run.
            self.store.delete_policy(stored.id).await?;
            return Err(schedule_failed(&e, "the policy was not created"));
        }
        Ok(created(&format!("/replication/policies/{}", stored.id)))
    }

    pub(super) async fn get_policy(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        let policy = self.store.get_policy(id).await?;
        Ok(json(
            StatusCode::OK,
            &self.embed_registries(policy, &mut HashMap::new()).await?,
        ))
    }

    pub(super) async fn update_policy(
        &self,
        id: i64,
        body: &Bytes,
    ) -> Result<Response<Bytes>, ApiError> {
        let wanted = self.with_home_registry(parse_body(body)?)?;
        wanted.validate()?;
        schedule_of(&wanted).map_err(|reason| bad_cron(&reason))?;
        let updated = self
            .store
            .update_policy(id, &|current: &mut ReplicationPolicy| {
                let (created_at, id) = (current.creation_time, current.id);
                *current = wanted.clone();
                current.id = id;
                current.creation_time = created_at;
                Ok::<(), ValidationError>(())
            })
            .await?;
        // Put again by saving again: the schedule follows the stored policy either way.
        sync_schedule(self.schedules.as_ref(), &updated)
            .await
            .map_err(|e| schedule_failed(&e, "the policy is saved; save it again to retry"))?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    pub(super) async fn delete_policy(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        self.store.get_policy(id).await?;
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .store
                .list_executions(Some(id), cursor.as_deref(), 100)
                .await?;
            if let Some(running) = page
                .items
                .iter()
                .find(|e| e.status == ExecutionStatus::InProgress)
            {
                return Err(ApiError::new(
                    StatusCode::PRECONDITION_FAILED,
                    "PRECONDITION",
                    format!(
                        "policy {id} has execution {} in progress; stop it first",
                        running.id
                    ),
                ));
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        self.schedules
            .delete_schedule(id)
            .await
            .map_err(|e| schedule_failed(&e, "the policy was not deleted"))?;
        self.store.delete_policy(id).await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }
}

fn bad_cron(reason: &str) -> ApiError {
    ApiError::from(ValidationError::new(
        "trigger.trigger_settings.cron",
        reason,
    ))
}

fn schedule_failed(e: &crate::ports::schedules::ScheduleError, outcome: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "SCHEDULER_ERROR",
        format!("{e}; {outcome}"),
    )
}
