//! Each step of the flow failed once, before its write or after it landed (a crash between two
//! writes, a lost answer): the use cases run in-process on the real store and queues (DynamoDB Local, moto),
//! wrapped to fail at the named step, between real registries, delivered as the event source
//! mappings deliver (a failed message comes back, the dead-letter queues are consumed) with the
//! reaper running whenever nothing is to be delivered. Every execution must end Succeed, every
//! task counted once, every digest right.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::MessageSystemAttributeName;
use ferry::adapters::aws::dynamo::DynamoStore;
use ferry::adapters::aws::sqs::SqsQueue;
use ferry::adapters::registry::Registries;
use ferry::copy::{CachedLocations, RegistryPool};
use ferry::messages::InboundMessage;
use ferry::model::{
    ArtifactLocation, Execution, Operation, Registry, RegistryType, ReplicationPolicy, Resource,
    ResourceType, TaskStatus,
};
use ferry::ports::store::Launch;
use ferry::ports::{
    ExecutionStore, NewTask, PolicyStore, RegistryStore, TaskStore, TaskTransition,
};
use ferry::replication::list::ListWorker;
use ferry::replication::reaper::Reaper;
use ferry::replication::transfer::TransferWorker;
use ferry::replication::HandleError;
use ferry_tests::faulty::{FaultyQueue, FaultyStore, Strike};
use ferry_tests::resources_only;

use super::*;

#[derive(Clone, Copy, Debug)]
enum Side {
    Store,
    Queue,
}

/// How the execution under test begins.
#[derive(Clone, Copy, Debug)]
enum Begin {
    /// A manual start.
    Start,
    /// A retry of an execution whose one task failed.
    Retry,
}

struct Case {
    name: &'static str,
    begin: Begin,
    faults: &'static [(Side, &'static str, u32, Strike)],
}

const CASES: &[Case] = &[
    Case {
        name: "tasks-not-written",
        begin: Begin::Start,
        faults: &[(Side::Store, "create_tasks", 1, Strike::Before)],
    },
    Case {
        name: "lister-dies-after-writing-tasks",
        begin: Begin::Start,
        faults: &[(Side::Store, "create_tasks", 1, Strike::After)],
    },
    Case {
        name: "lister-dies-after-sending-transfers",
        begin: Begin::Start,
        faults: &[(Side::Queue, "send_transfer", 1, Strike::After)],
    },
    Case {
        name: "lister-dies-after-closing-its-piece",
        begin: Begin::Start,
        faults: &[(Side::Store, "close_listing", 1, Strike::After)],
    },
    // A take also starts the task (InProgress): one write.
    Case {
        name: "transfer-dies-after-taking-and-starting-its-task",
        begin: Begin::Start,
        faults: &[(Side::Store, "take_task", 1, Strike::After)],
    },
    Case {
        name: "transfer-dies-after-ending-its-first-task",
        begin: Begin::Start,
        faults: &[(Side::Store, "transition_task", 1, Strike::After)],
    },
    Case {
        name: "transfer-dies-after-ending-its-last-task",
        begin: Begin::Start,
        faults: &[(Side::Store, "transition_task", 2, Strike::After)],
    },
    Case {
        name: "last-finish-fails",
        begin: Begin::Start,
        faults: &[(Side::Store, "finish_if_done", 3, Strike::Before)],
    },
    Case {
        name: "starter-dies-before-sending-the-listing",
        begin: Begin::Start,
        faults: &[
            (Side::Queue, "send_list", 1, Strike::Before),
            (Side::Store, "end_execution", 1, Strike::Before),
        ],
    },
    Case {
        name: "retry-dies-before-closing",
        begin: Begin::Retry,
        faults: &[(Side::Store, "close_listing", 1, Strike::Before)],
    },
    Case {
        name: "retry-dies-after-writing-tasks",
        begin: Begin::Retry,
        faults: &[
            (Side::Store, "create_tasks", 1, Strike::After),
            (Side::Store, "end_execution", 1, Strike::Before),
        ],
    },
];

/// One case's world: its own stack on the emulators, the workers on the faulty store and queue.
struct Rig {
    real: Arc<DynamoStore>,
    store: Arc<FaultyStore<DynamoStore>>,
    queue: Arc<FaultyQueue<SqsQueue>>,
    sqs: aws_sdk_sqs::Client,
    queues: Vec<(String, bool, bool)>,
    lister: ListWorker,
    transfer: TransferWorker,
    reaper: Reaper,
    _stack: ferry_local::stack::Stack,
}

