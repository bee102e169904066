//! Names from outside are validated before they reach a URL: a source's tag list or a webhook
//! that names a path never touches anything outside the repository it concerns.

use super::*;
use ferry_tests::faults::{Action, Fault, FaultProxy};

const TRAVERSAL: &str = "../../../victim/app/manifests/latest";

#[tokio::test(flavor = "multi_thread")]
async fn a_tag_that_is_a_path_fails_its_task_and_touches_nothing_else() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let victim = destination
        .http()
        .push_image("victim/app", "latest", &[layer(180, 1000)])
        .await;
    let app = source
        .http()
        .push_image("team/app", "v1", &[layer(181, 1000)])
        .await;
    let tags = serde_json::json!({"name": "team/app", "tags": ["v1", TRAVERSAL]});
    let hostile = FaultProxy::start(
        &source.url(),
        vec![Fault {
            method: "GET",
            path: "/team/app/tags/list".into(),
            action: Action::Answer(200, vec![], bytes::Bytes::from(tags.to_string())),
            times: usize::MAX,
        }],
    )
    .await;
    let (stack, api) = start("names").await;
    let src = add_registry(&api, "src", &hostile.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let policy = create_policy(
        &api,
        "names",
        src,
        dst,
        json!({"dest_namespace_replace_count": 0}),
    )
    .await;
    let execution = run(&api, policy).await;
    assert_eq!(execution["status"], "Failed", "{execution}");
    assert_eq!(
        (execution["total"].as_i64(), execution["succeed"].as_i64()),
        (Some(2), Some(1))
    );
    let execution_id = execution["id"].as_i64().expect("id");
    let failed: Vec<Value> = tasks(&api, execution_id)
        .await
        .into_iter()
        .filter(|t| t["status"] == "Failed")
        .collect();
    assert_eq!(failed.len(), 1);
    let reason = failed[0]["status_text"].as_str().unwrap_or_default();
    assert!(reason.contains("tag \"../../../victim"), "{reason}");
    let at_destination = destination.http();
    assert_eq!(
        at_destination.manifest_digest("team/app", "v1").await,
        Some(app)
    );
    assert_eq!(
        at_destination.manifest_digest("victim/app", "latest").await,
        Some(victim.clone())
    );

    // A webhook that names such a tag for deletion is refused before anything starts.
    let hook = api
        .post(&format!("/registries/{src}/webhook"), &json!({}))
        .await
        .json();
    let origin = stack
        .api
        .split("/api/v2.0")
        .next()
        .expect("origin")
        .to_string();
    let event = json!({"events": [{"id": "e1", "action": "delete", "target": {
        "repository": "team/app", "tag": TRAVERSAL,
    }}]});
    let refused = reqwest::Client::new()
        .post(format!("{origin}{}", hook["url"].as_str().expect("url")))
        .header(
            "authorization",
            hook["authorization"].as_str().expect("token"),
        )
        .body(event.to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 400);
    let body = refused.text().await.unwrap_or_default();
    assert!(body.contains("tag"), "{body}");
    assert_eq!(
        at_destination.manifest_digest("victim/app", "latest").await,
        Some(victim)
    );
    stack.stop().await;
}
