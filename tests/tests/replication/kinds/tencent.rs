use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn tencent_tcr_through_its_signed_api_and_temporary_tokens() {
    let behind = TestRegistry::start();
    let key = ("AKIDferrytest", "tcr-secret");
    let tcr = fakes::tencent::FakeTcr::start(&behind.url(), key, "ferry").await;
    // A stand-in URL names no instance: Ferry finds it by its public domain, past the decoy.
    let registry = |secret: &str| {
        json!({"name": format!("tcr-{secret}"), "type": "tencent-tcr", "url": tcr.url(),
               "credential": {"type": "basic", "access_key": key.0, "access_secret": secret}})
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
