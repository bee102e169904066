//! A policy's platforms on a multi-arch index: the destination gets an index of those
//! platforms alone (a new digest, Ferry's), and a re-sync finds it unchanged at the cost of a
//! HEAD, with no transfer.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_platform_filtered_index_copies_two_of_three_and_re_syncs_as_a_no_op() {
    let (stack, api) = start("platforms").await;
    let source = TestRegistry::start();
    let index = source
        .http()
        .push_index("team/multi", "1.0", &["amd64", "arm64", "s390x"], 900)
        .await;
    let destination = TestRegistry::start();
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let policy = create_policy(
        &api,
        "two-platforms",
        src,
        dst,
        json!({
            "filters": [{"type": "name", "value": "team/multi"}, {"type": "tag", "value": "1.0"}],
            "platforms": ["linux/amd64", "linux/arm64"],
        }),
    )
    .await;
    let run = || async {
        let execution = api
            .post("/replication/executions", &json!({"policy_id": policy}))
            .await
            .created_id();
        let ended = finished(&api, execution).await;
        assert_eq!(ended["status"], "Succeed", "{ended}");
        let tasks = api
            .get(&format!("/replication/executions/{execution}/tasks"))
            .await
            .json();
        assert_eq!(tasks.as_array().map(Vec::len), Some(1), "{tasks}");
        tasks[0].clone()
    };
    let first = run().await;
    assert!(first["blobs_copied"].as_i64() > Some(0), "{first}");
    let copied = destination
        .http()
        .manifest("team/multi", "1.0")
        .await
        .expect("the filtered index");
    let copied: Value = serde_json::from_slice(&copied).expect("JSON");
    let arches: Vec<&str> = copied["manifests"]
        .as_array()
        .expect("children")
        .iter()
        .filter_map(|c| c["platform"]["architecture"].as_str())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    let filtered = destination
        .http()
        .manifest_digest("team/multi", "1.0")
        .await
        .expect("a digest");
    assert_ne!(
        filtered, index,
        "the filtered index is Ferry's, with a digest of its own"
    );

    let again = run().await;
    let text = again["status_text"].as_str().unwrap_or_default();
    assert!(text.starts_with("skipped: unchanged"), "{again}");
    assert!(text.contains(&filtered), "{again}");
    assert_eq!(again["blobs_copied"], 0);
    drop(stack);
}
