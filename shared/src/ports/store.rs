//! Persistence of registries, policies, executions and tasks.
//!
//! Every write that could race is conditional: names are unique, updates carry the version they
//! read, task status changes name the status they leave, and execution counters move in the same
//! transaction as the task whose status changed, so a duplicate delivery changes nothing twice.

use std::future::Future;

use async_trait::async_trait;

use serde::{Deserialize, Serialize};

use crate::messages::ArtifactEvent;
use crate::model::artifact_types::ArtifactProfile;
use crate::model::{
    Execution, ExecutionStatus, InlineLog, Operation, Registry, RegistryHealth, RegistryStatus,
    ReplicationPolicy, ResourceType, Take, Task, TaskLease, TaskStatus, TransferFigures,
    TriggerType, ValidationError,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: i64 },
    #[error("a {entity} named {name:?} already exists")]
    DuplicateName { entity: &'static str, name: String },
    #[error("{entity} {id} is in use: {reason}")]
    InUse {
        entity: &'static str,
        id: i64,
        reason: String,
    },
    #[error("{entity} {id} kept changing under concurrent writers; try again")]
    Conflict { entity: &'static str, id: i64 },
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("the page cursor is not one this service issued")]
    InvalidCursor,
    #[error("dynamodb {operation} on {table}: {message}")]
    Backend {
        table: String,
        operation: &'static str,
        message: String,
    },
    #[error("an item in {table} could not be read: {message}")]
    Corrupt { table: String, message: String },
    #[error(transparent)]
    Secret(#[from] super::secrets::SecretError),
}

impl StoreError {
    /// Whether trying again may succeed: the backend failed or writers kept colliding.
    pub fn may_heal(&self) -> bool {
        matches!(self, Self::Backend { .. } | Self::Conflict { .. })
    }
}

/// One page of a listing; `next` is an opaque cursor for the following page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The same page, each item read as another type.
    pub fn map<U>(self, read: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(read).collect(),
            next: self.next,
        }
    }
}

/// Every item of a cursor-paged listing, page after page: `page(cursor)` asks for one.
pub async fn collect_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>, StoreError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, StoreError>>,
{
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let next = page(cursor.take()).await?;
        all.extend(next.items);
        match next.next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

#[async_trait]
pub trait RegistryStore: Send + Sync {
    /// Stores a new registry (validated by the caller), allocating its id; the name must be unused.
    /// The secret is encrypted before it is written. Returns the record as a read shows it.
    async fn create_registry(&self, registry: &Registry) -> Result<Registry, StoreError>;
    /// The registry with its secret masked.
    async fn get_registry(&self, id: i64) -> Result<Registry, StoreError>;
    /// The registry with its secret decrypted, for the workers that talk to it.
    async fn get_registry_with_secret(&self, id: i64) -> Result<Registry, StoreError>;
    /// Read, change, write back conditionally on the version read; retried on a concurrent
    /// change. A credential whose secret is the mask keeps the stored secret.
    async fn update_registry(
        &self,
        id: i64,
        change: &RegistryChange<'_>,
    ) -> Result<Registry, StoreError>;
    /// Records what the health monitor found: the status and its health, nothing else (no new
    /// version, no new update time: an edit under way is not disturbed). NotFound when gone.
    async fn record_health(
        &self,
        id: i64,
        status: RegistryStatus,
        health: &RegistryHealth,
    ) -> Result<(), StoreError>;
    /// Deletes a registry no policy refers to.
    async fn delete_registry(&self, id: i64) -> Result<(), StoreError>;
    /// Registries in id order.
    async fn list_registries(
        &self,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Registry>, StoreError>;
    /// Replaces the registry's webhook token, encrypted like its secret.
    async fn set_webhook_token(&self, id: i64, token: &str) -> Result<(), StoreError>;
    /// The registry's webhook token, decrypted; None until one is issued.
    async fn webhook_token(&self, id: i64) -> Result<Option<String>, StoreError>;
}

#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// Stores a new policy; its name must be unused and the registries it names must exist.
    async fn create_policy(
        &self,
        policy: &ReplicationPolicy,
    ) -> Result<ReplicationPolicy, StoreError>;
    async fn get_policy(&self, id: i64) -> Result<ReplicationPolicy, StoreError>;
    async fn update_policy(
        &self,
        id: i64,
        change: &PolicyChange<'_>,
    ) -> Result<ReplicationPolicy, StoreError>;
    async fn delete_policy(&self, id: i64) -> Result<(), StoreError>;
    async fn list_policies(
        &self,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<ReplicationPolicy>, StoreError>;
}

/// A task to create: what it copies, named as Harbor shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub operation: Operation,
    pub resource_type: ResourceType,
    pub src_resource: String,
    pub dst_resource: String,
    /// What it copies; kept with the task so a repeated batch sends the same messages.
    pub resource: Option<crate::model::Resource>,
}

impl NewTask {
    /// The task as it is created: Pending, with Harbor's job id.
    pub fn pending(&self, execution_id: i64, id: i64) -> Task {
        Task {
            id,
            execution_id,
            job_id: format!("{execution_id}-{id}"),
            status: TaskStatus::Pending,
            status_text: String::new(),
            operation: self.operation,
            resource_type: self.resource_type.clone(),
            src_resource: self.src_resource.clone(),
            dst_resource: self.dst_resource.clone(),
            start_time: None,
            end_time: None,
            figures: TransferFigures::default(),
            continuations: 0,
            resource: self.resource.clone(),
            log: None,
            artifact: None,
        }
    }
}

/// A status change of one task, with what the transfer did.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskTransition {
    pub execution_id: i64,
    pub task_id: i64,
    pub from: TaskStatus,
    pub to: TaskStatus,
    pub status_text: Option<String>,
    pub figures: Option<TransferFigures>,
    /// The ending delivery's log entry, written with the status instead of to the log store.
    pub log: Option<InlineLog>,
    /// The copied artifact's type and attributes: the task's `resource_type` becomes its type.
    pub artifact: Option<ArtifactProfile>,
}

