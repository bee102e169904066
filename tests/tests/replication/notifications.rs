//! Notifications through the whole local stack: webhook policies made through the API, an
//! execution with one task failing, the receivers' requests (Harbor's payload, the target's
//! auth header), a receiver that answers 500 leaving the execution alone and its deliveries
//! logged Failed, and the execution's state changes on moto's default EventBridge bus, routed
//! by a rule to a queue. The webhook policies and their deliveries live in DynamoDB Local.

use std::collections::BTreeSet;

use super::*;
use aws_sdk_sqs::types::QueueAttributeName;
use ferry_tests::faults::{Action, Fault, FaultProxy};
use ferry_tests::receiver::{Received, WebhookReceiver};

/// A rule on the default bus sending this policy's state changes to a new queue; its URL.
async fn bus_to_queue(stack: &LocalStack, policy_name: &str) -> String {
    let sqs = aws_sdk_sqs::Client::new(&stack.adapters.sdk);
    let events = aws_sdk_eventbridge::Client::new(&stack.adapters.sdk);
    let queue = sqs
        .create_queue()
        .queue_name(format!("{policy_name}-events"))
        .send()
        .await
        .expect("queue");
    let url = queue.queue_url().unwrap_or_default().to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue arn")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("arn");
    let pattern = json!({
        "source": ["ferry.replication"],
        "detail-type": ["Ferry Replication Execution State Change"],
        "detail": {"policy_name": [policy_name]},
    });
    events
        .put_rule()
        .name(format!("{policy_name}-rule"))
        .event_pattern(pattern.to_string())
        .send()
        .await
        .expect("rule");
    events
        .put_targets()
        .rule(format!("{policy_name}-rule"))
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("target");
    url
}

/// The events the rule's queue received, until `count` came (or a minute passed).
async fn bus_events(stack: &LocalStack, url: &str, count: usize) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&stack.adapters.sdk);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen: Vec<Value> = Vec::new();
    while seen.len() < count && std::time::Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        seen.extend(
            out.messages()
                .iter()
                .filter_map(|m| serde_json::from_str(m.body().unwrap_or_default()).ok()),
        );
    }
    seen
}

/// The receiver's requests once it has `count` (or a minute passed).
async fn received(receiver: &WebhookReceiver, count: usize) -> Vec<Received> {
    eventually(60, "the receiver's requests", || async {
        let got = receiver.received();
        (got.len() >= count).then_some(got)
    })
    .await
}

