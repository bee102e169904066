//! SQS deliveries as Lambda sees them: duplicates, redeliveries, the DLQ and what dies there.

use super::*;

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
    let finished = ended_execution(&stack, execution.id).await;
    assert_eq!(
        (
            finished.status,
            finished.total,
            finished.succeed,
            finished.in_progress
        ),
        (ExecutionStatus::Succeed, 1, 1, 0)
    );
    let log = stack.adapters.task_log(execution.id, task.id).await;
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
    assert_eq!(stack.adapters.task_log(execution.id, task.id).await, log);
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
    let log = stack.adapters.task_log(execution.id, task.id).await;
    assert!(log.contains("attempt 1 failed, will retry"), "{log}");
    let finished = ended_execution(&stack, execution.id).await;
    assert_eq!(
        (finished.status, finished.failed),
        (ExecutionStatus::Failed, 1)
    );
    queue_is_drained(&stack, "TransferQueue").await;
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
            artifact: None,
            from: TaskStatus::Pending,
            to: TaskStatus::InProgress,
            status_text: None,
            figures: None,
            log: None,
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
        .create_execution(
            1,
            TriggerType::Manual,
            1,
            &ferry::ports::store::Launch::Listing,
        )
        .await
        .expect("execution");
    let list = ferry::messages::ListMessage {
        correlation_id: None,
        execution_id: listing.id,
        policy_id: 1,
        start_after: None,
        event: None,
        resume: None,
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