impl Rig {
    async fn new(name: &str) -> Self {
        let (stack, adapters) = resources_only(name).await;
        let store = Arc::new(FaultyStore::new(Arc::clone(&adapters.store)));
        let queue = Arc::new(FaultyQueue::new(Arc::clone(&adapters.queue)));
        let connect = Arc::new(Registries::new(
            2,
            ferry::model::addresses::AddressPolicy::allowing_private(true),
            None,
        ));
        let lister = ListWorker {
            store: store.clone(),
            queue: queue.clone(),
            connect: connect.clone(),
            page_size: 100,
            max_receives: 5,
            logs: adapters.logs.clone(),
            keep_executions: 50,
            deadline_margin: Duration::ZERO,
            time_budget: None,
            types: Arc::default(),
        };
        let transfer = TransferWorker {
            store: store.clone(),
            queue: queue.clone(),
            deadline_margin: Duration::ZERO,
            time_budget: None,
            logs: adapters.logs.clone(),
            registries: RegistryPool::new(connect, 8),
            locations: Arc::new(CachedLocations::new(Some(adapters.store.clone()))),
            recent: Default::default(),
            finish_checks: Default::default(),
            max_receives: 5,
            keep_executions: 50,
            types: Arc::default(),
            processors: Arc::new(
                ferry::adapters::processor::HttpProcessorClient::new(
                    ferry::model::addresses::AddressPolicy::allowing_private(true),
                )
                .expect("a client"),
            ),
        };
        let reaper = Reaper {
            store: store.clone(),
            queue: queue.clone(),
            logs: adapters.logs.clone(),
            keep_executions: 50,
            stale: Duration::from_secs(1),
        };
        // (url, a list queue, a dead-letter queue)
        let queues = [
            ("ListQueue", true, false),
            ("TransferQueue", false, false),
            ("ListDeadLetterQueue", true, true),
            ("TransferDeadLetterQueue", false, true),
        ]
        .into_iter()
        .map(|(id, list, dead)| (stack.queues[id].clone(), list, dead))
        .collect();
        Self {
            real: adapters.store.clone(),
            store,
            queue,
            sqs: aws_sdk_sqs::Client::new(&adapters.sdk),
            queues,
            lister,
            transfer,
            reaper,
            _stack: stack,
        }
    }

    async fn policy(&self, source: &str, destination: &str, namespace: &str) -> ReplicationPolicy {
        let registry = |name: &str, url: &str| Registry {
            name: name.into(),
            kind: Some(RegistryType::DockerRegistry),
            url: url.into(),
            ..Registry::default()
        };
        let src = self
            .real
            .create_registry(&registry("src", source))
            .await
            .expect("src");
        let dst = self
            .real
            .create_registry(&registry("dst", destination))
            .await
            .expect("dst");
        let policy: ReplicationPolicy = serde_json::from_value(policy_body(
            "p",
            src.id,
            dst.id,
            json!({"dest_namespace": namespace, "dest_namespace_replace_count": 0,
                   "filters": [{"type": "name", "value": "team/app"}]}),
        ))
        .expect("policy");
        self.real.create_policy(&policy).await.expect("stored")
    }

