//! Executions and tasks: atomic counters, duplicates, listings; the queues and task logs.

use super::*;

#[tokio::test]
async fn fifty_concurrent_counter_updates_add_up_exactly_and_duplicates_change_nothing() {
    let (_stack, a) = resources_only("counters").await;
    let execution = a
        .store
        .create_execution(7, TriggerType::Manual, 1, &Launch::Listing)
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
            artifact: None,
            from: TaskStatus::Pending,
            to,
            status_text: Some(format!("ended {i}")),
            figures: Some(TransferFigures {
                bytes_copied: 10,
                blobs_copied: 1,
                ..TransferFigures::default()
            }),
            log: None,
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
            .create_execution(
                if i % 2 == 0 { 1 } else { 2 },
                TriggerType::Scheduled,
                0,
                &Launch::Listing,
            )
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
        .create_execution(3, TriggerType::Manual, 0, &Launch::Listing)
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
            correlation_id: None,
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
async fn task_logs_append_in_entry_order_once_and_read_whole() {
    let (_stack, a) = resources_only("logs").await;
    assert_eq!(a.logs.read(1, 2).await.expect("empty"), "");
    // Written out of order, and the third twice (a retried delivery): read in entry order, once.
    for i in [4, 0, 2, 1, 3, 2] {
        let entry = ferry::ports::logs::log_entry(0, i + 1);
        a.logs
            .append(1, 2, &entry, &[format!("line {i}a"), format!("line {i}b")])
            .await
            .expect("append");
    }
    a.logs
        .append(1, 3, "00000-00001", &["other task".into()])
        .await
        .expect("append");
    let text = a.logs.read(1, 2).await.expect("read");
    let expected: String = (0..5).map(|i| format!("line {i}a\nline {i}b\n")).collect();
    assert_eq!(text, expected);
    a.logs.delete_execution(1).await.expect("delete");
    assert_eq!(a.logs.read(1, 2).await.expect("read"), "");
}

#[tokio::test]
async fn of_many_starts_at_once_of_a_one_at_a_time_policy_exactly_one_runs() {
    use ferry::replication::start::{start_execution, Started};
    let (_stack, a) = resources_only("one-at-a-time").await;
    let src = a
        .store
        .create_registry(&registry("src"))
        .await
        .expect("src");
    let dest = a
        .store
        .create_registry(&registry("dest"))
        .await
        .expect("dest");
    let mut one = policy("one", src.id, dest.id);
    one.single_active_replication = true;
    let one = a.store.create_policy(&one).await.expect("policy");
    let start = || async {
        start_execution(
            a.store.as_ref(),
            a.queue.as_ref(),
            one.id,
            TriggerType::Manual,
            None,
            None,
        )
        .await
        .expect("start")
    };
    let started = futures::future::join_all((0..8).map(|_| start())).await;
    let running: Vec<i64> = started
        .iter()
        .filter_map(|s| match s {
            Started::Running(e) => Some(e.id),
            _ => None,
        })
        .collect();
    assert_eq!(running.len(), 1, "{started:?}");
    assert_eq!(
        started
            .iter()
            .filter(|s| matches!(s, Started::Skipped(e) if e.status == ExecutionStatus::Stopped))
            .count(),
        7
    );
    // Ended, it leaves its place to the next start.
    a.store
        .end_execution(running[0], ExecutionStatus::Succeed, "")
        .await
        .expect("ended");
    assert!(matches!(start().await, Started::Running(_)));
}

#[tokio::test]
async fn the_reaper_sees_what_runs_how_it_was_launched_and_when_its_tasks_last_moved() {
    let (_stack, a) = resources_only("reaper-view").await;
    let event = ferry::messages::ArtifactEvent {
        repository: "team/app".into(),
        reference: "1.0".into(),
        deleted: false,
    };
    let launch = Launch::Event(event);
    let execution = a
        .store
        .create_execution(4, TriggerType::EventBased, 1, &launch)
        .await
        .expect("execution");
    let ended = a
        .store
        .create_execution(4, TriggerType::Manual, 1, &Launch::RetryOf(1))
        .await
        .expect("execution");
    a.store
        .end_execution(ended.id, ExecutionStatus::Failed, "gone")
        .await
        .expect("ended");
    let running = a.store.running_executions().await.expect("running");
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(
        (
            running[0].execution.id,
            &running[0].launch,
            running[0].relaunched
        ),
        (execution.id, &launch, false)
    );
    assert!(a.store.mark_relaunched(execution.id).await.expect("mark"));
    assert!(!a.store.mark_relaunched(execution.id).await.expect("again"));
    let running = a.store.running_executions().await.expect("running");
    assert!(running[0].relaunched);

    let tasks = a
        .store
        .create_tasks(execution.id, "a", &new_tasks(2))
        .await
        .expect("tasks");
    let before = ferry::model::time_format::now_millis();
    a.store
        .take_task(execution.id, tasks[0].id, 0, before + 600_000, "m1")
        .await
        .expect("taken");
    a.store
        .release_task(execution.id, tasks[0].id, 0, false, "m1")
        .await
        .expect("released");
    let open = a.store.open_tasks(execution.id).await.expect("open");
    assert_eq!(open.len(), 2);
    let worked = open[0].1.lease_until.expect("last worked");
    assert!(
        (before..before + 60_000).contains(&worked),
        "let go now, not at the lease's end: {worked} vs {before}"
    );
    assert_eq!(open[1].1.lease_until, None, "never taken");

    a.queue
        .send_list(&[ListMessage {
            correlation_id: None,
            execution_id: execution.id,
            policy_id: 4,
            start_after: None,
            event: None,
            resume: None,
        }])
        .await
        .expect("sent");
    assert!(a.queue.waiting().await.expect("waiting") >= 1);
}

#[tokio::test]
async fn a_task_is_held_by_one_message_at_a_time_and_its_redelivery_takes_it_again() {
    use ferry::model::Take;
    let (_stack, a) = resources_only("leases").await;
    let execution = a
        .store
        .create_execution(5, TriggerType::Manual, 1, &Launch::Listing)
        .await
        .expect("execution");
    let task = a
        .store
        .create_tasks(execution.id, "a", &new_tasks(1))
        .await
        .expect("tasks")[0]
        .id;
    let until = ferry::model::time_format::now_millis() + 600_000;
    let take = |holder: &'static str| {
        let store = Arc::clone(&a.store);
        async move {
            store
                .take_task(execution.id, task, 0, until, holder)
                .await
                .expect("take")
        }
    };
    assert_eq!(take("m1").await, Take::Granted);
    assert_eq!(take("m2").await, Take::Held, "another message waits");
    assert_eq!(take("m1").await, Take::Granted, "m1 delivered again");
    a.store
        .release_task(execution.id, task, 0, false, "m2")
        .await
        .expect("release");
    assert_eq!(take("m2").await, Take::Held, "only the holder lets go");
    a.store
        .release_task(execution.id, task, 0, true, "m1")
        .await
        .expect("release");
    assert_eq!(
        take("m2").await,
        Take::Stale,
        "handed on from continuation 0"
    );
    assert_eq!(
        a.store
            .take_task(execution.id, task, 1, until, "m3")
            .await
            .expect("take"),
        Take::Granted,
        "the successor"
    );
}

