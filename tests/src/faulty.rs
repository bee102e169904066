//! The real store and queue with a failure injected at a named step: the step fails before
//! it writes anything, or after its write landed (as when the process dies between two writes
//! or the answer is lost). The use cases run on these in-process, against moto and real
//! registries, to show that each failure heals and the execution ends with the right counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use ferry::messages::{ListMessage, TransferMessage};
use ferry::model::{
    Execution, ExecutionStatus, Registry, ReplicationPolicy, Take, Task, TaskLease, TriggerType,
};
use ferry::oci::{Digest, Repository};
use ferry::ports::store::{Launch, PolicyChange, RegistryChange};
use ferry::ports::{
    BlobLocations, ExecutionStore, MessageQueue, NewTask, Page, PolicyStore, QueueError,
    RegistryStore, RunningExecution, StoreError, TaskStore, TaskTransition,
};

/// When an injected failure strikes: before the step's write, or after it landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strike {
    Before,
    After,
}

/// Failures by step name: the `nth` call (from 1) of the step fails, once.
#[derive(Default)]
pub struct Steps(Mutex<HashMap<&'static str, (u32, u32, Strike)>>);

impl Steps {
    pub fn fail(&self, step: &'static str, nth: u32, strike: Strike) {
        self.lock().insert(step, (0, nth, strike));
    }

    /// Whether this call of `step` fails, and when.
    fn strikes(&self, step: &str) -> Option<Strike> {
        let mut steps = self.lock();
        let (calls, nth, strike) = steps.get_mut(step)?;
        *calls += 1;
        (*calls == *nth).then_some(*strike)
    }

    /// Whether every injected failure struck: a test whose step was never reached proves
    /// nothing.
    pub fn all_struck(&self) -> Result<(), String> {
        let missed: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, (calls, nth, _))| calls < nth)
            .map(|(step, (calls, nth, _))| format!("{step}: {calls} calls, failure at call {nth}"))
            .collect();
        if missed.is_empty() {
            Ok(())
        } else {
            Err(missed.join("; "))
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, (u32, u32, Strike)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub struct FaultyStore<S> {
    pub inner: Arc<S>,
    pub steps: Steps,
}

impl<S> FaultyStore<S> {
    pub fn new(inner: Arc<S>) -> Self {
        Self {
            inner,
            steps: Steps::default(),
        }
    }
}

fn injected(step: &str) -> StoreError {
    StoreError::Backend {
        table: "faulty".into(),
        operation: "injected",
        message: format!("injected failure at {step}"),
    }
}

/// Runs `inner.method(args)` as the step named after the method, failing where told.
macro_rules! step {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {{
        let step = stringify!($method);
        let strike = $self.steps.strikes(step);
        if strike == Some(Strike::Before) {
            return Err(injected(step));
        }
        let result = $self.inner.$method($($arg),*).await;
        match (strike, result) {
            (Some(Strike::After), Ok(_)) => Err(injected(step)),
            (_, result) => result,
        }
    }};
}

#[async_trait]
impl<S: RegistryStore> RegistryStore for FaultyStore<S> {
    async fn create_registry(&self, registry: &Registry) -> Result<Registry, StoreError> {
        step!(self.create_registry(registry))
    }
    async fn get_registry(&self, id: i64) -> Result<Registry, StoreError> {
        step!(self.get_registry(id))
    }
    async fn get_registry_with_secret(&self, id: i64) -> Result<Registry, StoreError> {
        step!(self.get_registry_with_secret(id))
    }
    async fn update_registry(
        &self,
        id: i64,
        change: &RegistryChange<'_>,
    ) -> Result<Registry, StoreError> {
        step!(self.update_registry(id, change))
    }
    async fn record_health(
        &self,
        id: i64,
        status: ferry::model::RegistryStatus,
        health: &ferry::model::RegistryHealth,
    ) -> Result<(), StoreError> {
        step!(self.record_health(id, status, health))
    }
    async fn delete_registry(&self, id: i64) -> Result<(), StoreError> {
        step!(self.delete_registry(id))
    }
    async fn list_registries(
        &self,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Registry>, StoreError> {
        step!(self.list_registries(cursor, limit))
    }
    async fn set_webhook_token(&self, id: i64, token: &str) -> Result<(), StoreError> {
        step!(self.set_webhook_token(id, token))
    }
    async fn webhook_token(&self, id: i64) -> Result<Option<String>, StoreError> {
        step!(self.webhook_token(id))
    }
}

#[async_trait]
impl<S: PolicyStore> PolicyStore for FaultyStore<S> {
    async fn create_policy(
        &self,
        policy: &ReplicationPolicy,
    ) -> Result<ReplicationPolicy, StoreError> {
        step!(self.create_policy(policy))
    }
    async fn get_policy(&self, id: i64) -> Result<ReplicationPolicy, StoreError> {
        step!(self.get_policy(id))
    }
    async fn update_policy(
        &self,
        id: i64,
        change: &PolicyChange<'_>,
    ) -> Result<ReplicationPolicy, StoreError> {
        step!(self.update_policy(id, change))
    }
    async fn delete_policy(&self, id: i64) -> Result<(), StoreError> {
        step!(self.delete_policy(id))
    }
    async fn list_policies(
        &self,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<ReplicationPolicy>, StoreError> {
        step!(self.list_policies(cursor, limit))
    }
}

#[async_trait]
impl<S: ExecutionStore> ExecutionStore for FaultyStore<S> {
    async fn create_execution(
        &self,
        policy_id: i64,
        trigger: TriggerType,
        listings: i64,
        launch: &Launch,
    ) -> Result<Execution, StoreError> {
        step!(self.create_execution(policy_id, trigger, listings, launch))
    }
    async fn get_execution(&self, id: i64) -> Result<Execution, StoreError> {
        step!(self.get_execution(id))
    }
    async fn list_executions(
        &self,
        policy_id: Option<i64>,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Execution>, StoreError> {
        step!(self.list_executions(policy_id, cursor, limit))
    }
    async fn claim_once(&self, key: &str) -> Result<bool, StoreError> {
        step!(self.claim_once(key))
    }
    async fn release_claim(&self, key: &str) -> Result<(), StoreError> {
        step!(self.release_claim(key))
    }
    async fn open_listing(&self, id: i64, piece: &str) -> Result<(), StoreError> {
        step!(self.open_listing(id, piece))
    }
    async fn close_listing(&self, id: i64, piece: &str) -> Result<(), StoreError> {
        step!(self.close_listing(id, piece))
    }
    async fn listings_pending(&self, id: i64) -> Result<i64, StoreError> {
        step!(self.listings_pending(id))
    }
    async fn finish_if_done(&self, id: i64) -> Result<Option<ExecutionStatus>, StoreError> {
        step!(self.finish_if_done(id))
    }
    async fn end_execution(
        &self,
        id: i64,
        status: ExecutionStatus,
        status_text: &str,
    ) -> Result<bool, StoreError> {
        step!(self.end_execution(id, status, status_text))
    }
    async fn count_executions(&self, policy_id: Option<i64>) -> Result<i64, StoreError> {
        step!(self.count_executions(policy_id))
    }
    async fn delete_execution(&self, id: i64) -> Result<(), StoreError> {
        step!(self.delete_execution(id))
    }
    async fn claim_active(
        &self,
        policy_id: i64,
        execution_id: i64,
    ) -> Result<Option<i64>, StoreError> {
        step!(self.claim_active(policy_id, execution_id))
    }
    async fn running_executions(&self) -> Result<Vec<RunningExecution>, StoreError> {
        step!(self.running_executions())
    }
    async fn mark_relaunched(&self, id: i64) -> Result<bool, StoreError> {
        step!(self.mark_relaunched(id))
    }
}

#[async_trait]
impl<S: TaskStore> TaskStore for FaultyStore<S> {
    async fn create_tasks(
        &self,
        execution_id: i64,
        batch_key: &str,
        tasks: &[NewTask],
    ) -> Result<Vec<Task>, StoreError> {
        step!(self.create_tasks(execution_id, batch_key, tasks))
    }
    async fn get_task(&self, execution_id: i64, task_id: i64) -> Result<Task, StoreError> {
        step!(self.get_task(execution_id, task_id))
    }
    async fn list_tasks(
        &self,
        execution_id: i64,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Task>, StoreError> {
        step!(self.list_tasks(execution_id, cursor, limit))
    }
    async fn take_task(
        &self,
        execution_id: i64,
        task_id: i64,
        continuation: u32,
        until_ms: i64,
        holder: &str,
    ) -> Result<Take, StoreError> {
        step!(self.take_task(execution_id, task_id, continuation, until_ms, holder))
    }
    async fn release_task(
        &self,
        execution_id: i64,
        task_id: i64,
        continuation: u32,
        handed_on: bool,
        holder: &str,
    ) -> Result<(), StoreError> {
        step!(self.release_task(execution_id, task_id, continuation, handed_on, holder))
    }
    async fn open_tasks(&self, execution_id: i64) -> Result<Vec<(Task, TaskLease)>, StoreError> {
        step!(self.open_tasks(execution_id))
    }
    async fn transition_task(&self, transition: &TaskTransition) -> Result<bool, StoreError> {
        step!(self.transition_task(transition))
    }
}

/// Filtered indexes are hints too: a lost one costs a transfer.
#[async_trait]
impl<S: ferry::ports::registry::FilteredIndexes> ferry::ports::registry::FilteredIndexes
    for FaultyStore<S>
{
    async fn filtered_index(&self, source: &Digest, platforms: &str) -> Option<Digest> {
        self.inner.filtered_index(source, platforms).await
    }
    async fn record_filtered_index(&self, source: &Digest, platforms: &str, filtered: &Digest) {
        self.inner
            .record_filtered_index(source, platforms, filtered)
            .await
    }
}

/// Blob locations are hints, never failed: a lost hint costs an upload, nothing else.
#[async_trait]
impl<S: BlobLocations> BlobLocations for FaultyStore<S> {
    async fn find_blob(&self, registry_id: i64, digest: &Digest) -> Option<Repository> {
        self.inner.find_blob(registry_id, digest).await
    }
    async fn record_blob(&self, registry_id: i64, digest: &Digest, repository: &Repository) {
        self.inner
            .record_blob(registry_id, digest, repository)
            .await
    }
    async fn forget_blob(&self, registry_id: i64, digest: &Digest) {
        self.inner.forget_blob(registry_id, digest).await
    }
}

pub struct FaultyQueue<Q> {
    pub inner: Arc<Q>,
    pub steps: Steps,
}

impl<Q> FaultyQueue<Q> {
    pub fn new(inner: Arc<Q>) -> Self {
        Self {
            inner,
            steps: Steps::default(),
        }
    }
}

/// The queue's counterpart of `step!`.
macro_rules! send_step {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {{
        let step = stringify!($method);
        let strike = $self.steps.strikes(step);
        let refused = || QueueError::Backend {
            queue: "faulty".into(),
            operation: "injected",
            message: format!("injected failure at {step}"),
        };
        if strike == Some(Strike::Before) {
            return Err(refused());
        }
        let result = $self.inner.$method($($arg),*).await;
        match (strike, result) {
            (Some(Strike::After), Ok(_)) => Err(refused()),
            (_, result) => result,
        }
    }};
}

#[async_trait]
impl<Q: MessageQueue> MessageQueue for FaultyQueue<Q> {
    async fn send_list(&self, messages: &[ListMessage]) -> Result<(), QueueError> {
        send_step!(self.send_list(messages))
    }
    async fn send_transfer(&self, messages: &[TransferMessage]) -> Result<(), QueueError> {
        send_step!(self.send_transfer(messages))
    }
    async fn send_notify(
        &self,
        messages: &[ferry::messages::NotifyMessage],
    ) -> Result<(), QueueError> {
        // Notifications are not a step of a replication: passed through unbroken.
        self.inner.send_notify(messages).await
    }
    async fn waiting(&self) -> Result<u64, QueueError> {
        send_step!(self.waiting())
    }
}
