use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn quay_lists_through_its_api_and_creates_organisations() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", 1700).await;
    let quay = fakes::quay::FakeQuay::start(
        &behind.url(),
        ("mirror+ferry", "robot-token"),
        "oauth-token",
    )
    .await;
    let (stack, api) = start("kind-quay").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let secret =
        json!({"docker_cli_password": "robot-token", "oauth2_token": "oauth-token"}).to_string();
    let quay_id = add(
        &api,
        json!({"name": "quay", "type": "quay", "url": quay.url(),
               "credential": {"type": "basic", "access_key": "mirror+ferry", "access_secret": secret}}),
    )
    .await;
    let to_quay = create_policy(&api, "to-quay", src, quay_id, json!({})).await;
    succeeded(&api, to_quay).await;
    assert!(
        quay.calls().count("POST /api/v1/organization/") > 0,
        "{:?}",
        quay.calls().all()
    );
    corpus
        .arrived(&plain(&origin), &plain(&behind), str::to_string)
        .await
        .expect("arrived in Quay");

    quay.set_max_page_size(2);
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_quay = create_policy(
        &api,
        "from-quay",
        quay_id,
        dst,
        json!({"filters": [{"type": "name", "value": "corp/**"}]}),
    )
    .await;
    succeeded(&api, from_quay).await;
    corpus
        .arrived(&plain(&behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from Quay");
    assert!(
        quay.calls()
            .count("GET /api/v1/repository?namespace=corp&next_page=")
            > 0,
        "paged: {:?}",
        quay.calls().all()
    );

    quay.deny_org_create();
    let denied = create_policy(
        &api,
        "to-neworg",
        src,
        quay_id,
        json!({"dest_namespace": "neworg", "dest_namespace_replace_count": 1}),
    )
    .await;
    let text = failure(&api, denied).await;
    assert!(
        text.contains("neworg") && text.contains("org:admin"),
        "{text}"
    );
    stack.stop().await;
}
