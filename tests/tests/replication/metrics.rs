//! The functions' metrics as CloudWatch takes them: embedded metric format documents, read
//! back from the file the local stack has the functions write them to, with the names, units
//! and dimensions the template's alarms and dashboard read.

use std::collections::BTreeMap;

use super::*;
use ferry_local::metrics::{read, MetricKey, Totals};

fn find<'a>(
    totals: &'a BTreeMap<MetricKey, Totals>,
    name: &str,
    dimensions: &[(&str, &str)],
) -> Option<&'a Totals> {
    totals.get(&MetricKey {
        namespace: "Ferry".into(),
        name: name.into(),
        dimensions: dimensions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replication_writes_its_figures_by_policy_registry_and_function() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    for (i, repository) in ["metrics/a", "metrics/b"].iter().enumerate() {
        let layers = [layer(7400 + i as u64, 3000), layer(7410 + i as u64, 5000)];
        source.http().push_image(repository, "1.0", &layers).await;
    }
    let file = tempfile::NamedTempFile::new().expect("a file");
    let path = file.path().display().to_string();
    let stack = LocalStack::start(
        "metrics",
        LocalStackOptions {
            extra_env: &[("FERRY_METRICS_FILE", &path)],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let policy = create_policy(&api, "metrics", src, dst, json!({})).await;
    let execution = run(&api, policy).await;
    assert_eq!(execution["status"], "Succeed", "{execution}");
    let again = run(&api, policy).await;
    assert_eq!(again["status"], "Succeed", "{again}");

    let p = policy.to_string();
    // Each invocation writes its figures as it ends: the last may end after the execution.
    let totals = eventually(20, "both executions' figures in the metrics", || async {
        let totals = read(&std::fs::read_to_string(&path).ok()?).expect("valid documents");
        let ended = find(&totals, "ExecutionsSucceeded", &[])?.sum;
        let tasks = find(&totals, "TaskDuration", &[("Policy", &p)])?.samples;
        let skipped = find(&totals, "ArtifactsSkipped", &[("Policy", &p)])?.sum;
        (ended >= 2.0 && tasks >= 2 && skipped >= 2.0).then_some(totals)
    })
    .await;
    let by_policy = |name: &str| {
        find(&totals, name, &[("Policy", &p)])
            .unwrap_or_else(|| panic!("no {name} of policy {p} in {totals:#?}"))
            .clone()
    };
    let copied = by_policy("ArtifactsCopied");
    assert_eq!((copied.sum, copied.unit.as_str()), (2.0, "Count"));
    assert_eq!(
        find(&totals, "ArtifactsCopied", &[]).map(|t| t.sum),
        Some(2.0)
    );
    // The second run found both unchanged.
    assert_eq!(by_policy("ArtifactsSkipped").sum, 2.0);
    let bytes = by_policy("BytesCopied");
    assert_eq!(bytes.unit, "Bytes");
    assert!(bytes.sum >= 16_000.0, "{bytes:?}");
    let mounted = find(&totals, "BlobsMounted", &[("Policy", &p)]).map_or(0.0, |t| t.sum);
    let blobs = by_policy("BlobsCopied").sum + mounted;
    assert!(blobs >= 6.0, "two layers and a config each: {totals:#?}");
    let durations = by_policy("TaskDuration");
    assert_eq!(
        (durations.samples, durations.unit.as_str()),
        (2, "Milliseconds")
    );
    assert!(by_policy("ListingDuration").samples >= 2);
    assert_eq!(
        by_policy("ListingSize").sum,
        4.0,
        "two artifacts listed, twice"
    );

    let requests: Vec<(&MetricKey, &Totals)> = totals
        .iter()
        .filter(|(k, _)| k.name == "RegistryRequests")
        .collect();
    let host = source.url().trim_start_matches("http://").to_string();
    assert!(
        requests
            .iter()
            .any(|(k, t)| k.dimensions.get("Registry") == Some(&host)
                && k.dimensions.get("StatusClass").map(String::as_str) == Some("2xx")
                && t.sum > 0.0),
        "requests to {host} by status class: {requests:#?}"
    );
    assert!(
        requests.iter().any(|(k, _)| k.dimensions.len() == 1),
        "and by registry alone"
    );
    let ages: Vec<&Totals> = totals
        .iter()
        .filter(|(k, _)| {
            k.name == "QueueAge"
                && k.dimensions
                    .get("Function")
                    .is_some_and(|f| f.ends_with("-transfer"))
        })
        .map(|(_, t)| t)
        .collect();
    assert!(
        ages.first()
            .is_some_and(|t| t.samples >= 2 && t.unit == "Milliseconds"),
        "the transfer's queue age: {ages:?}"
    );
    stack.stop().await;
}

/// The id of the API request that started an execution (its `X-Request-Id`, Harbor's) goes
/// with the list message to the lister and from it with every transfer message, whose spans
/// log it: one id to follow from the request to each copy.
#[tokio::test(flavor = "multi_thread")]
async fn an_api_requests_id_reaches_every_transfer_message() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    for repository in ["traced/a", "traced/b"] {
        source
            .http()
            .push_image(repository, "1.0", &[layer(7501, 1000)])
            .await;
    }
    let stack = LocalStack::start(
        "correlation",
        LocalStackOptions {
            unpolled_queues: &["TransferQueue"],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let policy = create_policy(&api, "traced", src, dst, json!({})).await;
    let answer = reqwest::Client::new()
        .post(format!("{}/replication/executions", stack.api))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .header("X-Request-Id", "corr-7f3a")
        .json(&json!({"policy_id": policy}))
        .send()
        .await
        .expect("started");
    assert_eq!(answer.status().as_u16(), 201);
    assert_eq!(
        answer
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("corr-7f3a")
    );
    let sqs = aws_sdk_sqs::Client::new(&stack.adapters.sdk);
    let queue = stack.queue_url("TransferQueue");
    let mut messages: Vec<Value> = Vec::new();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while messages.len() < 2 && std::time::Instant::now() < until {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        messages.extend(
            out.messages()
                .iter()
                .filter_map(|m| serde_json::from_str(m.body().unwrap_or_default()).ok()),
        );
    }
    assert_eq!(messages.len(), 2, "{messages:?}");
    for message in &messages {
        assert_eq!(message["correlation_id"], "corr-7f3a", "{message}");
        assert_eq!(message["policy_id"], policy, "{message}");
    }
    stack.stop().await;
}
