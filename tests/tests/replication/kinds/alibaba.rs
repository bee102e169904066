use super::*;

/// An ACR record whose registry and API are the fake at `url`.
fn record(name: &str, url: &str, key: (&str, &str), mut options: Value) -> Value {
    options["api_url"] = json!(url);
    json!({"name": name, "type": "ali-acr", "url": url,
           "credential": {"type": "basic", "access_key": key.0, "access_secret": key.1},
           "options": options})
}

#[tokio::test(flavor = "multi_thread")]
async fn alibaba_acr_personal_edition_through_its_roa_api() {
    let behind = TestRegistry::start();
    let key = ("LTAIferrytest", "acr-secret");
    let acr = fakes::alibaba::FakeAliAcr::personal(&behind.url(), key, "cn-hangzhou").await;
    let options = json!({"region": "cn-hangzhou"});
    let case = CloudCase {
        stack: "kind-ali-personal",
        seed: 2400,
        registry: record("acr", &acr.url(), key, options.clone()),
        wrong: record("acr-wrong", &acr.url(), (key.0, "wrong"), options),
        wrong_says: "SignatureDoesNotMatch",
        creates: "PUT /namespace",
        lists_tags: "/tags?",
        denied_says: "NAMESPACE_LIMIT_EXCEED",
    };
    cloud_round_trip(&acr, &behind, case).await;
    // The namespace Ferry made creates its repositories on push.
    assert!(
        acr.calls().count("POST /namespace/corp") > 0,
        "{:?}",
        acr.calls().all()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alibaba_acr_enterprise_edition_through_its_rpc_api() {
    let behind = TestRegistry::start();
    let key = ("LTAIferrytest", "acr-secret");
    let acr =
        fakes::alibaba::FakeAliAcr::enterprise(&behind.url(), key, "cn-hangzhou", "ferry").await;
    // The instance by name, found past the decoy.
    let options = json!({"region": "cn-hangzhou", "instance": "ferry"});
    let case = CloudCase {
        stack: "kind-ali-enterprise",
        seed: 2500,
        registry: record("acr", &acr.url(), key, options.clone()),
        wrong: record("acr-wrong", &acr.url(), (key.0, "wrong"), options),
        wrong_says: "SignatureDoesNotMatch",
        creates: "Action=CreateNamespace",
        lists_tags: "Action=ListRepoTag",
        denied_says: "NAMESPACE_LIMIT_EXCEED",
    };
    cloud_round_trip(&acr, &behind, case).await;
    assert!(acr.calls().containing("Action=ListInstance") > 0);
}

/// An enterprise instance named by its `cri-` id needs no ListInstance; one the account lacks is
/// refused at creation.
#[tokio::test(flavor = "multi_thread")]
async fn an_acr_enterprise_instance_by_id_or_refused() {
    let behind = TestRegistry::start();
    let key = ("LTAIferrytest", "acr-secret");
    let acr =
        fakes::alibaba::FakeAliAcr::enterprise(&behind.url(), key, "cn-hangzhou", "ferry").await;
    let (stack, api) = start("kind-ali-instance").await;
    let by_id = json!({"region": "cn-hangzhou", "instance": acr.instance_id()});
    add(&api, record("by-id", &acr.url(), key, by_id)).await;
    assert_eq!(
        acr.calls().containing("Action=ListInstance"),
        0,
        "{:?}",
        acr.calls().all()
    );
    let nowhere = json!({"region": "cn-hangzhou", "instance": "nowhere"});
    let missing = api
        .post("/registries", &record("missing", &acr.url(), key, nowhere))
        .await;
    assert_eq!(missing.status, 400, "{}", missing.text);
    assert!(
        missing.text.contains("no ACR enterprise instance named"),
        "{}",
        missing.text
    );
    stack.stop().await;
}