    /// Delivers what the queues hold until the execution ends (the reaper looks whenever
    /// nothing is to be delivered); the execution as it ended.
    async fn drive(&self, execution_id: i64) -> Execution {
        let give_up_at = Instant::now() + Duration::from_secs(90);
        loop {
            let execution = self.real.get_execution(execution_id).await.expect("read");
            if execution.status.is_final() {
                return execution;
            }
            assert!(
                Instant::now() < give_up_at,
                "execution {execution_id} still running: {execution:?}"
            );
            let mut delivered = 0;
            for (url, list, dead) in &self.queues {
                delivered += self.deliver(url, *list, *dead).await;
            }
            if delivered == 0 {
                self.reaper.reap().await.expect("reaped");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    async fn deliver(&self, url: &str, list: bool, dead: bool) -> usize {
        let received = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .expect("receive");
        for m in received.messages() {
            let message = InboundMessage {
                message_id: m.message_id().unwrap_or_default().to_string(),
                body: m.body().unwrap_or_default().to_string(),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
                from_dead_letters: dead,
                receipt: None,
            };
            let deadline = Some(Instant::now() + Duration::from_secs(20));
            let handled: Result<(), HandleError> = if list {
                self.lister.handle(&message, None).await
            } else {
                self.transfer.handle(&message, deadline).await
            };
            let receipt = m.receipt_handle().unwrap_or_default();
            match handled {
                Ok(()) => {
                    self.sqs
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(receipt)
                        .send()
                        .await
                        .expect("delete");
                }
                Err(e) => {
                    tracing::info!(error = %e, "delivered again");
                    self.sqs
                        .change_message_visibility()
                        .queue_url(url)
                        .receipt_handle(receipt)
                        .visibility_timeout(0)
                        .send()
                        .await
                        .expect("visibility");
                }
            }
        }
        received.messages().len()
    }

    fn inject(&self, faults: &[(Side, &'static str, u32, Strike)]) {
        for (side, step, nth, strike) in faults {
            match side {
                Side::Store => self.store.steps.fail(step, *nth, *strike),
                Side::Queue => self.queue.steps.fail(step, *nth, *strike),
            }
        }
    }

    /// An execution that ended Failed with one failed task copying `team/app:1.1`.
    async fn failed_before(&self, policy: &ReplicationPolicy, namespace: &str) -> i64 {
        let execution = self
            .real
            .create_execution(
                policy.id,
                ferry::model::TriggerType::Manual,
                1,
                &Launch::Listing,
            )
            .await
            .expect("execution");
        let at = |registry: &Option<Registry>, repository: String| ArtifactLocation {
            registry_id: registry.as_ref().map_or(0, |r| r.id),
            repository,
            reference: "1.1".into(),
        };
        let resource = Resource {
            resource_type: ResourceType::IMAGE,
            src: at(&policy.src_registry, "team/app".into()),
            dst: at(&policy.dest_registry, format!("{namespace}/team/app")),
        };
        let task = NewTask {
            operation: Operation::Copy,
            resource_type: ResourceType::IMAGE,
            src_resource: resource.src.display(),
            dst_resource: resource.dst.display(),
            resource: Some(resource),
        };
        let created = self
            .real
            .create_tasks(execution.id, "a", &[task])
            .await
            .expect("task");
        self.real
            .transition_task(&TaskTransition {
                execution_id: execution.id,
                task_id: created[0].id,
                artifact: None,
                from: TaskStatus::Pending,
                to: TaskStatus::Failed,
                status_text: Some("refused".into()),
                figures: None,
                log: None,
            })
            .await
            .expect("failed");
        self.real
            .close_listing(execution.id, "")
            .await
            .expect("closed");
        self.real
            .finish_if_done(execution.id)
            .await
            .expect("finished");
        execution.id
    }
}

async fn run_case(
    index: usize,
    case: &Case,
    source: &TestRegistry,
    destination: &TestRegistry,
) -> String {
    // Stack names stay short: bucket names have a limit.
    let rig = Rig::new(&format!("fail{index}")).await;
    let namespace = case.name;
    let policy = rig
        .policy(&source.url(), &destination.url(), namespace)
        .await;
    let failed = match case.begin {
        Begin::Start => None,
        Begin::Retry => Some(rig.failed_before(&policy, namespace).await),
    };
    rig.inject(case.faults);
    let began = match failed {
        None => ferry::replication::start::start_execution(
            rig.store.as_ref(),
            rig.queue.as_ref(),
            policy.id,
            ferry::model::TriggerType::Manual,
            None,
            None,
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string()),
        Some(failed) => ferry::replication::retry::retry_execution(
            rig.store.as_ref(),
            rig.queue.as_ref(),
            failed,
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string()),
    };
    tracing::info!(case = case.name, ?began, "began");
    let execution_id = rig
        .real
        .list_executions(Some(policy.id), None, 1)
        .await
        .expect("executions")
        .items[0]
        .id;
    let ended = rig.drive(execution_id).await;
    let expected = if failed.is_some() { 1 } else { 2 };
    let mut wrong = Vec::new();
    if let Err(missed) = rig
        .store
        .steps
        .all_struck()
        .and(rig.queue.steps.all_struck())
    {
        wrong.push(format!("not struck: {missed}"));
    }
    if (
        ended.status.as_str(),
        ended.total,
        ended.succeed,
        ended.failed,
    ) != ("Succeed", expected, expected, 0)
    {
        wrong.push(format!(
            "ended {} {}/{} succeed, {} failed: {}",
            ended.status.as_str(),
            ended.succeed,
            ended.total,
            ended.failed,
            ended.status_text
        ));
    }
    let (from, to) = (source.http(), destination.http());
    let tags: &[&str] = if failed.is_some() {
        &["1.1"]
    } else {
        &["1.0", "1.1"]
    };
    for tag in tags {
        let copied = to
            .manifest_digest(&format!("{namespace}/team/app"), tag)
            .await;
        if copied.is_none() || copied != from.manifest_digest("team/app", tag).await {
            wrong.push(format!("{namespace}/team/app:{tag} is {copied:?}"));
        }
    }
    if wrong.is_empty() {
        String::new()
    } else {
        format!("{}: {}", case.name, wrong.join("; "))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_step_failed_once_heals_and_the_execution_ends_with_the_right_counts() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let http = source.http();
    let base = layer(900, 3000);
    http.push_image("team/app", "1.0", &[base.clone(), layer(901, 2000)])
        .await;
    http.push_image("team/app", "1.1", &[base, layer(902, 2000)])
        .await;
    let outcomes = futures::future::join_all(
        CASES
            .iter()
            .enumerate()
            .map(|(i, case)| run_case(i, case, &source, &destination)),
    )
    .await;
    let wrong: Vec<String> = outcomes.into_iter().filter(|o| !o.is_empty()).collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
