use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn artifactory_keys_repositories_by_the_first_path_component() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", 1900).await;
    let artifactory =
        fakes::artifactory::FakeArtifactory::start(&behind.url(), "deployer", "art-pw").await;
    let (stack, api) = start("kind-artifactory").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let art_id = add(
        &api,
        json!({"name": "artifactory", "type": "jfrog-artifactory", "url": artifactory.url(),
               "credential": {"type": "basic", "access_key": "deployer", "access_secret": "art-pw"}}),
    )
    .await;
    let to_art = create_policy(&api, "to-artifactory", src, art_id, json!({})).await;
    succeeded(&api, to_art).await;
    assert!(artifactory
        .repositories()
        .await
        .contains(&"corp".to_string()));
    corpus
        .arrived(&plain(&origin), &plain(&behind), str::to_string)
        .await
        .expect("arrived in Artifactory");

    artifactory.set_max_page_size(2);
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_art = create_policy(&api, "from-artifactory", art_id, dst, json!({})).await;
    succeeded(&api, from_art).await;
    corpus
        .arrived(&plain(&behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from Artifactory");

    artifactory.deny_create();
    let denied = create_policy(
        &api,
        "to-other",
        src,
        art_id,
        json!({"dest_namespace": "other", "dest_namespace_replace_count": 1}),
    )
    .await;
    let text = failure(&api, denied).await;
    assert!(
        text.contains("\"other\"") && text.contains("local Docker repository"),
        "{text}"
    );
    stack.stop().await;
}