#[tokio::test]
async fn execution_counts_move_with_each_create_and_delete_once() {
    let (_stack, a) = resources_only("counts").await;
    let mut ids = Vec::new();
    for policy in [1, 1, 2] {
        ids.push(
            a.store
                .create_execution(policy, TriggerType::Manual, 1, &Launch::Listing)
                .await
                .expect("execution")
                .id,
        );
    }
    let counts = || async {
        (
            a.store.count_executions(None).await.expect("count"),
            a.store.count_executions(Some(1)).await.expect("count"),
            a.store.count_executions(Some(2)).await.expect("count"),
        )
    };
    assert_eq!(counts().await, (3, 2, 1));
    // A delete delivered twice (two sweeps at once) counts once.
    let (first, second) = tokio::join!(
        a.store.delete_execution(ids[0]),
        a.store.delete_execution(ids[0])
    );
    first.expect("delete");
    second.expect("delete again");
    assert_eq!(counts().await, (2, 1, 1));
    // Page 1 of the newest first, read alone.
    let page = a
        .store
        .list_executions(Some(1), None, 1)
        .await
        .expect("page");
    assert_eq!(
        page.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[1]]
    );
}

#[tokio::test]
async fn skipped_tasks_end_together_and_a_task_that_moved_on_is_left_alone() {
    let (_stack, a) = resources_only("batched").await;
    let execution = a
        .store
        .create_execution(3, TriggerType::Manual, 1, &Launch::Listing)
        .await
        .expect("execution");
    let tasks = a
        .store
        .create_tasks(execution.id, "p", &new_tasks(6))
        .await
        .expect("tasks");
    let skip = |task: &ferry::model::Task| TaskTransition {
        execution_id: execution.id,
        task_id: task.id,
        artifact: None,
        from: TaskStatus::Pending,
        to: TaskStatus::Succeed,
        status_text: Some("skipped: unchanged".into()),
        figures: Some(TransferFigures::default()),
        log: None,
    };
    // Three in one write.
    let first: Vec<_> = tasks[..3].iter().map(skip).collect();
    assert_eq!(a.store.transition_tasks(&first).await.expect("batch"), 3);
    // One of the others moved on already: the batch goes one by one and leaves it.
    a.store
        .transition_task(&TaskTransition {
            to: TaskStatus::InProgress,
            status_text: None,
            figures: None,
            ..skip(&tasks[4])
        })
        .await
        .expect("started");
    let rest: Vec<_> = tasks[3..].iter().map(skip).collect();
    assert_eq!(a.store.transition_tasks(&rest).await.expect("batch"), 2);
    // Delivered again: nothing moves twice.
    assert_eq!(a.store.transition_tasks(&rest).await.expect("again"), 0);
    let e = a.store.get_execution(execution.id).await.expect("get");
    assert_eq!((e.total, e.succeed, e.in_progress), (6, 5, 1));
    let ended = a
        .store
        .get_task(execution.id, tasks[0].id)
        .await
        .expect("task");
    assert_eq!(ended.status, TaskStatus::Succeed);
    assert!(ended.start_time.is_some() && ended.end_time.is_some());
}
