use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn volcengine_cr_makes_namespaces_and_repositories_before_a_push() {
    let behind = TestRegistry::start();
    let key = ("AKLTferrytest", "volc-secret");
    let cr = fakes::volcengine::FakeVolcCr::start(&behind.url(), key, "ferry", "cn-beijing").await;
    // A stand-in URL: the registry's name and region are the record's options, the fake the API.
    let registry = |secret: &str| {
        json!({"name": format!("cr-{secret}"), "type": "volcengine-cr", "url": cr.url(),
               "credential": {"type": "basic", "access_key": key.0, "access_secret": secret},
               "options": {"instance": "ferry", "region": "cn-beijing", "api_url": cr.url()}})
    };
    let case = CloudCase {
        stack: "kind-volcengine",
        seed: 2200,
        registry: registry(key.1),
        wrong: registry("wrong"),
        wrong_says: "SignatureDoesNotMatch",
        creates: "Action=CreateNamespace",
        lists_tags: "Action=ListTags",
        denied_says: "cr:CreateNamespace",
    };
    cloud_round_trip(&cr, &behind, case).await;
    assert!(
        cr.calls().containing("Action=CreateRepository") >= 3,
        "every repository made before its push: {:?}",
        cr.calls().all()
    );
}
