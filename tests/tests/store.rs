//! The DynamoDB store, the SQS queue and the S3 task logs against the emulator.

use std::collections::HashSet;
use std::sync::Arc;

use ferry::messages::{decode, ListMessage};
use ferry::model::{
    Credential, CredentialType, ExecutionStatus, Operation, Registry, RegistryType,
    ReplicationPolicy, ResourceType, TaskStatus, TransferFigures, TriggerType, ValidationError,
};
use ferry::ports::{
    ExecutionStore, MessageQueue, NewTask, PolicyStore, RegistryStore, StoreError, TaskLogSink,
    TaskStore, TaskTransition,
};
use ferry_tests::resources_only;

fn registry(name: &str) -> Registry {
    Registry {
        name: name.into(),
        kind: Some(RegistryType::DockerRegistry),
        url: "http://127.0.0.1:5001".into(),
        credential: Some(Credential {
            kind: CredentialType::Basic,
            access_key: "robot".into(),
            access_secret: Some("plain-secret-value".into()),
        }),
        ..Registry::default()
    }
}

fn policy(name: &str, src: i64, dest: i64) -> ReplicationPolicy {
    ReplicationPolicy {
        name: name.into(),
        src_registry: Some(Registry {
            id: src,
            ..Registry::default()
        }),
        dest_registry: Some(Registry {
            id: dest,
            ..Registry::default()
        }),
        ..ReplicationPolicy::default()
    }
}

fn new_tasks(count: usize) -> Vec<NewTask> {
    (0..count)
        .map(|i| NewTask {
            operation: Operation::Copy,
            resource_type: ResourceType::Image,
            src_resource: format!("library/app:{i}"),
            dst_resource: format!("mirror/app:{i}"),
            resource: None,
        })
        .collect()
}

#[tokio::test]
async fn duplicate_registry_and_policy_names_are_refused_by_conditional_writes() {
    let (_stack, a) = resources_only("names").await;
    let first = a
        .store
        .create_registry(&registry("src"))
        .await
        .expect("create");
    let err = a.store.create_registry(&registry("src")).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::DuplicateName {
                entity: "registry",
                ..
            }
        ),
        "{err}"
    );
    let second = a
        .store
        .create_registry(&registry("dst"))
        .await
        .expect("create");
    assert_ne!(first.id, second.id);

    // Renaming into a taken name is refused too, and the old name stays taken.
    let err = a
        .store
        .update_registry(second.id, &|r: &mut Registry| {
            r.name = "src".into();
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateName { .. }), "{err}");
    let renamed = a
        .store
        .update_registry(second.id, &|r: &mut Registry| {
            r.name = "dst-renamed".into();
            Ok(())
        })
        .await
        .expect("rename");
    assert_eq!(renamed.name, "dst-renamed");
    a.store
        .create_registry(&registry("dst"))
        .await
        .expect("the old name is free again");

    a.store
        .create_policy(&policy("p", first.id, second.id))
        .await
        .expect("policy");
    let err = a
        .store
        .create_policy(&policy("p", first.id, second.id))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::DuplicateName {
                entity: "policy",
                ..
            }
        ),
        "{err}"
    );
    let err = a
        .store
        .create_policy(&policy("q", first.id, 9999))
        .await
        .unwrap_err();
    match err {
        StoreError::Invalid(ValidationError { field, .. }) => assert_eq!(field, "dest_registry.id"),
        other => panic!("expected a missing registry, got {other}"),
    }
    let names: Vec<String> = a
        .store
        .list_policies(None, 100)
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, vec!["p"], "the refused policies left nothing behind");
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_and_masked_on_read() {
    let (stack, a) = resources_only("secrets").await;
    let created = a
        .store
        .create_registry(&registry("hub"))
        .await
        .expect("create");
    assert_eq!(
        created
            .credential
            .as_ref()
            .and_then(|c| c.access_secret.as_deref()),
        Some("*****")
    );
    let read = a.store.get_registry(created.id).await.expect("get");
    assert_eq!(
        read.credential
            .as_ref()
            .and_then(|c| c.access_secret.as_deref()),
        Some("*****")
    );
    let full = a
        .store
        .get_registry_with_secret(created.id)
        .await
        .expect("get with secret");
    assert_eq!(
        full.credential
            .as_ref()
            .and_then(|c| c.access_secret.as_deref()),
        Some("plain-secret-value")
    );

    // The raw item holds no plaintext.
    let table =
        stack.function("ferry-api").expect("api").environment["FERRY_REGISTRIES_TABLE"].clone();
    let raw = aws_sdk_dynamodb::Client::new(&a.sdk)
        .scan()
        .table_name(table)
        .send()
        .await
        .expect("scan");
    let dump = format!("{:?}", raw.items());
    assert!(
        !dump.contains("plain-secret-value"),
        "plaintext at rest: {dump}"
    );
    assert!(dump.contains("secret_ciphertext"));

    // Writing the mask back keeps the secret; a new secret replaces it; none clears it.
    a.store
        .update_registry(created.id, &|r: &mut Registry| {
            r.description = "kept".into();
            Ok(())
        })
        .await
        .expect("update");
    let full = a
        .store
        .get_registry_with_secret(created.id)
        .await
        .expect("get");
    assert_eq!(
        full.credential.and_then(|c| c.access_secret).as_deref(),
        Some("plain-secret-value")
    );
    a.store
        .update_registry(created.id, &|r: &mut Registry| {
            r.credential = Some(Credential {
                kind: CredentialType::Basic,
                access_key: "robot".into(),
                access_secret: Some("rotated".into()),
            });
            Ok(())
        })
        .await
        .expect("rotate");
    let full = a
        .store
        .get_registry_with_secret(created.id)
        .await
        .expect("get");
    assert_eq!(
        full.credential.and_then(|c| c.access_secret).as_deref(),
        Some("rotated")
    );
}

