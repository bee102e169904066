//! `/replication/executions`: start, list, read, stop; an execution's tasks and task logs.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::access::Caller;
use super::confinement::visibility;
use super::errors::ApiError;
use super::listing::{read_page, ListRequest, ListSpec};
use super::{created, json, parse_body, Api};
use crate::model::artifact_types::ArtifactProfile;
use crate::model::{Execution, ExecutionStatus, ResourceType, TriggerType};
use crate::ports::logs::task_log_tail;
use crate::ports::store::collect_pages;
use crate::replication::retry::{retry_execution, RetryError};
use crate::replication::start::{start_execution, start_plan, StartError, Started};

/// The most of a task log one answer carries: Lambda's responses stop at 6 MB, and the text
/// may grow when the gateway escapes it. A longer log is answered with its tail.
const LOG_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// The size of the whole log, in bytes.
pub const LOG_SIZE: &str = "x-ferry-log-size";
/// Present (`tail`) when the answer is only the end of the log; the whole stays in S3.
pub const LOG_TRUNCATED: &str = "x-ferry-log-truncated";

const EXECUTIONS: ListSpec = ListSpec {
    query: None,
    sort: &["id", "start_time", "end_time", "status", "policy_id"],
    default_sort: "-id",
};
const ARTIFACTS: ListSpec = ListSpec {
    query: None,
    sort: &["task_id", "type", "digest"],
    default_sort: "task_id",
};

/// A copied artifact of an execution, as its type sees it (Ferry's addition).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExecutionArtifact {
    pub task_id: i64,
    pub src_resource: String,
    pub dst_resource: String,
    #[serde(flatten)]
    pub profile: ArtifactProfile,
}

/// An artifact type named by a query parameter, validated.
fn type_param(request: &ListRequest, name: &str) -> Result<Option<ResourceType>, ApiError> {
    request
        .param(name)
        .map(ResourceType::named)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
}

/// `q` as Harbor's other lists take it (`q=src_resource=~nginx`): to find a repository's
/// tasks in an execution of thousands.
const TASKS: ListSpec = ListSpec {
    query: Some(&[
        "src_resource",
        "dst_resource",
        "status",
        "resource_type",
        "operation",
    ]),
    sort: &["id", "start_time", "end_time", "status", "resource_type"],
    default_sort: "id",
};

#[derive(Deserialize)]
struct StartReplicationExecution {
    #[serde(default)]
    policy_id: Option<i64>,
    /// Ferry's addition: a plan, listed and filtered as the real execution, nothing written.
    #[serde(default)]
    dry_run: bool,
}

