use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn ghcr_lists_through_githubs_packages_api() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", 1300).await;
    let ghcr = fakes::ghcr::FakeGhcr::start(&behind.url(), "octo", "ghp_token").await;
    ghcr.add_org("corp");
    let (stack, api) = start("kind-ghcr").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let ghcr_id = add(
        &api,
        json!({"name": "ghcr", "type": "github-ghcr", "url": ghcr.url(),
               "credential": {"type": "basic", "access_key": "octo", "access_secret": "ghp_token"}}),
    )
    .await;
    let to_ghcr = create_policy(&api, "to-ghcr", src, ghcr_id, json!({})).await;
    succeeded(&api, to_ghcr).await;
    corpus
        .arrived(&plain(&origin), &plain(&behind), str::to_string)
        .await
        .expect("arrived in GHCR");

    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_ghcr = create_policy(
        &api,
        "from-ghcr",
        ghcr_id,
        dst,
        json!({"filters": [{"type": "name", "value": "corp/**"}]}),
    )
    .await;
    ghcr.throttle_next(1);
    ghcr.set_max_page_size(2);
    succeeded(&api, from_ghcr).await;
    corpus
        .arrived(&plain(&behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from GHCR");
    assert!(
        ghcr.calls()
            .count("GET /orgs/corp/packages/container/app/versions")
            > 0
    );

    let ghost = create_policy(
        &api,
        "to-ghost",
        src,
        ghcr_id,
        json!({"dest_namespace": "nobody", "dest_namespace_replace_count": 1}),
    )
    .await;
    let text = failure(&api, ghost).await;
    assert!(text.contains("nobody"), "{text}");
    stack.stop().await;
}