#[tokio::test]
async fn concurrent_registry_updates_lose_nothing() {
    let (_stack, a) = resources_only("updates").await;
    let created = a
        .store
        .create_registry(&registry("busy"))
        .await
        .expect("create");
    let writers = (0..10).map(|i| {
        let store = Arc::clone(&a.store);
        async move {
            store
                .update_registry(created.id, &move |r: &mut Registry| {
                    r.description.push_str(&format!("[{i}]"));
                    Ok(())
                })
                .await
        }
    });
    for result in futures::future::join_all(writers).await {
        result.expect("every writer lands");
    }
    let read = a.store.get_registry(created.id).await.expect("get");
    for i in 0..10 {
        assert!(
            read.description.contains(&format!("[{i}]")),
            "update {i} lost: {}",
            read.description
        );
    }
}

#[tokio::test]
async fn a_registry_in_use_cannot_be_deleted() {
    let (_stack, a) = resources_only("inuse").await;
    let src = a
        .store
        .create_registry(&registry("src"))
        .await
        .expect("src");
    let dst = a
        .store
        .create_registry(&registry("dst"))
        .await
        .expect("dst");
    let p = a
        .store
        .create_policy(&policy("p", src.id, dst.id))
        .await
        .expect("policy");
    let err = a.store.delete_registry(src.id).await.unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }), "{err}");

    // Swapping source and destination moves no reference count (one update per registry).
    a.store
        .update_policy(p.id, &move |p: &mut ReplicationPolicy| {
            std::mem::swap(&mut p.src_registry, &mut p.dest_registry);
            Ok(())
        })
        .await
        .expect("swap");
    let swapped = a.store.get_policy(p.id).await.expect("policy");
    assert_eq!(
        (swapped.src_registry_id(), swapped.dest_registry_id()),
        (dst.id, src.id)
    );
    a.store
        .update_policy(p.id, &move |p: &mut ReplicationPolicy| {
            std::mem::swap(&mut p.src_registry, &mut p.dest_registry);
            Ok(())
        })
        .await
        .expect("swap back");

    // Pointing the policy elsewhere releases the old registry.
    let other = a
        .store
        .create_registry(&registry("other"))
        .await
        .expect("other");
    a.store
        .update_policy(p.id, &move |p: &mut ReplicationPolicy| {
            p.src_registry = Some(Registry {
                id: other.id,
                ..Registry::default()
            });
            Ok(())
        })
        .await
        .expect("update policy");
    a.store
        .delete_registry(src.id)
        .await
        .expect("src is free now");
    assert!(matches!(
        a.store.delete_registry(other.id).await.unwrap_err(),
        StoreError::InUse { .. }
    ));
    a.store.delete_policy(p.id).await.expect("delete policy");
    a.store
        .delete_registry(other.id)
        .await
        .expect("free after the policy went");
    a.store
        .delete_registry(dst.id)
        .await
        .expect("free after the policy went");
    assert!(matches!(
        a.store.get_registry(dst.id).await.unwrap_err(),
        StoreError::NotFound { .. }
    ));
}

#[tokio::test]
async fn registries_page_with_cursors_in_id_order() {
    let (_stack, a) = resources_only("pages").await;
    let mut ids = Vec::new();
    for i in 0..23 {
        ids.push(
            a.store
                .create_registry(&registry(&format!("r{i:02}")))
                .await
                .expect("create")
                .id,
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = a
            .store
            .list_registries(cursor.as_deref(), 10)
            .await
            .expect("page");
        pages += 1;
        seen.extend(page.items.iter().map(|r| r.id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(seen, ids);
    assert!(matches!(
        a.store
            .list_registries(Some("not-a-cursor"), 10)
            .await
            .unwrap_err(),
        StoreError::InvalidCursor
    ));
}

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
