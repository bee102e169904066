//! Executions and tasks: atomic counters, duplicates, listings; the queues and task logs.

use super::*;

#[tokio::test]
async fn fifty_concurrent_counter_updates_add_up_exactly_and_duplicates_change_nothing() {
    let (_stack, a) = resources_only("counters").await;
    let execution = a
        .store
        .create_execution(7, TriggerType::Manual, 1)
        .await
        .expect("execution");
    let mut tasks = a
        .store
        .create_tasks(execution.id, "a", &new_tasks(25))
        .await
        .expect("tasks");
    tasks.extend(
        a.store
            .create_tasks(execution.id, "b", &new_tasks(25))
            .await
            .expect("tasks"),
    );
    assert_eq!(tasks.len(), 50);
    // The same batch again creates nothing and returns the same tasks.
    let again = a
        .store
        .create_tasks(execution.id, "a", &new_tasks(25))
        .await
        .expect("again");
    assert_eq!(
        again.iter().map(|t| t.id).collect::<Vec<_>>(),
        tasks[..25].iter().map(|t| t.id).collect::<Vec<_>>()
    );
    let e = a.store.get_execution(execution.id).await.expect("get");
    assert_eq!((e.total, e.in_progress), (50, 50));

    // Each task ends twice at once (a duplicate delivery): every counter moves exactly once.
    let ends = tasks.iter().enumerate().flat_map(|(i, task)| {
        let to = match i % 5 {
            0 => TaskStatus::Failed,
            1 => TaskStatus::Stopped,
            _ => TaskStatus::Succeed,
        };
        let transition = TaskTransition {
            execution_id: execution.id,
            task_id: task.id,
            from: TaskStatus::Pending,
            to,
            status_text: Some(format!("ended {i}")),
            figures: Some(TransferFigures {
                bytes_copied: 10,
                blobs_copied: 1,
                ..TransferFigures::default()
            }),
        };
        let store = Arc::clone(&a.store);
        [transition.clone(), transition].map(move |t| {
            let store = Arc::clone(&store);
            async move { store.transition_task(&t).await }
        })
    });
    let results = futures::future::join_all(ends).await;
    let changed = results
        .into_iter()
        .map(|r| r.expect("transition"))
        .filter(|c| *c)
        .count();
    assert_eq!(changed, 50, "each task changed exactly once");
    let e = a.store.get_execution(execution.id).await.expect("get");
    assert_eq!(
        (e.total, e.in_progress, e.succeed, e.failed, e.stopped),
        (50, 0, 30, 10, 10)
    );
    assert_eq!(
        e.status,
        ExecutionStatus::InProgress,
        "listing is still open"
    );

    a.store
        .close_listing(execution.id, "")
        .await
        .expect("close");
    a.store
        .close_listing(execution.id, "")
        .await
        .expect("closing twice counts once");
    assert_eq!(
        a.store.finish_if_done(execution.id).await.expect("finish"),
        Some(ExecutionStatus::Failed)
    );
    assert_eq!(
        a.store.finish_if_done(execution.id).await.expect("finish"),
        None,
        "written once"
    );
    let e = a.store.get_execution(execution.id).await.expect("get");
    assert_eq!(e.status, ExecutionStatus::Failed);
    assert!(e.end_time.is_some());
    let task = a
        .store
        .get_task(execution.id, tasks[2].id)
        .await
        .expect("task");
    assert_eq!(task.status, TaskStatus::Succeed);
    assert_eq!(task.figures.bytes_copied, 10);
    assert!(task.end_time.is_some());
}

#[tokio::test]
async fn executions_by_policy_and_tasks_by_execution() {
    let (_stack, a) = resources_only("lists").await;
    let mut of_policy_1 = Vec::new();
    for i in 0..6 {
        let e = a
            .store
            .create_execution(if i % 2 == 0 { 1 } else { 2 }, TriggerType::Scheduled, 0)
            .await
            .expect("create");
        if i % 2 == 0 {
            of_policy_1.push(e.id);
        }
    }
    of_policy_1.reverse();
    let page = a
        .store
        .list_executions(Some(1), None, 10)
        .await
        .expect("list");
    assert_eq!(
        page.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        of_policy_1,
        "newest first"
    );
    assert_eq!(
        a.store
            .list_executions(None, None, 100)
            .await
            .expect("all")
            .items
            .len(),
        6
    );

    let e = a
        .store
        .create_execution(3, TriggerType::Manual, 0)
        .await
        .expect("create");
    let created = a
        .store
        .create_tasks(e.id, "x", &new_tasks(12))
        .await
        .expect("tasks");
    let first = a.store.list_tasks(e.id, None, 5).await.expect("tasks");
    assert_eq!(first.items.len(), 5);
    let rest = a
        .store
        .list_tasks(e.id, first.next.as_deref(), 100)
        .await
        .expect("tasks");
    assert_eq!(first.items.len() + rest.items.len(), created.len());

    a.store.delete_execution(e.id).await.expect("delete");
    assert!(matches!(
        a.store.get_execution(e.id).await.unwrap_err(),
        StoreError::NotFound { .. }
    ));
    assert!(a
        .store
        .list_tasks(e.id, None, 100)
        .await
        .expect("tasks")
        .items
        .is_empty());
}

#[tokio::test]
async fn list_messages_go_out_in_batches_and_come_back_typed() {
    let (stack, a) = resources_only("queue").await;
    let messages: Vec<ListMessage> = (0..23)
        .map(|i| ListMessage {
            event: None,
            execution_id: i,
            policy_id: 1,
            start_after: Some(format!("repo-{i}")),
            resume: None,
        })
        .collect();
    a.queue.send_list(&messages).await.expect("send");
    let sqs = aws_sdk_sqs::Client::new(&a.sdk);
    let url = &stack.queues["ListQueue"];
    let mut received = HashSet::new();
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            let decoded: ListMessage = decode(m.body().unwrap_or_default()).expect("typed");
            received.insert(decoded.execution_id);
        }
        if received.len() == 23 {
            break;
        }
    }
    assert_eq!(received.len(), 23);
}

#[tokio::test]
async fn task_logs_append_and_read_whole() {
    let (_stack, a) = resources_only("logs").await;
    assert_eq!(a.logs.read(1, 2).await.expect("empty"), "");
    for i in 0..5 {
        a.logs
            .append(1, 2, &[format!("line {i}a"), format!("line {i}b")])
            .await
            .expect("append");
    }
    a.logs
        .append(1, 3, &["other task".into()])
        .await
        .expect("append");
    let text = a.logs.read(1, 2).await.expect("read");
    let expected: String = (0..5).map(|i| format!("line {i}a\nline {i}b\n")).collect();
    assert_eq!(text, expected);
    a.logs.delete_execution(1).await.expect("delete");
    assert_eq!(a.logs.read(1, 2).await.expect("read"), "");
}
