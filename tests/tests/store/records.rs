//! Registries and policies: unique names, sealed secrets, conditional updates, references, paging.

use super::*;

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
