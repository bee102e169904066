//! Many repositories and tags: filters, byte-exact copies, a second run that moves nothing, stop
//! and retry.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_filtered_policy_replicates_a_large_source_exactly_and_again_moves_nothing() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let http = source.http();
    let org = push_org(&http).await;
    let index = http
        .push_index("multi/arch", "v1.0", &["amd64", "arm64", "s390x"], 800)
        .await;
    let chart = http.push_chart("charts/demo", "v1.0", 810).await;
    let signed = http
        .push_image("signed/app", "v1.0", &[layer(820, 1500)])
        .await;
    let signature = http.push_cosign_signature("signed/app", &signed).await;
    let labelled = {
        let config = http.push_blob("labelled/app", b"{}").await;
        let content = layer(830, 900);
        let content_digest = http.push_blob("labelled/app", &content).await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": content_digest, "size": content.len()}],
            "annotations": {"team": "payments"},
        }))
        .expect("json");
        http.push_manifest(
            "labelled/app",
            "v1",
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
        .await
    };

    let (stack, api) = start("large").await;
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let policy = create_policy(
        &api,
        "mirror-v1",
        src,
        dst,
        json!({"dest_namespace": "mirror", "dest_namespace_replace_count": 0,
                       "filters": [{"type": "name", "value": "{org,multi,charts,signed}/**"},
                                   {"type": "tag", "value": "v1.*"}]}),
    )
    .await;
    let first = run(&api, policy).await;
    // 50 repositories x 2 tags, the index, the chart and the signed image.
    assert_eq!(first["status"], "Succeed", "{first}");
    assert_eq!(
        (first["total"].as_i64(), first["succeed"].as_i64()),
        (Some(103), Some(103))
    );
    let at_destination = destination.http();
    for repository in &org {
        for tag in ["v1.0", "v1.1"] {
            assert_eq!(
                at_destination
                    .manifest_digest(&format!("mirror/{repository}"), tag)
                    .await,
                http.manifest_digest(repository, tag).await,
                "{repository}:{tag}"
            );
        }
    }
    assert_eq!(
        at_destination
            .manifest_digest("mirror/org/team0/svc0", "v2.0")
            .await,
        None
    );
    assert_eq!(
        at_destination
            .manifest_digest("mirror/org/team0/svc0", "dev")
            .await,
        None
    );
    assert_eq!(
        at_destination
            .manifest_digest("mirror/multi/arch", "v1.0")
            .await,
        Some(index)
    );
    assert_eq!(
        at_destination
            .manifest_digest("mirror/charts/demo", "v1.0")
            .await,
        Some(chart)
    );
    let sig_tag = format!("sha256-{}.sig", signed.trim_start_matches("sha256:"));
    assert_eq!(
        at_destination
            .manifest_digest("mirror/signed/app", &sig_tag)
            .await,
        Some(signature),
        "the signature follows its image"
    );
    assert_eq!(
        at_destination
            .manifest_digest("mirror/labelled/app", "v1")
            .await,
        None
    );

    // The same run again moves no blob.
    let second = run(&api, policy).await;
    assert_eq!(second["status"], "Succeed", "{second}");
    assert_eq!(second["total"].as_i64(), Some(103));
    let listed = all_tasks(&api, second["id"].as_i64().expect("id"), 103).await;
    assert_eq!(listed.len(), 103);
    let moved: i64 = listed
        .iter()
        .map(|t| {
            t["bytes_copied"].as_i64().unwrap_or_default()
                + t["blobs_copied"].as_i64().unwrap_or_default()
        })
        .sum();
    assert_eq!(moved, 0);
    let unchanged = listed
        .iter()
        .filter(|t| {
            t["status_text"]
                .as_str()
                .unwrap_or_default()
                .starts_with("skipped: unchanged")
        })
        .count();
    assert_eq!(
        unchanged, 102,
        "every artifact but the signed one (its referrers are checked) at two HEADs"
    );

    // The resource filter and the label filter, from media types and annotations.
    let charts_only = create_policy(
        &api,
        "charts-only",
        src,
        dst,
        json!({"dest_namespace": "kinds", "dest_namespace_replace_count": 0,
                       "filters": [{"type": "name", "value": "{charts,labelled,multi}/**"},
                                   {"type": "resource", "value": "chart"}]}),
    )
    .await;
    let charts_run = run(&api, charts_only).await;
    assert_eq!(
        (charts_run["status"].as_str(), charts_run["total"].as_i64()),
        (Some("Succeed"), Some(1))
    );
    let listed = tasks(&api, charts_run["id"].as_i64().expect("id")).await;
    assert_eq!(listed[0]["resource_type"], "chart", "{listed:?}");
    assert!(at_destination
        .manifest_digest("kinds/charts/demo", "v1.0")
        .await
        .is_some());
    let by_label = create_policy(
        &api,
        "payments",
        src,
        dst,
        json!({"dest_namespace": "labels", "dest_namespace_replace_count": 0,
                       "filters": [{"type": "name", "value": "{charts,labelled,multi}/**"},
                                   {"type": "label", "value": ["team=payments"]}]}),
    )
    .await;
    let label_run = run(&api, by_label).await;
    assert_eq!(
        (label_run["status"].as_str(), label_run["total"].as_i64()),
        (Some("Succeed"), Some(1))
    );
    assert_eq!(
        at_destination
            .manifest_digest("labels/labelled/app", "v1")
            .await,
        Some(labelled)
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_a_100_task_execution_leaves_no_task_running_and_retry_copies_only_what_failed() {
    use ferry_tests::faults::{Action, Fault, FaultProxy};
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    push_org(&source.http()).await;
    // A slow destination: every manifest PUT waits 1.5 s, so 100 tasks take a while.
    let slow = FaultProxy::start(
        &destination.url(),
        vec![Fault {
            method: "PUT",
            path: "/manifests/".into(),
            action: Action::Delay(1500),
            times: 10_000,
        }],
    )
    .await;
    // A destination that refuses team1/svc3's manifests twice (its two v1 tags), for good.
    let refusing = FaultProxy::start(
        &destination.url(),
        vec![Fault {
            method: "PUT",
            path: "retry/org/team1/svc3/manifests/".into(),
            action: Action::Status(403, None),
            times: 2,
        }],
    )
    .await;
    let stack = LocalStack::start(
        "stop100",
        LocalStackOptions {
            visibility_timeout: 30,
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let src = add_registry(&api, "src", &source.url()).await;
    let slow_dst = add_registry(&api, "slow", &slow.url()).await;
    let refusing_dst = add_registry(&api, "refusing", &refusing.url()).await;

    let policy = create_policy(&api, "hundred",
                src,
                slow_dst,
                json!({"dest_namespace": "stop", "dest_namespace_replace_count": 0,
                       "filters": [{"type": "name", "value": "org/**"}, {"type": "tag", "value": "v1.*"}]})).await;
    let execution = api
        .post("/replication/executions", &json!({"policy_id": policy}))
        .await
        .created_id();
    eventually(120, "some tasks done and the listing complete", || async {
        let e = api
            .get(&format!("/replication/executions/{execution}"))
            .await
            .json();
        (e["total"].as_i64() == Some(100) && e["succeed"].as_i64().unwrap_or_default() > 0)
            .then_some(())
    })
    .await;
    assert_eq!(
        api.put(&format!("/replication/executions/{execution}"), &json!({}))
            .await
            .status,
        200
    );
    let stopped = finished(&api, execution).await;
    assert_eq!(stopped["status"], "Stopped", "{stopped}");
    let settled = eventually(120, "every task to end", || async {
        let listed = all_tasks(&api, execution, 100).await;
        listed
            .iter()
            .all(|t| t["status"] != "InProgress" && t["status"] != "Pending")
            .then_some(listed)
    })
    .await;
    assert_eq!(settled.len(), 100);
    let count = |status: &str| settled.iter().filter(|t| t["status"] == status).count();
    assert!(count("Stopped") > 0, "the stop came in the middle");
    assert_eq!(count("Succeed") + count("Stopped") + count("Failed"), 100);
    let record = api
        .get(&format!("/replication/executions/{execution}"))
        .await
        .json();
    assert_eq!(record["in_progress"], 0, "{record}");

    // Retry: only the failed tasks run again, as a new execution.
    let policy = create_policy(&api, "team1",
                src,
                refusing_dst,
                json!({"dest_namespace": "retry", "dest_namespace_replace_count": 0,
                       "filters": [{"type": "name", "value": "org/team1/**"}, {"type": "tag", "value": "v1.*"}]})).await;
    let failed = run(&api, policy).await;
    assert_eq!(failed["status"], "Failed", "{failed}");
    assert_eq!(
        (failed["total"].as_i64(), failed["failed"].as_i64()),
        (Some(20), Some(2))
    );
    let failed_id = failed["id"].as_i64().expect("id");
    let running = api
        .post(
            &format!("/replication/executions/{execution}/retry"),
            &json!({}),
        )
        .await;
    assert_eq!(
        running.status, 412,
        "a stopped execution with no failed task: {}",
        running.text
    );
    let retried = api
        .post(
            &format!("/replication/executions/{failed_id}/retry"),
            &json!({}),
        )
        .await
        .created_id();
    let retry = finished(&api, retried).await;
    assert_eq!(retry["status"], "Succeed", "{retry}");
    assert_eq!(
        (retry["total"].as_i64(), retry["succeed"].as_i64()),
        (Some(2), Some(2))
    );
    let retried_tasks = tasks(&api, retried).await;
    assert!(retried_tasks.iter().all(|t| t["src_resource"]
        .as_str()
        .unwrap_or_default()
        .contains("org/team1/svc3")));
    assert!(destination
        .http()
        .manifest_digest("retry/org/team1/svc3", "v1.0")
        .await
        .is_some());
    stack.stop().await;
}
