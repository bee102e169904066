use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn tencent_tcr_through_its_signed_api_and_temporary_tokens() {
    let behind = TestRegistry::start();
    let key = ("AKIDferrytest", "tcr-secret");
    let tcr = fakes::tencent::FakeTcr::start(&behind.url(), key, "ferry").await;
    // The fake is the API too; its URL names no instance: Ferry finds the instance by its
    // public domain, past the decoy.
    let registry = |secret: &str| {
        json!({"name": format!("tcr-{secret}"), "type": "tencent-tcr", "url": tcr.url(),
               "credential": {"type": "basic", "access_key": key.0, "access_secret": secret},
               "options": {"api_url": tcr.url()}})
    };
    let case = CloudCase {
        stack: "kind-tcr",
        seed: 2100,
        registry: registry(key.1),
        wrong: registry("wrong"),
        wrong_says: "AuthFailure.SignatureFailure",
        creates: "POST / CreateNamespace",
        lists_tags: "POST / DescribeImages",
        denied_says: "tcr:CreateNamespace",
    };
    cloud_round_trip(&tcr, &behind, case).await;
}

/// A record naming its instance (a custom domain's, or the URL's first label on Tencent's own
/// hosts) finds it through DescribeInstances by name or by id; one the account lacks is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_tcr_instance_is_found_by_name_or_id() {
    let behind = TestRegistry::start();
    let key = ("AKIDferrytest", "tcr-secret");
    let tcr = fakes::tencent::FakeTcr::start(&behind.url(), key, "ferry").await;
    let (stack, api) = start("kind-tcr-instance").await;
    let record = |name: &str, instance: &str| {
        json!({"name": name, "type": "tencent-tcr", "url": tcr.url(),
               "credential": {"type": "basic", "access_key": key.0, "access_secret": key.1},
               "options": {"instance": instance, "api_url": tcr.url()}})
    };
    add(&api, record("by-name", "ferry")).await;
    add(&api, record("by-id", &tcr.registry_id())).await;
    assert!(tcr.calls().containing("DescribeInstances") >= 2);
    let missing = api.post("/registries", &record("missing", "nowhere")).await;
    assert_eq!(missing.status, 400, "{}", missing.text);
    assert!(
        missing.text.contains("no TCR instance named"),
        "{}",
        missing.text
    );
    stack.stop().await;
}
