//! Copies that outlast a moment: stopped mid-copy, continued across invocations.

use super::*;

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
    let e = ended_execution(&stack, execution.id).await;
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
    let log = stack.adapters.task_log(execution.id, task.id).await;
    assert!(
        log.matches("continuing in another invocation").count() >= 1,
        "{log}"
    );
    // Five chunks of 8 MiB and the config's one, each sent once: the continuation resumed, it
    // did not start over.
    assert_eq!(slow.hits().len(), 6, "{:#?} {log}", slow.hits());
    stack.stop().await;
}
