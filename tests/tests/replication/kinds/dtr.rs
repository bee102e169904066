use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn dtr_repositories_are_created_before_a_push() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", 2000).await;
    let dtr = fakes::dtr::FakeDtr::start(&behind.url(), "admin", "dtr-pw").await;
    dtr.add_namespace("corp");
    let (stack, api) = start("kind-dtr").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let dtr_id = add(
        &api,
        json!({"name": "dtr", "type": "dtr", "url": dtr.url(),
               "credential": {"type": "basic", "access_key": "admin", "access_secret": "dtr-pw"}}),
    )
    .await;
    let to_dtr = create_policy(&api, "to-dtr", src, dtr_id, json!({})).await;
    succeeded(&api, to_dtr).await;
    assert!(
        dtr.calls().count("POST /api/v0/repositories/corp") >= 3,
        "{:?}",
        dtr.calls().all()
    );
    corpus
        .arrived(&plain(&origin), &plain(&behind), str::to_string)
        .await
        .expect("arrived in DTR");

    dtr.set_max_page_size(2);
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_dtr = create_policy(
        &api,
        "from-dtr",
        dtr_id,
        dst,
        json!({"filters": [{"type": "name", "value": "corp/**"}]}),
    )
    .await;
    succeeded(&api, from_dtr).await;
    corpus
        .arrived(&plain(&behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from DTR");
    assert!(
        dtr.calls().all().iter().any(|c| c.contains("pageStart=")),
        "paged: {:?}",
        dtr.calls().all()
    );

    let ghost = create_policy(
        &api,
        "to-ghost",
        src,
        dtr_id,
        json!({"dest_namespace": "ghostns", "dest_namespace_replace_count": 1}),
    )
    .await;
    let text = failure(&api, ghost).await;
    assert!(text.contains("DTR has no namespace \"ghostns\""), "{text}");
    stack.stop().await;
}
