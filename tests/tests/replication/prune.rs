//! Mirror mode on the local stack against real registries: after a complete listing, the
//! destination's tags that left the selection are deleted by tasks of their own; past the
//! policy's share nothing is deleted and the execution says why.

use super::*;

/// A destination holding `team/app` 1.0 (as the source has it), 0.9 (gone at the source) and
/// dev (outside `>=1.0`).
async fn destination_with_leftovers(source_layer: &[u8]) -> TestRegistry {
    let destination = TestRegistry::start();
    let http = destination.http();
    http.push_image("team/app", "1.0", &[source_layer.to_vec()])
        .await;
    http.push_image("team/app", "0.9", &[layer(961, 700)]).await;
    http.push_image("team/app", "dev", &[layer(962, 700)]).await;
    destination
}

async fn run_pruning(
    api: &ApiClient,
    name: &str,
    src: i64,
    destination: &TestRegistry,
    max_percent: u32,
) -> (Value, Vec<Value>) {
    let dst = add_registry(api, name, &destination.url()).await;
    let policy = create_policy(
        api,
        name,
        src,
        dst,
        json!({
            "filters": [{"type": "name", "value": "team/app"}, {"type": "semver", "value": ">=1.0"}],
            "prune": {"enabled": true, "max_percent": max_percent},
        }),
    )
    .await;
    let shown = api
        .get(&format!("/replication/policies/{policy}"))
        .await
        .json();
    assert_eq!(shown["prune"]["max_percent"], max_percent, "{shown}");
    let execution = api
        .post("/replication/executions", &json!({"policy_id": policy}))
        .await
        .created_id();
    let ended = finished(api, execution).await;
    let tasks = api
        .get(&format!("/replication/executions/{execution}/tasks"))
        .await
        .json();
    let deletions = tasks
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| t["operation"] == "deletion")
        .cloned()
        .collect();
    (ended, deletions)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prune_deletes_what_left_the_selection_and_refuses_past_its_share() {
    let (stack, api) = start("prune").await;
    let source = TestRegistry::start();
    let one = layer(960, 900);
    source
        .http()
        .push_image("team/app", "1.0", std::slice::from_ref(&one))
        .await;
    source
        .http()
        .push_image("team/app", "1.1", &[layer(963, 900)])
        .await;
    let src = add_registry(&api, "src", &source.url()).await;

    let pruned = destination_with_leftovers(&one).await;
    let (ended, deletions) = run_pruning(&api, "mirror", src, &pruned, 70).await;
    assert_eq!(ended["status"], "Succeed", "{ended}");
    let mut deleted: Vec<&str> = deletions
        .iter()
        .map(|t| t["dst_resource"].as_str().unwrap_or_default())
        .collect();
    deleted.sort();
    assert_eq!(deleted, ["team/app:0.9", "team/app:dev"]);
    let http = pruned.http();
    for (tag, held) in [("1.0", true), ("1.1", true), ("0.9", false), ("dev", false)] {
        assert_eq!(
            http.manifest_digest("team/app", tag).await.is_some(),
            held,
            "{tag}"
        );
    }

    let guarded = destination_with_leftovers(&one).await;
    let (ended, deletions) = run_pruning(&api, "guarded", src, &guarded, 10).await;
    assert_eq!(ended["status"], "Failed", "{ended}");
    assert_eq!(deletions.len(), 2);
    for task in &deletions {
        assert_eq!(task["status"], "Failed", "{task}");
        let text = task["status_text"].as_str().unwrap_or_default();
        assert!(
            text.contains("prune refused") && text.contains("10%"),
            "{text}"
        );
    }
    let http = guarded.http();
    for tag in ["0.9", "dev", "1.1"] {
        assert!(
            http.manifest_digest("team/app", tag).await.is_some(),
            "{tag} stays"
        );
    }
    drop(stack);
}
