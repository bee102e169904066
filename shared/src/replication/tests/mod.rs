//! Unit tests of the use cases on the ports' in-memory fakes: success, a duplicate delivery, a
//! stop, a failure that heals and one that does not, for each. The integration tests run the
//! same flows against real parts.

mod events;
mod fanout;
mod handlers;
mod health;
mod list;
mod notify;
mod plan;
mod policies;
mod prune;
mod pull;
mod reaper;
mod retry;
mod start;
mod sweep;
mod transfer;
mod types;
mod versions;

use std::sync::Arc;
use std::time::Duration;

use super::list::ListWorker;
use super::transfer::TransferWorker;
use crate::copy::{CachedLocations, RegistryPool};
use crate::messages::{encode, InboundMessage, Versioned};
use crate::model::{Execution, Registry, RegistryType, ReplicationPolicy, Task, TaskStatus};
use crate::ports::fakes::{
    FakeRegistries, MemoryLogs, MemoryQueue, MemoryRegistry, MemorySchedules, MemoryStore,
};
use crate::ports::store::{ExecutionStore, PolicyStore, RegistryStore};

const MAX_RECEIVES: u32 = 3;

/// A source registry (id 1) and a destination (id 2), in memory, with the store, queue, logs
/// and schedules the use cases need.
struct World {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    logs: Arc<MemoryLogs>,
    schedules: Arc<MemorySchedules>,
    registries: Arc<FakeRegistries>,
    source: MemoryRegistry,
    destination: MemoryRegistry,
    types: Arc<crate::model::artifact_types::ArtifactTypes>,
    processors: Arc<crate::ports::fakes::RecordingProcessors>,
}

impl World {
    async fn new() -> Self {
        let world = Self {
            store: Arc::default(),
            queue: Arc::default(),
            logs: Arc::default(),
            schedules: Arc::default(),
            registries: Arc::default(),
            source: MemoryRegistry::new("source.test"),
            destination: MemoryRegistry::new("destination.test"),
            types: Arc::default(),
            processors: Arc::default(),
        };
        for (name, registry) in [
            ("source", &world.source),
            ("destination", &world.destination),
        ] {
            let stored = world
                .store
                .create_registry(&Registry {
                    name: name.into(),
                    kind: Some(RegistryType::DockerRegistry),
                    url: format!("https://{name}.test"),
                    ..Registry::default()
                })
                .await
                .expect("registry");
            world.registries.add(stored.id, registry.clone());
        }
        world
    }

    /// A policy from source to destination, with these fields besides.
    async fn policy(&self, fields: serde_json::Value) -> ReplicationPolicy {
        let mut body = serde_json::json!({
            "name": format!("policy-{}", uuid::Uuid::new_v4()),
            "src_registry": {"id": 1},
            "dest_registry": {"id": 2},
        });
        if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
            body.extend(fields.clone());
        }
        let policy: ReplicationPolicy = serde_json::from_value(body).expect("policy");
        policy.validate().expect("valid policy");
        self.store.create_policy(&policy).await.expect("stored")
    }

    fn list_worker(&self, page_size: usize) -> ListWorker {
        ListWorker {
            store: self.store.clone(),
            queue: self.queue.clone(),
            connect: self.registries.clone(),
            page_size,
            max_receives: MAX_RECEIVES,
            logs: self.logs.clone(),
            keep_executions: 50,
            deadline_margin: Duration::ZERO,
            time_budget: None,
            types: self.types.clone(),
        }
    }

    fn transfer_worker(&self) -> TransferWorker {
        TransferWorker {
            store: self.store.clone(),
            queue: self.queue.clone(),
            deadline_margin: Duration::ZERO,
            time_budget: None,
            logs: self.logs.clone(),
            registries: RegistryPool::new(self.registries.clone(), 8),
            locations: Arc::new(CachedLocations::new(Some(self.store.clone()))),
            recent: Default::default(),
            finish_checks: Default::default(),
            max_receives: MAX_RECEIVES,
            keep_executions: 50,
            types: self.types.clone(),
            processors: self.processors.clone(),
        }
    }

    async fn execution(&self, id: i64) -> Execution {
        self.store.get_execution(id).await.expect("execution")
    }

    /// Starts a manual execution of the policy, as the API does.
    async fn start_manual(&self, policy_id: i64) -> super::start::Started {
        super::start::start_execution(
            self.store.as_ref(),
            self.queue.as_ref(),
            policy_id,
            crate::model::TriggerType::Manual,
            None,
            None,
        )
        .await
        .expect("started")
    }

    /// Starts a manual execution of `policy` and delivers its list message; its id.
    async fn listed(&self, policy: &ReplicationPolicy) -> i64 {
        let started = self.start_manual(policy.id).await;
        let super::start::Started::Running(execution) = started else {
            panic!("not running: {started:?}");
        };
        self.deliver_lists().await;
        execution.id
    }

    /// Delivers every list message sent so far once, as its first delivery.
    async fn deliver_lists(&self) {
        let lister = self.list_worker(100);
        for message in self.queue.take_list() {
            lister
                .handle(&inbound(&message, 1), None)
                .await
                .expect("listed");
        }
    }

    /// Starts a plan (dry run) of `policy` and delivers its list messages; its id.
    async fn planned(&self, policy: &ReplicationPolicy) -> i64 {
        let started = super::start::start_plan(self.store.as_ref(), self.queue.as_ref(), policy.id)
            .await
            .expect("a plan");
        let super::start::Started::Running(plan) = started else {
            panic!("not running: {started:?}");
        };
        assert!(plan.dry_run);
        self.deliver_lists().await;
        plan.id
    }

    /// Delivers a list message once, as its first delivery.
    async fn list(&self, message: &crate::messages::ListMessage) {
        self.list_worker(100)
            .handle(&inbound(message, 1), None)
            .await
            .expect("listed");
    }

    /// The one task of an execution that ended Failed with it, and why it failed.
    async fn failed_alone(&self, execution_id: i64) -> String {
        let tasks = self.tasks(execution_id);
        assert_eq!(statuses(&tasks), vec![TaskStatus::Failed]);
        let execution = self.execution(execution_id).await;
        assert_eq!(execution.status, crate::model::ExecutionStatus::Failed);
        tasks[0].status_text.clone()
    }

    /// Delivers every transfer message sent so far (and those they send) once.
    async fn transfer_all(&self) {
        let worker = self.transfer_worker();
        loop {
            let messages = self.queue.take_transfer();
            if messages.is_empty() {
                return;
            }
            for message in messages {
                worker
                    .handle(&inbound(&message, 1), None)
                    .await
                    .expect("transferred");
            }
        }
    }

    fn tasks(&self, execution_id: i64) -> Vec<Task> {
        self.store.tasks_of(execution_id)
    }
}

fn inbound<T: Versioned>(message: &T, receive_count: u32) -> InboundMessage {
    InboundMessage {
        message_id: uuid::Uuid::new_v4().to_string(),
        body: encode(message).expect("encode"),
        receive_count,
        from_dead_letters: false,
        receipt: None,
    }
}

fn statuses(tasks: &[Task]) -> Vec<TaskStatus> {
    tasks.iter().map(|t| t.status).collect()
}

/// The counters of an execution: total, succeed, failed, stopped, in progress.
fn counts(e: &Execution) -> (i64, i64, i64, i64, i64) {
    (e.total, e.succeed, e.failed, e.stopped, e.in_progress)
}
