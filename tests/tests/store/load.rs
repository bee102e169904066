//! The execution counters under load, as Lambda runs transfers: thousands of task ends at
//! once from many concurrent workers against DynamoDB Local, each end delivered twice (SQS
//! delivers twice). No count may be lost or doubled. `FERRY_LOAD_TASKS` ends (1,000 here,
//! 10,000 in `make load`) from `FERRY_LOAD_WORKERS` workers (32).

use super::*;

fn size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn task_ends_from_many_workers_at_once_lose_no_count() {
    let (tasks_wanted, workers) = (
        size("FERRY_LOAD_TASKS", 1_000),
        size("FERRY_LOAD_WORKERS", 32),
    );
    let (_stack, a) = resources_only("load").await;
    let execution = a
        .store
        .create_execution(7, TriggerType::Manual, 0, &Launch::Listing)
        .await
        .expect("execution");
    let mut tasks = Vec::with_capacity(tasks_wanted);
    for (batch, start) in (0..tasks_wanted).step_by(90).enumerate() {
        let count = 90.min(tasks_wanted - start);
        tasks.extend(
            a.store
                .create_tasks(execution.id, &format!("b{batch}"), &new_tasks(count))
                .await
                .expect("tasks"),
        );
    }
    assert_eq!(tasks.len(), tasks_wanted);

    // Every tenth task fails, every twenty-fifth is stopped, the rest succeed; each end is
    // written twice, by two workers, as a duplicate delivery would.
    let ending = |i: usize| match i {
        i if i % 10 == 0 => TaskStatus::Failed,
        i if i % 25 == 1 => TaskStatus::Stopped,
        _ => TaskStatus::Succeed,
    };
    let ends: Vec<TaskTransition> = tasks
        .iter()
        .enumerate()
        .map(|(i, task)| TaskTransition {
            execution_id: execution.id,
            task_id: task.id,
            artifact: None,
            from: TaskStatus::Pending,
            to: ending(i),
            status_text: None,
            figures: Some(TransferFigures::default()),
            log: None,
        })
        .collect();
    let ends = Arc::new(ends);
    let started = std::time::Instant::now();
    let runs = (0..workers).map(|worker| {
        let (store, ends) = (Arc::clone(&a.store), Arc::clone(&ends));
        tokio::spawn(async move {
            let mut changed = 0usize;
            // Each worker ends its share, then the next worker's share again (the duplicates).
            for offset in [worker, (worker + 1) % workers] {
                for t in ends.iter().skip(offset).step_by(workers) {
                    changed += usize::from(store.transition_task(t).await.expect("end"));
                }
            }
            changed
        })
    });
    let changed: usize = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.expect("worker"))
        .sum();
    let took = started.elapsed();
    assert_eq!(
        changed, tasks_wanted,
        "each task ended once, duplicates changed nothing"
    );

    let e = a.store.get_execution(execution.id).await.expect("get");
    let expected =
        |status: TaskStatus| (0..tasks_wanted).filter(|i| ending(*i) == status).count() as i64;
    assert_eq!(
        (e.total, e.in_progress, e.succeed, e.failed, e.stopped),
        (
            tasks_wanted as i64,
            0,
            expected(TaskStatus::Succeed),
            expected(TaskStatus::Failed),
            expected(TaskStatus::Stopped)
        )
    );
    assert_eq!(
        a.store.finish_if_done(execution.id).await.expect("finish"),
        Some(ExecutionStatus::Failed)
    );
    println!(
        "load: {tasks_wanted} task ends (each delivered twice) from {workers} workers in {:.1} s, \
         {:.0} ends/s, {} transactions retried after a conflict",
        took.as_secs_f64(),
        tasks_wanted as f64 / took.as_secs_f64(),
        a.store.conflicts_retried()
    );
}
