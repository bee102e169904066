use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn google_artifact_registry_with_a_service_account_key() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", 1400).await;
    let google = fakes::google::FakeGoogle::start(&behind.url(), "proj", "us-east1").await;
    // Short-lived tokens: the copy outlives several, and each is minted again before it ends.
    google.set_token_lifetime(4);
    let (stack, api) = start("kind-google").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let key = google.key_json();
    let gar_oauth = add(
        &api,
        json!({"name": "gar", "type": "google-gcr", "url": google.url(),
               "options": {"region": "us-east1"},
               "credential": {"type": "oauth", "access_key": "_json_key", "access_secret": key}}),
    )
    .await;
    // Into `proj/mirror/...`: the Artifact Registry repository `mirror` is created first.
    let to_gar = create_policy(
        &api,
        "to-gar",
        src,
        gar_oauth,
        json!({"dest_namespace": "proj/mirror", "dest_namespace_replace_count": 1}),
    )
    .await;
    succeeded(&api, to_gar).await;
    assert!(google.repositories().contains(&"mirror".to_string()));
    let renamed = |r: &str| format!("proj/mirror/{}", r.trim_start_matches("corp/"));
    corpus
        .arrived(&plain(&origin), &plain(&behind), renamed)
        .await
        .expect("arrived in GAR");
    // The token outlived: the next run mints another before it uses one.
    let minted = google.tokens_minted();
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    plain(&origin)
        .push_image("corp/app", "v3", &[layer(1460, 2_000)])
        .await;
    succeeded(&api, to_gar).await;
    assert!(google.tokens_minted() > minted, "a new token was minted");
    assert!(plain(&behind)
        .manifest("proj/mirror/app", "v3")
        .await
        .is_some());

    // As a source with the key itself (`_json_key`), through `_catalog`.
    let gar_key = add(
        &api,
        json!({"name": "gar-key", "type": "google-gcr", "url": google.url(),
               "options": {"region": "us-east1"},
               "credential": {"type": "basic", "access_key": "_json_key", "access_secret": google.key_json()}}),
    )
    .await;
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_gar = create_policy(&api, "from-gar", gar_key, dst, json!({})).await;
    succeeded(&api, from_gar).await;
    corpus
        .renamed(renamed)
        .arrived(&plain(&behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from GAR");

    // A path GAR cannot hold (no image name under project and repository): said at once.
    let flat = create_policy(&api, "to-flat", src, gar_oauth, json!({})).await;
    let text = failure(&api, flat).await;
    assert!(text.contains("<project>/<repository>/<image>"), "{text}");

    // A repository the key may not create: said, naming it, before anything is copied.
    google.deny_create();
    let denied = create_policy(
        &api,
        "to-denied",
        src,
        gar_oauth,
        json!({"dest_namespace": "proj/other", "dest_namespace_replace_count": 1}),
    )
    .await;
    let text = failure(&api, denied).await;
    assert!(
        text.contains("\"other\"") && text.contains("create it"),
        "{text}"
    );
    stack.stop().await;
}
