//! The local event plane with the function binaries: SQS deliveries to `transfer`, redrive to
//! the DLQ, duplicate deliveries, the HTTP gateway to `api`, and a schedule firing `trigger`
//! through `lister` and `transfer` to a finished execution.

use aws_sdk_sqs::types::QueueAttributeName;
use ferry::messages::TransferMessage;
use ferry::model::CopyOptions;
use ferry::model::{
    ArtifactLocation, Execution, ExecutionStatus, Operation, Registry, RegistryType,
    ReplicationPolicy, Resource, ResourceType, Task, TaskStatus, TriggerType,
};
use ferry::ports::{
    ExecutionStore, MessageQueue, NewTask, PolicyStore, RegistryStore, TaskLogSink, TaskStore,
};
use ferry_tests::images::layer;
use ferry_tests::registry::TestRegistry;
use ferry_tests::{eventually, LocalStack, LocalStackOptions, ADMIN_PASSWORD};

async fn add_registry(stack: &LocalStack, name: &str, url: &str) -> i64 {
    stack
        .adapters
        .store
        .create_registry(&Registry {
            name: name.into(),
            kind: Some(RegistryType::DockerRegistry),
            url: url.into(),
            ..Registry::default()
        })
        .await
        .expect("registry")
        .id
}

/// An execution with one pending task copying `src` to `dst`, and the message for it.
async fn one_task(
    stack: &LocalStack,
    src: ArtifactLocation,
    dst: ArtifactLocation,
) -> (Execution, Task, TransferMessage) {
    let store = &stack.adapters.store;
    let execution = store
        .create_execution(1, TriggerType::Manual, 0)
        .await
        .expect("execution");
    let task = store
        .create_tasks(
            execution.id,
            "only",
            &[NewTask {
                operation: Operation::Copy,
                resource_type: ResourceType::Image,
                src_resource: src.display(),
                dst_resource: dst.display(),
                resource: None,
            }],
        )
        .await
        .expect("task")
        .remove(0);
    let message = TransferMessage {
        operation: Operation::Copy,
        execution_id: execution.id,
        task_id: task.id,
        resource: Resource {
            resource_type: ResourceType::Image,
            src,
            dst,
        },
        options: CopyOptions::default(),
        platforms: Vec::new(),
        checkpoint: None,
    };
    (execution, task, message)
}

async fn ended_task(stack: &LocalStack, execution_id: i64, task_id: i64) -> Task {
    eventually(60, "the task to end", || async {
        let task = stack
            .adapters
            .store
            .get_task(execution_id, task_id)
            .await
            .expect("task");
        task.status.is_final().then_some(task)
    })
    .await
}