/// What an execution was started to do, kept with it so its first step can be taken again
/// when the process that started it died before the step's message was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Launch {
    /// List the policy's source.
    #[default]
    Listing,
    /// List the one artifact an event named.
    Event(ArtifactEvent),
    /// Run the failed tasks of this execution again.
    RetryOf(i64),
    /// List the policy's source as [`Self::Listing`] does, for a plan (a dry run).
    Plan,
}

impl Launch {
    /// The record of a new execution launched so.
    pub fn execution(
        &self,
        id: i64,
        policy_id: i64,
        trigger: TriggerType,
        now: time::OffsetDateTime,
    ) -> Execution {
        Execution {
            dry_run: *self == Self::Plan,
            ..Execution::new(id, policy_id, trigger, now)
        }
    }
}

/// An execution still in progress as the reaper sees it: its record, the list pieces still
/// open, when anything last moved (epoch milliseconds), what it was started to do, and whether
/// the reaper launched it again already.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningExecution {
    pub execution: Execution,
    pub listings_pending: i64,
    pub updated_ms: i64,
    pub launch: Launch,
    pub relaunched: bool,
}

#[async_trait]
pub trait ExecutionStore: Send + Sync {
    /// Creates an execution InProgress with `listings` list pieces outstanding, keeping what
    /// it was launched to do.
    async fn create_execution(
        &self,
        policy_id: i64,
        trigger: TriggerType,
        listings: i64,
        launch: &Launch,
    ) -> Result<Execution, StoreError>;
    async fn get_execution(&self, id: i64) -> Result<Execution, StoreError>;
    /// How many executions there are, of one policy or of all: a counter moved with each
    /// create and delete, so a page of the list needs no read of the rest.
    async fn count_executions(&self, policy_id: Option<i64>) -> Result<i64, StoreError>;
    /// Executions of one policy (newest first), or of all policies when `policy_id` is None.
    async fn list_executions(
        &self,
        policy_id: Option<i64>,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Execution>, StoreError>;
    /// Records `key` (a schedule firing, a webhook event) as handled: true the first time only,
    /// so a start delivered twice starts once.
    async fn claim_once(&self, key: &str) -> Result<bool, StoreError>;
    /// [`Self::claim_once`] for a key that names its own time window (a pull's replication):
    /// the store may forget the claim after `expires_at` (Unix seconds; DynamoDB's TTL).
    async fn claim_once_until(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        let _ = expires_at;
        self.claim_once(key).await
    }
    /// Forgets a claim whose start failed, so a redelivery may try again.
    async fn release_claim(&self, key: &str) -> Result<(), StoreError>;
    /// Counts one more list piece outstanding, once per `piece` however often it is called.
    async fn open_listing(&self, id: i64, piece: &str) -> Result<(), StoreError>;
    /// Counts a list piece done, once per `piece` however often it is called. The piece an
    /// execution is created with is `""`.
    async fn close_listing(&self, id: i64, piece: &str) -> Result<(), StoreError>;
    /// The list pieces still open, read consistently (a prune waits for all but its own).
    async fn listings_pending(&self, id: i64) -> Result<i64, StoreError>;
    /// Writes the final status once, when nothing is in progress and listing is complete.
    /// Returns the status written, or None when the execution is not done (or already final).
    async fn finish_if_done(&self, id: i64) -> Result<Option<ExecutionStatus>, StoreError>;
    /// Ends an execution with a status and a reason regardless of its tasks, once.
    async fn end_execution(
        &self,
        id: i64,
        status: ExecutionStatus,
        status_text: &str,
    ) -> Result<bool, StoreError>;
    /// Deletes an execution record and its tasks.
    async fn delete_execution(&self, id: i64) -> Result<(), StoreError>;
    /// Makes `execution_id` the one execution of `policy_id` that runs (a policy with
    /// `single_active_replication`): None when it is; the one still running otherwise. Two
    /// starts at once: one of them is the one.
    async fn claim_active(
        &self,
        policy_id: i64,
        execution_id: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// Every execution still in progress, for the reaper.
    async fn running_executions(&self) -> Result<Vec<RunningExecution>, StoreError>;
    /// Records that the reaper launched the execution again, as a move: true the first time
    /// only, so it is launched again once and given time before it is given up.
    async fn mark_relaunched(&self, id: i64) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Creates tasks Pending and counts them into the execution's `total` and `in_progress`,
    /// all in one transaction keyed by `batch_key`: a second call with the same key creates
    /// nothing and returns the tasks the first call created. At most 98 tasks a call.
    async fn create_tasks(
        &self,
        execution_id: i64,
        batch_key: &str,
        tasks: &[NewTask],
    ) -> Result<Vec<Task>, StoreError>;
    async fn get_task(&self, execution_id: i64, task_id: i64) -> Result<Task, StoreError>;
    async fn list_tasks(
        &self,
        execution_id: i64,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Task>, StoreError>;
    /// Takes the task for one delivery of the message `holder` until `until` (epoch
    /// milliseconds), by [`TaskLease::take`]'s rule; granted, the task's continuation becomes
    /// `continuation` and a Pending task starts (InProgress, with its start time), in the
    /// same write.
    async fn take_task(
        &self,
        execution_id: i64,
        task_id: i64,
        continuation: u32,
        until_ms: i64,
        holder: &str,
    ) -> Result<Take, StoreError>;
    /// Lets go of a task the message `holder` took for `continuation` (nothing when another
    /// took it since); `handed_on` when the run gave the rest of the copy to a new message,
    /// which makes every other delivery of `continuation` stale.
    async fn release_task(
        &self,
        execution_id: i64,
        task_id: i64,
        continuation: u32,
        handed_on: bool,
        holder: &str,
    ) -> Result<(), StoreError>;
    /// The tasks of an execution not ended yet, each with who holds it.
    async fn open_tasks(&self, execution_id: i64) -> Result<Vec<(Task, TaskLease)>, StoreError>;
    /// Moves a task from `from` to `to` and the execution's counters with it, atomically.
    /// Returns false, changing nothing, when the task is not in `from` (a duplicate delivery).
    async fn transition_task(&self, transition: &TaskTransition) -> Result<bool, StoreError>;
    /// The same for many tasks of one execution at once (the lister's skipped artifacts): the
    /// store may write them together, moving the execution's counters once; a task not in its
    /// `from` is left as it is. How many moved.
    async fn transition_tasks(&self, transitions: &[TaskTransition]) -> Result<usize, StoreError> {
        let mut moved = 0;
        for transition in transitions {
            if self.transition_task(transition).await? {
                moved += 1;
            }
        }
        Ok(moved)
    }
}

/// The largest number of tasks [`TaskStore::create_tasks`] takes in one call.
pub const MAX_TASKS_PER_BATCH: usize = 98;

/// Refuses a batch over [`MAX_TASKS_PER_BATCH`].
pub fn check_batch_size(tasks: &[NewTask]) -> Result<(), StoreError> {
    if tasks.len() > MAX_TASKS_PER_BATCH {
        return Err(StoreError::Invalid(ValidationError::new(
            "tasks",
            format!(
                "at most {MAX_TASKS_PER_BATCH} tasks a batch, not {}",
                tasks.len()
            ),
        )));
    }
    Ok(())
}

/// A change applied to a registry read from the store, before it is written back.
pub type RegistryChange<'c> =
    dyn for<'a> Fn(&'a mut Registry) -> Result<(), ValidationError> + Send + Sync + 'c;
/// A change applied to a policy read from the store, before it is written back.
pub type PolicyChange<'c> =
    dyn for<'a> Fn(&'a mut ReplicationPolicy) -> Result<(), ValidationError> + Send + Sync + 'c;

/// Everything the store holds, for the workers that touch several kinds of record.
pub trait Store:
    RegistryStore
    + PolicyStore
    + ExecutionStore
    + TaskStore
    + super::registry::BlobLocations
    + super::registry::FilteredIndexes
{
}

impl<T> Store for T where
    T: RegistryStore
        + PolicyStore
        + ExecutionStore
        + TaskStore
        + super::registry::BlobLocations
        + super::registry::FilteredIndexes
{
}
