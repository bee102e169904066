use super::*;

fn record(name: &str, url: &str, key: (&str, &str), options: Value) -> Value {
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