async fn queue_is_drained(stack: &LocalStack, logical_id: &str) {
    let sqs = aws_sdk_sqs::Client::new(&stack.adapters.sdk);
    let url = stack.queue_url(logical_id);
    eventually(30, "the queue to drain", || async {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("attributes");
        let count = |name: QueueAttributeName| {
            attributes
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        (count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            == 0)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transfer_message_reaches_the_transfer_binary_and_a_duplicate_changes_nothing() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let stack = LocalStack::start("deliver", LocalStackOptions::default()).await;
    let src_id = add_registry(&stack, "src", &source.url()).await;
    let dst_id = add_registry(&stack, "dst", &destination.url()).await;
    let digest = source
        .http()
        .push_image("library/app", "v1", &[layer(1, 300_000), layer(2, 4096)])
        .await;

    let (execution, task, message) = one_task(
        &stack,
        ArtifactLocation {
            registry_id: src_id,
            repository: "library/app".into(),
            reference: "v1".into(),
        },
        ArtifactLocation {
            registry_id: dst_id,
            repository: "mirror/app".into(),
            reference: "v1".into(),
        },
    )
    .await;
    stack
        .adapters
        .queue
        .send_transfer(std::slice::from_ref(&message))
        .await
        .expect("send");

    let done = ended_task(&stack, execution.id, task.id).await;
    assert_eq!(done.status, TaskStatus::Succeed, "{}", done.status_text);
    assert_eq!(done.figures.blobs_copied, 3, "config and two layers");
    assert_eq!(
        destination.http().manifest_digest("mirror/app", "v1").await,
        Some(digest.clone()),
        "byte-exact"
    );
    let finished = stack
        .adapters
        .store
        .get_execution(execution.id)
        .await
        .expect("execution");
    assert_eq!(
        (
            finished.status,
            finished.total,
            finished.succeed,
            finished.in_progress
        ),
        (ExecutionStatus::Succeed, 1, 1, 0)
    );
    let log = stack
        .adapters
        .logs
        .read(execution.id, task.id)
        .await
        .expect("log");
    assert!(
        log.contains(&digest),
        "the task log names what was copied:\n{log}"
    );

    // The same message again: acknowledged, nothing changes.
    stack
        .adapters
        .queue
        .send_transfer(std::slice::from_ref(&message))
        .await
        .expect("send again");
    queue_is_drained(&stack, "TransferQueue").await;
    let again = stack
        .adapters
        .store
        .get_task(execution.id, task.id)
        .await
        .expect("task");
    assert_eq!(again, done, "a duplicate delivery changed the task");
    assert_eq!(
        stack
            .adapters
            .store
            .get_execution(execution.id)
            .await
            .expect("execution"),
        finished
    );
    assert_eq!(
        stack
            .adapters
            .logs
            .read(execution.id, task.id)
            .await
            .expect("log"),
        log
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_that_keeps_failing_lands_in_the_dlq_after_the_configured_receives() {
    let stack = LocalStack::start(
        "dlq",
        LocalStackOptions {
            parameters: &[("TransferMaxReceives", "3")],
            visibility_timeout: 1,
            // Read here before the transfer function's dead-letter consumer would.
            unpolled_queues: &["TransferDeadLetterQueue"],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let sqs = aws_sdk_sqs::Client::new(&stack.adapters.sdk);
    let body = r#"{"kind":"transfer","version":99,"execution_id":1,"task_id":1}"#;
    sqs.send_message()
        .queue_url(stack.queue_url("TransferQueue"))
        .message_body(body)
        .send()
        .await
        .expect("send");
    let dlq = stack.queue_url("TransferDeadLetterQueue");
    let (dead, receives) = eventually(60, "the message in the DLQ", || async {
        let out = sqs
            .receive_message()
            .queue_url(&dlq)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        out.messages().first().map(|m| {
            let receives = m
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                })
                .cloned()
                .unwrap_or_default();
            (m.body().unwrap_or_default().to_string(), receives)
        })
    })
    .await;
    assert_eq!(dead, body);
    // Received three times from the source queue, the fourth receive is the DLQ's own.
    assert_eq!(receives, "4", "receive count when it reached the DLQ");
    queue_is_drained(&stack, "TransferQueue").await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_registry_fails_the_task_at_the_last_receive_with_the_reason() {
    let source = TestRegistry::start();
    let mut gone = TestRegistry::start();
    let gone_url = gone.url();
    gone.kill();
    let stack = LocalStack::start(
        "unreachable",
        LocalStackOptions {
            parameters: &[("TransferMaxReceives", "2")],
            // One quick retry inside each delivery, so deliveries do not overlap.
            extra_env: &[("FERRY_REGISTRY_MAX_RETRIES", "1")],
            visibility_timeout: 3,
            ..LocalStackOptions::default()
        },
    )
    .await;
    let src_id = add_registry(&stack, "src", &source.url()).await;
    let dst_id = add_registry(&stack, "gone", &gone_url).await;
    source
        .http()
        .push_image("app", "v1", &[layer(3, 1000)])
        .await;
    let (execution, task, message) = one_task(
        &stack,
        ArtifactLocation {
            registry_id: src_id,
            repository: "app".into(),
            reference: "v1".into(),
        },
        ArtifactLocation {
            registry_id: dst_id,
            repository: "app".into(),
            reference: "v1".into(),
        },
    )
    .await;
    stack
        .adapters
        .queue
        .send_transfer(&[message])
        .await
        .expect("send");
    let done = ended_task(&stack, execution.id, task.id).await;
    assert_eq!(done.status, TaskStatus::Failed);
    let host = gone_url.trim_start_matches("http://");
    assert!(
        done.status_text.contains(host),
        "the reason names the registry: {}",
        done.status_text
    );
    let log = stack
        .adapters
        .logs
        .read(execution.id, task.id)
        .await
        .expect("log");
    assert!(log.contains("attempt 1 failed, will retry"), "{log}");
    let finished = stack
        .adapters
        .store
        .get_execution(execution.id)
        .await
        .expect("execution");
    assert_eq!(
        (finished.status, finished.failed),
        (ExecutionStatus::Failed, 1)
    );
    queue_is_drained(&stack, "TransferQueue").await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_serves_the_api_function() {
    let stack = LocalStack::start("gateway", LocalStackOptions::default()).await;
    let http = reqwest::Client::new();
    let ping = http
        .get(format!("{}/ping", stack.api))
        .header("x-request-id", "trace-me")
        .send()
        .await
        .expect("ping");
    assert_eq!(ping.status(), 200);
    assert_eq!(ping.headers()["x-request-id"], "trace-me");
    assert_eq!(ping.text().await.expect("body"), "Pong");

    let info = http
        .get(format!("{}/systeminfo", stack.api))
        .send()
        .await
        .expect("systeminfo");
    assert_eq!(info.status(), 200);
    let info: serde_json::Value = info.json().await.expect("json");
    assert!(info["harbor_version"]
        .as_str()
        .unwrap_or_default()
        .starts_with("ferry-"));

    let anonymous = http
        .get(format!("{}/registries", stack.api))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    assert!(
        anonymous.headers().contains_key("x-request-id"),
        "a request id is generated"
    );
    let body: serde_json::Value = anonymous.json().await.expect("harbor error body");
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");

    let wrong = http
        .get(format!("{}/registries", stack.api))
        .basic_auth("admin", Some("nope"))
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), 401);
    let unknown = http
        .get(format!("{}/no-such-route", stack.api))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 404);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_fires_trigger_and_the_execution_runs_through_lister_and_transfer() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let stack = LocalStack::start("schedule", LocalStackOptions::default()).await;
    let src_id = add_registry(&stack, "src", &source.url()).await;
    let dst_id = add_registry(&stack, "dst", &destination.url()).await;
    let nested = source
        .http()
        .push_image("team/tools/app", "1.0", &[layer(10, 2000)])
        .await;
    let plain = source
        .http()
        .push_image("web", "2.0", &[layer(11, 2000), layer(10, 2000)])
        .await;
    let policy = stack
        .adapters
        .store
        .create_policy(&ReplicationPolicy {
            name: "nightly".into(),
            src_registry: Some(Registry {
                id: src_id,
                ..Registry::default()
            }),
            dest_registry: Some(Registry {
                id: dst_id,
                ..Registry::default()
            }),
            dest_namespace: "mirror".into(),
            dest_namespace_replace_count: 0,
            ..ReplicationPolicy::default()
        })
        .await
        .expect("policy");

    let trigger = stack
        .plane
        .stack
        .function("ferry-trigger")
        .expect("trigger function");
    let at = (time::OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .expect("time");
    aws_sdk_scheduler::Client::new(&stack.adapters.sdk)
        .create_schedule()
        .group_name(&stack.plane.stack.schedule_groups[0])
        .name(format!("policy-{}", policy.id))
        .schedule_expression(format!("at({at})"))
        .flexible_time_window(
            aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
                .mode(aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off)
                .build()
                .expect("window"),
        )
        .target(
            aws_sdk_scheduler::types::Target::builder()
                .arn(&trigger.arn)
                .role_arn("arn:aws:iam::123456789012:role/scheduler")
                .input(serde_json::json!({"policy_id": policy.id}).to_string())
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("schedule");

    let execution = eventually(60, "a finished scheduled execution", || async {
        let page = stack
            .adapters
            .store
            .list_executions(Some(policy.id), None, 10)
            .await
            .expect("list");
        page.items.into_iter().find(|e| e.status.is_final())
    })
    .await;
    assert_eq!(execution.trigger, TriggerType::Scheduled);
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeed,
        "{}",
        execution.status_text
    );
    assert_eq!((execution.total, execution.succeed), (2, 2));
    assert_eq!(
        destination
            .http()
            .manifest_digest("mirror/team/tools/app", "1.0")
            .await,
        Some(nested)
    );
    assert_eq!(
        destination
            .http()
            .manifest_digest("mirror/web", "2.0")
            .await,
        Some(plain)
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_execution_stops_a_chunked_copy_within_a_chunk() {
    // A slow link to the destination: every chunk takes most of a second.
    let chunked = CopyOptions {
        copy_by_chunk: true,
        ..CopyOptions::default()
    };
    stop_during_copy("stop-chunked", chunked, 700).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_execution_stops_a_streamed_copy_within_seconds() {
    // One streamed upload, paced by the policy's speed to 4 MiB/s: 16 s unless stopped.
    let streamed = CopyOptions {
        speed: 4 * 1024,
        ..CopyOptions::default()
    };
    stop_during_copy("stop-streamed", streamed, 1).await;
}

/// Stops the execution while a 64 MiB blob uploads (PATCH requests delayed by `patch_delay_ms`):
/// the task ends Stopped within seconds and nothing is tagged at the destination.
async fn stop_during_copy(name: &str, options: CopyOptions, patch_delay_ms: u64) {
    use ferry_tests::faults::{Action, Fault, FaultProxy};
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let slow = FaultProxy::start(
        &destination.url(),
        vec![Fault {
            method: "PATCH",
            path: "/blobs/uploads/".into(),
            action: Action::Delay(patch_delay_ms),
            times: 1000,
        }],
    )
    .await;
    let stack = LocalStack::start(name, LocalStackOptions::default()).await;
    let src_id = add_registry(&stack, "src", &source.url()).await;
    let dst_id = add_registry(&stack, "slow-dst", &slow.url()).await;
    source
        .http()
        .push_image("big", "v1", &[layer(70, 64 * 1024 * 1024)])
        .await;
    let (execution, task, mut message) = one_task(
        &stack,
        ArtifactLocation {
            registry_id: src_id,
            repository: "big".into(),
            reference: "v1".into(),
        },
        ArtifactLocation {
            registry_id: dst_id,
            repository: "big".into(),
            reference: "v1".into(),
        },
    )
    .await;
    message.options = options;
    stack
        .adapters
        .queue
        .send_transfer(&[message])
        .await
        .expect("send");
    eventually(30, "the upload to be under way", || async {
        (!slow.hits().is_empty()).then_some(())
    })
    .await;
    let stopped_at = std::time::Instant::now();
    assert!(stack
        .adapters
        .store
        .end_execution(
            execution.id,
            ExecutionStatus::Stopped,
            "stopped by the user"
        )
        .await
        .expect("stop"));

    let done = ended_task(&stack, execution.id, task.id).await;
    assert_eq!(done.status, TaskStatus::Stopped, "{}", done.status_text);
    assert!(
        stopped_at.elapsed() < std::time::Duration::from_secs(6),
        "stopped within a chunk or two seconds, not at the end"
    );
    assert!(
        slow.hits().len() < 8,
        "the copy went on after the stop: {} chunks",
        slow.hits().len()
    );
    assert_eq!(destination.http().manifest_digest("big", "v1").await, None);
    let e = stack
        .adapters
        .store
        .get_execution(execution.id)
        .await
        .expect("execution");
    assert_eq!(
        (e.status, e.stopped, e.in_progress),
        (ExecutionStatus::Stopped, 1, 0)
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_out_of_time_continues_in_another_invocation_where_it_stopped() {
    use ferry_tests::faults::{Action, Fault, FaultProxy};
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let slow = FaultProxy::start(
        &destination.url(),
        vec![Fault {
            method: "PATCH",
            path: "/blobs/uploads/".into(),
            action: Action::Delay(600),
            times: 1000,
        }],
    )
    .await;
    // Each invocation may copy for two seconds: five slow chunks need three or more.
    let stack = LocalStack::start(
        "deadline",
        LocalStackOptions {
            extra_env: &[("FERRY_TRANSFER_TIME_BUDGET_MS", "2000")],
            // Above an invocation's length, as in AWS, so deliveries do not overlap.
            visibility_timeout: 10,
            ..LocalStackOptions::default()
        },
    )
    .await;
    let src_id = add_registry(&stack, "src", &source.url()).await;
    let dst_id = add_registry(&stack, "slow-dst", &slow.url()).await;
    let digest = source
        .http()
        .push_image("large", "v1", &[layer(120, 40 * 1024 * 1024)])
        .await;
    let (execution, task, mut message) = one_task(
        &stack,
        ArtifactLocation {
            registry_id: src_id,
            repository: "large".into(),
            reference: "v1".into(),
        },
        ArtifactLocation {
            registry_id: dst_id,
            repository: "large".into(),
            reference: "v1".into(),
        },
    )
    .await;
    // Chunked: each chunk crosses the slow link once.
    message.options.copy_by_chunk = true;
    stack
        .adapters
        .queue
        .send_transfer(&[message])
        .await
        .expect("send");
    let done = ended_task(&stack, execution.id, task.id).await;
    assert_eq!(done.status, TaskStatus::Succeed, "{}", done.status_text);
    assert_eq!(
        destination.http().manifest_digest("large", "v1").await,
        Some(digest)
    );
    let log = stack
        .adapters
        .logs
        .read(execution.id, task.id)
        .await
        .expect("log");
    assert!(
        log.matches("continuing in another invocation").count() >= 1,
        "{log}"
    );
    // Five chunks of 8 MiB and the config's one, each sent once: the continuation resumed, it
    // did not start over.
    assert_eq!(slow.hits().len(), 6, "{:#?} {log}", slow.hits());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn what_dies_in_a_dead_letter_queue_ends_failed_with_the_reason() {
    let stack = LocalStack::start("dead", LocalStackOptions::default()).await;
    let sqs = aws_sdk_sqs::Client::new(&stack.adapters.sdk);
    let store = &stack.adapters.store;
    // A task whose copy timed out or crashed through every delivery: still InProgress.
    let location = |repository: &str| ArtifactLocation {
        registry_id: 1,
        repository: repository.into(),
        reference: "v1".into(),
    };
    let (execution, task, message) = one_task(&stack, location("lost"), location("lost")).await;
    assert!(store
        .transition_task(&ferry::ports::TaskTransition {
            execution_id: execution.id,
            task_id: task.id,
            from: TaskStatus::Pending,
            to: TaskStatus::InProgress,
            status_text: None,
            figures: None,
        })
        .await
        .expect("running"));
    sqs.send_message()
        .queue_url(stack.queue_url("TransferDeadLetterQueue"))
        .message_body(ferry::messages::encode(&message).expect("encode"))
        .send()
        .await
        .expect("send");
    let done = ended_task(&stack, execution.id, task.id).await;
    assert_eq!(done.status, TaskStatus::Failed);
    assert!(
        done.status_text.contains("timed out or crashed"),
        "{}",
        done.status_text
    );
    let ended = eventually(30, "the execution to end", || async {
        let e = store.get_execution(execution.id).await.expect("execution");
        e.status.is_final().then_some(e)
    })
    .await;
    assert_eq!(
        (ended.status, ended.failed, ended.in_progress),
        (ExecutionStatus::Failed, 1, 0)
    );

    // A list piece likewise ends its execution.
    let listing = store
        .create_execution(1, TriggerType::Manual, 1)
        .await
        .expect("execution");
    let list = ferry::messages::ListMessage {
        execution_id: listing.id,
        policy_id: 1,
        start_after: None,
        event: None,
    };
    sqs.send_message()
        .queue_url(stack.queue_url("ListDeadLetterQueue"))
        .message_body(ferry::messages::encode(&list).expect("encode"))
        .send()
        .await
        .expect("send");
    let failed = eventually(30, "the listing execution to fail", || async {
        let e = store.get_execution(listing.id).await.expect("execution");
        e.status.is_final().then_some(e)
    })
    .await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(
        failed.status_text.contains("listing gave up"),
        "{}",
        failed.status_text
    );
    stack.stop().await;
}
