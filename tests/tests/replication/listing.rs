//! A large source behind a slow link is listed progressively: a repository of thousands of
//! tags is read a window at a time, each window's tasks written at once, and a piece that
//! outlasts its invocation goes on in another; it never ends "gave up".

use super::*;
use ferry_tests::faults::{Action, Fault, FaultProxy};
use futures::StreamExt;

/// Tags of the repository: `FERRY_LISTING_TAGS`, 3,000 in `make load`, fewer in CI (where the
/// emulator's writes, not the listing, take the time: each of its transactions copies the table).
fn tags() -> usize {
    std::env::var("FERRY_LISTING_TAGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

#[tokio::test(flavor = "multi_thread")]
async fn thousands_of_tags_behind_a_slow_link_are_listed_whole() {
    let tags = tags();
    let source = TestRegistry::start();
    let http = source.http();
    http.push_image("big/repo", "t0000", &[layer(190, 1000)])
        .await;
    let manifest = http.manifest("big/repo", "t0000").await.expect("manifest");
    futures::stream::iter(1..tags)
        .map(|n| {
            let (http, manifest) = (&http, &manifest);
            async move {
                http.push_manifest(
                    "big/repo",
                    &format!("t{n:04}"),
                    "application/vnd.oci.image.manifest.v1+json",
                    manifest,
                )
                .await
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    // 50 ms more on every request the listing makes.
    let slow = |method: &'static str, path: &str| Fault {
        method,
        path: path.into(),
        action: Action::Delay(50),
        times: usize::MAX,
    };
    let proxy = FaultProxy::start(
        &source.url(),
        vec![
            slow("GET", "/tags/list"),
            slow("HEAD", "/manifests/"),
            slow("GET", "/_catalog"),
        ],
    )
    .await;
    let destination = TestRegistry::start();
    // Invocations of 3 s: listing everything takes several; the copies are not run here.
    let stack = LocalStack::start(
        "listing",
        LocalStackOptions {
            extra_env: &[("FERRY_LIST_TIME_BUDGET_MS", "3000")],
            unpolled_queues: &["TransferQueue"],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let src = add_registry(&api, "src", &proxy.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let policy = create_policy(&api, "big", src, dst, json!({})).await;
    let execution = api
        .post("/replication/executions", &json!({"policy_id": policy}))
        .await
        .created_id();
    // The emulator's writes slow down as its tables grow (each transaction copies them), so
    // the time allowed grows with the tags.
    let allowed = 120 + tags as u64 / 8;
    let listed = eventually(allowed, "every tag to have its task", || async {
        let e = api
            .get(&format!("/replication/executions/{execution}"))
            .await
            .json();
        assert_eq!(e["status"], "InProgress", "{e}");
        (e["total"].as_u64() == Some(tags as u64)).then_some(e)
    })
    .await;
    // Nothing more comes: each tag got one task, and the execution did not fail.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let settled = api
        .get(&format!("/replication/executions/{execution}"))
        .await
        .json();
    assert_eq!(settled["total"], listed["total"], "{settled}");
    assert_eq!(settled["status"], "InProgress", "{settled}");
    let hits = proxy.hits().len();
    assert!(
        hits > tags,
        "every tag was looked at through the slow link: {hits}"
    );
    stack.stop().await;
}