impl Api {
    pub(super) async fn start_execution(
        &self,
        caller: &Caller,
        body: &Bytes,
    ) -> Result<Response<Bytes>, ApiError> {
        let request: StartReplicationExecution = parse_body(body)?;
        let policy_id = request.policy_id.filter(|id| *id > 0).ok_or_else(|| {
            ApiError::bad_request("policy_id: is required and must be a positive integer")
        })?;
        if caller.namespace().is_some() {
            self.managed_policy(caller, policy_id).await?;
        }
        let (store, queue) = (self.store.as_ref(), self.queue.as_ref());
        let started = if request.dry_run {
            start_plan(store, queue, policy_id).await
        } else {
            start_execution(store, queue, policy_id, TriggerType::Manual, None, None).await
        };
        match started {
            Ok(Started::Running(execution) | Started::Skipped(execution)) => Ok(created(&format!(
                "/replication/executions/{}",
                execution.id
            ))),
            Ok(Started::Duplicate) => Err(ApiError::internal(
                "a manual start is never a duplicate".to_string(),
            )),
            Err(StartError::Disabled(id)) => Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "PRECONDITION",
                format!("policy {id} is disabled"),
            )),
            Err(StartError::Store(e)) => Err(e.into()),
            Err(e @ StartError::Queue { .. }) => Err(ApiError::internal(e.to_string())),
        }
    }

    pub(super) async fn list_executions(
        &self,
        caller: &Caller,
        query: Option<&str>,
        path: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let request = ListRequest::parse(query, &EXECUTIONS)?;
        let policy_id = match request.param("policy_id") {
            Some(v) => Some(v.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("policy_id: {v:?} is not an integer"))
            })?),
            None => None,
        };
        let status = request.one_of("status", &["InProgress", "Succeed", "Failed", "Stopped"])?;
        let trigger = request.one_of("trigger", &["manual", "scheduled", "event_based"])?;
        // A namespace robot sees only its namespace's policies' executions: one policy's
        // (checked), or without policy_id those of each of its policies, read per policy (the
        // store keeps each policy's executions together; history is swept to KeepExecutions)
        // and then filtered, sorted and paged as a whole, so totals are right.
        if caller.namespace().is_some() {
            let policies = match policy_id {
                Some(id) => vec![self.managed_policy(caller, id).await?.id],
                None => self.managed_policy_ids(caller).await?,
            };
            let mut executions = Vec::new();
            for id in policies {
                executions.extend(
                    collect_pages(|cursor| async move {
                        self.store
                            .list_executions(Some(id), cursor.as_deref(), 1000)
                            .await
                    })
                    .await?,
                );
            }
            return Ok(request.answer(
                executions
                    .into_iter()
                    .filter(|e| status.is_none_or(|s| e.status.as_str() == s))
                    .filter(|e| trigger.is_none_or(|t| e.trigger.as_str() == t)),
                path,
            ));
        }
        if request.in_key_order() && status.is_none() && trigger.is_none() {
            // Newest first is the store's order: one page read alone, the total counted.
            let total = self.store.count_executions(policy_id).await?;
            let page = read_page(
                request.paging(),
                true,
                |_: &Execution| true,
                |cursor, limit| async move {
                    self.store
                        .list_executions(policy_id, cursor.as_deref(), limit)
                        .await
                },
            )
            .await?;
            return Ok(request.answer_page(page, u64::try_from(total).unwrap_or(0), path));
        }
        let executions = collect_pages(|cursor| async move {
            self.store
                .list_executions(policy_id, cursor.as_deref(), 1000)
                .await
        })
        .await?;
        Ok(request.answer(
            executions
                .into_iter()
                .filter(|e| status.is_none_or(|s| e.status.as_str() == s))
                .filter(|e| trigger.is_none_or(|t| e.trigger.as_str() == t)),
            path,
        ))
    }

    /// The ids of the policies a namespace robot manages (its namespace's).
    async fn managed_policy_ids(&self, caller: &Caller) -> Result<Vec<i64>, ApiError> {
        let policies = collect_pages(|cursor| async move {
            self.store.list_policies(cursor.as_deref(), 1000).await
        })
        .await?;
        Ok(policies
            .into_iter()
            .filter(|p| visibility(caller, p) == Some(false))
            .map(|p| p.id)
            .collect())
    }

    pub(super) async fn get_execution(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<Response<Bytes>, ApiError> {
        Ok(json(
            StatusCode::OK,
            &self.managed_execution(caller, id).await?,
        ))
    }

    /// Stops an execution: it ends Stopped now; its pending tasks end Stopped when their
    /// messages arrive, and running ones stop at their next check.
    pub(super) async fn retry_execution(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<Response<Bytes>, ApiError> {
        if caller.namespace().is_some() {
            self.managed_execution(caller, id).await?;
        }
        match retry_execution(self.store.as_ref(), self.queue.as_ref(), id).await {
            Ok(retry) => Ok(created(&format!("/replication/executions/{}", retry.id))),
            Err(RetryError::Store(e)) => Err(e.into()),
            Err(e @ (RetryError::Running(_) | RetryError::NothingFailed(_))) => Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "PRECONDITION",
                e.to_string(),
            )),
            Err(e @ RetryError::Queue { .. }) => Err(ApiError::internal(e.to_string())),
        }
    }

    pub(super) async fn stop_execution(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<Response<Bytes>, ApiError> {
        if caller.namespace().is_some() {
            self.managed_execution(caller, id).await?;
        }
        crate::replication::notify::end_announced(
            self.store.as_ref(),
            self.queue.as_ref(),
            id,
            ExecutionStatus::Stopped,
            "stopped by the user",
        )
        .await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    pub(super) async fn list_tasks(
        &self,
        caller: &Caller,
        id: i64,
        query: Option<&str>,
        path: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let request = ListRequest::parse(query, &TASKS)?;
        let status = request.one_of(
            "status",
            &["Pending", "InProgress", "Succeed", "Failed", "Stopped"],
        )?;
        let resource_type = type_param(&request, "resource_type")?;
        let execution = self.managed_execution(caller, id).await?;
        if request.in_key_order() && resource_type.is_none() {
            return self.tasks_page(&request, &execution, status, path).await;
        }
        let tasks = collect_pages(|cursor| async move {
            self.store.list_tasks(id, cursor.as_deref(), 1000).await
        })
        .await?;
        Ok(request.answer(
            tasks
                .into_iter()
                .filter(|t| status.is_none_or(|s| t.status.as_str() == s))
                .filter(|t| {
                    resource_type
                        .as_ref()
                        .is_none_or(|r| t.resource_type.selected_by(r))
                }),
            path,
        ))
    }

    /// The artifacts an execution copied with what their types' processors read (Ferry's
    /// addition): one per task that copied a manifest.
    pub(super) async fn list_artifacts(
        &self,
        caller: &Caller,
        id: i64,
        query: Option<&str>,
        path: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let request = ListRequest::parse(query, &ARTIFACTS)?;
        let wanted = type_param(&request, "type")?;
        self.managed_execution(caller, id).await?;
        let tasks = collect_pages(|cursor| async move {
            self.store.list_tasks(id, cursor.as_deref(), 1000).await
        })
        .await?;
        Ok(request.answer(
            tasks.into_iter().filter_map(|task| {
                let profile = task.artifact?;
                let selected = wanted
                    .as_ref()
                    .is_none_or(|w| profile.resource_type.selected_by(w));
                selected.then_some(ExecutionArtifact {
                    task_id: task.id,
                    src_resource: task.src_resource,
                    dst_resource: task.dst_resource,
                    profile,
                })
            }),
            path,
        ))
    }

    /// One page of an execution's tasks in id order, read alone: the tasks before it (of
    /// the status asked for) are read past, none after it, and the total comes from the
    /// execution's counters. A 100,000-task execution's first page costs one query.
    async fn tasks_page(
        &self,
        request: &ListRequest,
        execution: &Execution,
        status: Option<&str>,
        path: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let total = match status {
            None => execution.total,
            Some("Pending") => {
                execution.total
                    - execution.in_progress
                    - execution.succeed
                    - execution.failed
                    - execution.stopped
            }
            Some("InProgress") => execution.in_progress,
            Some("Succeed") => execution.succeed,
            Some("Failed") => execution.failed,
            Some(_) => execution.stopped,
        };
        let page = read_page(
            request.paging(),
            status.is_none(),
            |task: &crate::model::Task| status.is_none_or(|s| task.status.as_str() == s),
            |cursor, limit| async move {
                self.store
                    .list_tasks(execution.id, cursor.as_deref(), limit)
                    .await
            },
        )
        .await?;
        Ok(request.answer_page(page, u64::try_from(total.max(0)).unwrap_or(0), path))
    }

    pub(super) async fn task_log(
        &self,
        caller: &Caller,
        id: i64,
        task_id: i64,
    ) -> Result<Response<Bytes>, ApiError> {
        if caller.namespace().is_some() {
            self.managed_execution(caller, id).await?;
        }
        let task = self.store.get_task(id, task_id).await?;
        let log = task_log_tail(self.logs.as_ref(), &task, LOG_ANSWER_BYTES)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let mut response = super::text(StatusCode::OK, &log.text);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(LOG_SIZE, HeaderValue::from(log.total_bytes));
        if log.truncated {
            headers.insert(LOG_TRUNCATED, HeaderValue::from_static("tail"));
        }
        Ok(response)
    }
}