fn event_of(received: &Received) -> String {
    received.body["ferry"]["event"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn receivers_and_the_bus_hear_an_execution_and_a_failing_receiver_changes_nothing() {
    let origin = TestRegistry::start();
    let destination = TestRegistry::start();
    let source_http = origin.http();
    source_http
        .push_image("team/good", "1.0", &[layer(9300, 1500)])
        .await;
    source_http
        .push_image("team/broken", "1.0", &[layer(9301, 1500)])
        .await;
    // Every blob of team/broken is unknown at the source: that task fails, for good.
    let source = FaultProxy::start(
        &origin.url(),
        vec![Fault {
            method: "GET",
            path: "/team/broken/blobs/".into(),
            action: Action::Status(404, None),
            times: usize::MAX,
        }],
    )
    .await;
    let stack = LocalStack::start(
        "notify",
        LocalStackOptions {
            extra_env: &[
                ("FERRY_WEBHOOK_ATTEMPTS", "2"),
                ("FERRY_WEBHOOK_BACKOFF_MS", "50"),
                ("FERRY_PUBLIC_HOSTNAME", "ferry.test"),
            ],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let listening = WebhookReceiver::start(200).await;
    let failing = WebhookReceiver::start(500).await;

    // Bad webhook policies are refused, naming the field.
    for (body, field) in [
        (
            json!({"name": "bad", "event_types": ["REPLICATION"],
                   "targets": [{"type": "http", "address": "ftp://127.0.0.1/x"}]}),
            "targets[0].address",
        ),
        (
            json!({"name": "bad", "event_types": ["PUSH_ARTIFACT"],
                   "targets": [{"type": "http", "address": listening.url()}]}),
            "event_types",
        ),
        (
            json!({"name": "bad", "event_types": ["REPLICATION"], "targets": []}),
            "targets",
        ),
    ] {
        let refused = api.post("/webhook/policies", &body).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text);
        assert!(refused.text.contains(field), "{field}: {}", refused.text);
    }
    let listening_policy = api
        .post(
            "/webhook/policies",
            &json!({"name": "pager", "event_types": ["REPLICATION"], "enabled": true,
                    "targets": [{"type": "http", "address": listening.url(),
                                 "auth_header": "Bearer hook-s3cret", "payload_format": "Default"}]}),
        )
        .await;
    assert_eq!(listening_policy.status, 201, "{}", listening_policy.text);
    let listening_policy = listening_policy.created_id();
    let read = api
        .get(&format!("/webhook/policies/{listening_policy}"))
        .await
        .json();
    assert_ne!(
        read["targets"][0]["auth_header"], "Bearer hook-s3cret",
        "the auth header is read masked"
    );
    let failing_policy = api
        .post(
            "/webhook/policies",
            &json!({"name": "broken-bridge", "event_types": ["REPLICATION_EXECUTION_ENDED"],
                    "targets": [{"type": "http", "address": failing.url()}]}),
        )
        .await
        .created_id();

    let policy_name = ferry_tests::unique_stack_name("notified");
    let queue = bus_to_queue(&stack, &policy_name).await;
    let src = add_registry(&api, "origin", &source.url()).await;
    let dst = add_registry(&api, "mirror", &destination.url()).await;
    let policy = create_policy(
        &api,
        &policy_name,
        src,
        dst,
        json!({"filters": [{"type": "name", "value": "team/**"}]}),
    )
    .await;
    let execution = run(&api, policy).await;
    let execution_id = execution["id"].as_i64().expect("id");
    assert_eq!(
        (
            execution["status"].as_str(),
            execution["succeed"].as_i64(),
            execution["failed"].as_i64()
        ),
        (Some("Failed"), Some(1), Some(1)),
        "the broken repository fails, the good one arrives: {execution}"
    );
    assert!(
        destination
            .http()
            .manifest_digest("team/good", "1.0")
            .await
            .is_some(),
        "a failing receiver does not hold the copy back"
    );

    // The listening receiver: start, the failed task, the end, each once, with its header.
    let heard = received(&listening, 3).await;
    let events: BTreeSet<String> = heard.iter().map(event_of).collect();
    assert_eq!(
        events,
        BTreeSet::from([
            "execution_ended".to_string(),
            "execution_started".to_string(),
            "task_failed".to_string()
        ]),
        "{heard:#?}"
    );
    for request in &heard {
        assert_eq!(request.method, "POST");
        assert_eq!(request.authorization.as_deref(), Some("Bearer hook-s3cret"));
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
        let body = &request.body;
        assert_eq!(body["type"], "REPLICATION", "Harbor's event type: {body}");
        let replication = &body["event_data"]["replication"];
        assert_eq!(replication["harbor_hostname"], "ferry.test");
        assert_eq!(replication["execution_id"], execution_id);
        assert_eq!(body["ferry"]["policy_name"], policy_name.as_str());
        match event_of(request).as_str() {
            "execution_started" => assert_eq!(replication["job_status"], "Running", "{body}"),
            "execution_ended" => {
                assert_eq!(replication["job_status"], "Error", "{body}");
                assert_eq!(
                    (
                        &body["ferry"]["status"],
                        &body["ferry"]["succeed"],
                        &body["ferry"]["failed"]
                    ),
                    (&json!("Failed"), &json!(1), &json!(1)),
                    "{body}"
                );
            }
            _ => {
                let task = &body["ferry"]["task"];
                assert_eq!(task["repository"], "team/broken", "{body}");
                assert!(
                    task["status_text"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("404"),
                    "the reason says what the registry answered: {body}"
                );
            }
        }
    }

    // The failing receiver: the end only (its policy's one event type), tried twice, logged.
    let tried = received(&failing, 2).await;
    assert!(
        tried.iter().all(|r| event_of(r) == "execution_ended"),
        "{tried:#?}"
    );
    let deliveries = eventually(60, "the failed delivery logged", || async {
        let listed = api
            .get(&format!("/webhook/policies/{failing_policy}/executions"))
            .await
            .json();
        (listed.as_array().map(Vec::len) == Some(1)).then_some(listed)
    })
    .await;
    let delivery = &deliveries[0];
    assert_eq!(
        (
            &delivery["status"],
            &delivery["attempts"],
            &delivery["http_status"],
            &delivery["execution_id"]
        ),
        (
            &json!("Failed"),
            &json!(2),
            &json!(500),
            &json!(execution_id)
        ),
        "{delivery}"
    );
    let logged = api
        .get(&format!("/webhook/policies/{listening_policy}/executions"))
        .await
        .json();
    let logged = logged.as_array().cloned().unwrap_or_default();
    assert_eq!(logged.len(), 3, "{logged:?}");
    assert!(
        logged.iter().all(|d| d["status"] == "Success"),
        "{logged:?}"
    );
    assert_eq!(
        api.get("/webhook/policies/999/executions").await.status,
        404
    );

    // The bus: the start and the end, as the rule's pattern selects them.
    let changes = bus_events(&stack, &queue, 2).await;
    let states: BTreeSet<(String, String)> = changes
        .iter()
        .map(|e| {
            assert_eq!(e["source"], "ferry.replication", "{e}");
            assert_eq!(e["detail-type"], "Ferry Replication Execution State Change");
            assert_eq!(e["detail"]["execution_id"], execution_id, "{e}");
            (
                e["detail"]["event"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e["detail"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        BTreeSet::from([
            ("execution_ended".to_string(), "Failed".to_string()),
            ("execution_started".to_string(), "InProgress".to_string())
        ]),
        "{changes:#?}"
    );

    // The execution is as it was: notifications wrote nothing to it.
    let after = api
        .get(&format!("/replication/executions/{execution_id}"))
        .await
        .json();
    assert_eq!(after, execution);
    stack.stop().await;
}
