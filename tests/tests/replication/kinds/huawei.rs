use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn huawei_swr_through_its_signed_api_and_temporary_logins() {
    let behind = TestRegistry::start();
    let key = ("HPUAFERRYTEST", "swr-secret");
    let swr = fakes::huawei::FakeSwr::start(&behind.url(), key, "cn-north-4").await;
    let registry = |secret: &str| {
        json!({"name": format!("swr-{secret}"), "type": "huawei-SWR", "url": swr.url(),
               "credential": {"type": "basic", "access_key": key.0, "access_secret": secret},
               "options": {"region": "cn-north-4", "api_url": swr.url()}})
    };
    let case = CloudCase {
        stack: "kind-swr",
        seed: 2300,
        registry: registry(key.1),
        wrong: registry("wrong"),
        wrong_says: "APIGW.0301",
        creates: "POST /v2/manage/namespaces",
        lists_tags: "/tags?",
        denied_says: "swr:namespace:createNamespace",
    };
    cloud_round_trip(&swr, &behind, case).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_swr_organisation_of_another_account_is_said_so() {
    let behind = TestRegistry::start();
    let origin = TestRegistry::start();
    plain(&origin)
        .push_image("corp/app", "v1", &[layer(2350, 1_000)])
        .await;
    let key = ("HPUAFERRYTEST", "swr-secret");
    let swr = fakes::huawei::FakeSwr::start(&behind.url(), key, "cn-north-4").await;
    swr.take_namespace_elsewhere("corp");
    let (stack, api) = start("kind-swr-taken").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let dst = add(
        &api,
        json!({"name": "swr", "type": "huawei-SWR", "url": swr.url(),
               "credential": {"type": "basic", "access_key": key.0, "access_secret": key.1},
               "options": {"region": "cn-north-4", "api_url": swr.url()}}),
    )
    .await;
    let policy = create_policy(&api, "to-swr", src, dst, json!({})).await;
    let text = failure(&api, policy).await;
    assert!(text.contains("belongs to another account"), "{text}");

    // Harbor's form of the credential (a docker login) is refused with what to give instead.
    let login = api
        .post(
            "/registries",
            &json!({"name": "swr-login", "type": "huawei-SWR", "url": swr.url(),
                    "credential": {"type": "basic", "access_key": "cn-north-4@HPUA", "access_secret": "x"},
                    "options": {"region": "cn-north-4"}}),
        )
        .await;
    assert_eq!(login.status, 400, "{}", login.text);
    assert!(
        login.text.contains("credential.access_key"),
        "{}",
        login.text
    );
    stack.stop().await;
}
