use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn docker_hub_lists_through_its_api_keeps_library_and_its_limits() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", 1200).await;
    let official = plain(&behind)
        .push_image("library/nginx", "1.27", &[layer(1250, 5_000)])
        .await;
    let hub = fakes::docker_hub::FakeHub::start(&behind.url(), "mirror", "hub-token").await;
    hub.add_org("corp");
    let (stack, api) = start("kind-hub").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let hub_id = add(
        &api,
        json!({"name": "hub", "type": "docker-hub", "url": hub.url(),
               "credential": {"type": "basic", "access_key": "mirror", "access_secret": "hub-token"}}),
    )
    .await;
    let to_hub = create_policy(&api, "to-hub", src, hub_id, json!({})).await;
    succeeded(&api, to_hub).await;
    corpus
        .arrived(&plain(&origin), &plain(&behind), str::to_string)
        .await
        .expect("arrived in Hub");

    // As a source: the namespace from the name filter, tags and digests from Hub's API, no
    // manifest GET counted against the pull limit while listing; a 429 waited out.
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_hub = create_policy(
        &api,
        "from-hub",
        hub_id,
        dst,
        json!({"filters": [{"type": "name", "value": "corp/**"}]}),
    )
    .await;
    hub.throttle_next(2);
    hub.set_max_page_size(2);
    succeeded(&api, from_hub).await;
    corpus
        .arrived(&plain(&behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from Hub");
    assert!(
        hub.calls()
            .all()
            .iter()
            .any(|c| c.starts_with("GET /v2/repositories/corp/") && c.contains("page=2")),
        "paged: {:?}",
        hub.calls().all()
    );
    // Nothing changed: the re-sync lists through Hub's API and HEADs the destination; the one
    // pull is the signed image's manifest, read to follow its signatures (which, unchanged,
    // are only HEADed).
    let pulls = hub.pulls();
    let again = succeeded(&api, from_hub).await;
    assert_eq!(
        hub.pulls(),
        pulls + 1,
        "{again}: {:?}",
        hub.calls()
            .all()
            .iter()
            .filter(|c| c.contains("/manifests/"))
            .collect::<Vec<_>>()
    );

    // `nginx` is `library/nginx`.
    let official_policy = create_policy(
        &api,
        "nginx",
        hub_id,
        dst,
        json!({"filters": [{"type": "name", "value": "nginx"}]}),
    )
    .await;
    succeeded(&api, official_policy).await;
    assert_eq!(
        plain(&copy)
            .manifest_digest("library/nginx", "1.27")
            .await
            .as_deref(),
        Some(official.as_str())
    );

    // A wrong password: refused when the registry is saved, saying what Hub answered.
    let wrong = api
        .post(
            "/registries",
            &json!({"name": "hub-wrong", "type": "docker-hub", "url": hub.url(),
                    "credential": {"type": "basic", "access_key": "mirror", "access_secret": "nope"}}),
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert!(wrong.text.contains("401"), "{}", wrong.text);

    // A namespace that does not exist at Hub: said before anything is copied.
    let ghost = create_policy(
        &api,
        "to-ghost",
        src,
        hub_id,
        json!({"dest_namespace": "ghost", "dest_namespace_replace_count": 1}),
    )
    .await;
    let text = failure(&api, ghost).await;
    assert!(
        text.contains("ghost") && text.contains("organisation"),
        "{text}"
    );
    stack.stop().await;
}
