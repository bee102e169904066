use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn azure_acr_with_an_admin_user_and_an_azure_ad_token() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", 1500).await;
    let acr = fakes::acr::FakeAcr::start(&behind.url(), ("admin", "acr-pw"), "aad-token").await;
    let (stack, api) = start("kind-acr").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let admin = add(
        &api,
        json!({"name": "acr", "type": "azure-acr", "url": acr.url(),
               "credential": {"type": "basic", "access_key": "admin", "access_secret": "acr-pw"}}),
    )
    .await;
    let to_acr = create_policy(&api, "to-acr", src, admin, json!({})).await;
    succeeded(&api, to_acr).await;
    corpus
        .arrived(&plain(&origin), &plain(&behind), str::to_string)
        .await
        .expect("arrived in ACR");

    // As a source with an Azure AD token exchanged for a refresh token; tokens expiring
    // midway are asked for again.
    let aad = add(
        &api,
        json!({"name": "acr-aad", "type": "azure-acr", "url": acr.url(),
               "credential": {"type": "oauth", "access_key": "tenant-1", "access_secret": "aad-token"}}),
    )
    .await;
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_acr = create_policy(&api, "from-acr", aad, dst, json!({})).await;
    succeeded(&api, from_acr).await;
    corpus
        .arrived(&plain(&behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from ACR");
    assert!(acr.refresh_tokens_issued() >= 1);
    // Every token the warm processes hold stops working: the next run asks for new ones.
    acr.expire_tokens();
    plain(&behind)
        .push_image("corp/app", "v3", &[layer(1560, 2_000)])
        .await;
    let again = succeeded(&api, from_acr).await;
    assert_eq!(again["total"].as_i64(), Some(7), "{again}");
    assert!(
        plain(&copy).manifest("corp/app", "v3").await.is_some(),
        "v3 arrived with new tokens"
    );

    // A wrong Azure AD token: refused at creation, naming the registry's answer.
    let wrong = api
        .post(
            "/registries",
            &json!({"name": "acr-wrong", "type": "azure-acr", "url": acr.url(),
                    "credential": {"type": "oauth", "access_key": "tenant-1", "access_secret": "stale"}}),
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert!(wrong.text.contains("oauth2/exchange"), "{}", wrong.text);
    stack.stop().await;
}
