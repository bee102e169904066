//! Every registry kind Ferry supports, as a destination and as a source, through the whole
//! local system: the corpus (images sharing a layer, a signature, an index, a chart) arrives
//! byte-exact through each kind's own API and auth, in front of real distribution registries
//! (the providers' APIs are the fakes of `ferry_tests::fakes`; ECR's is moto's, through the SDK).
//! Helm chart repositories are a static server of real packages and a fake ChartMuseum.

mod acr;
mod alibaba;
mod artifactory;
mod docker_hub;
mod dtr;
mod ecr;
mod ghcr;
mod gitlab;
mod google;
mod harbor;
mod helm;
mod huawei;
mod quay;
mod tencent;
mod volcengine;

use super::*;
use ferry_tests::corpus::Corpus;
use ferry_tests::fakes;
use ferry_tests::images::RegistryHttp;

pub(super) async fn add(api: &ApiClient, body: Value) -> i64 {
    let answer = api.post("/registries", &body).await;
    assert_eq!(answer.status, 201, "{body}: {}", answer.text);
    answer.created_id()
}

pub(super) fn plain(registry: &TestRegistry) -> RegistryHttp {
    registry.http()
}

pub(super) async fn succeeded(api: &ApiClient, policy: i64) -> Value {
    let execution = run(api, policy).await;
    assert_eq!(execution["status"], "Succeed", "{execution}");
    execution
}

/// The status text of a failed run, and the text of its failed tasks' logs.
pub(super) async fn failure(api: &ApiClient, policy: i64) -> String {
    let execution = run(api, policy).await;
    assert_eq!(execution["status"], "Failed", "{execution}");
    let mut text = execution["status_text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let id = execution["id"].as_i64().expect("id");
    for task in tasks(api, id).await {
        if task["status"] == "Failed" {
            let log = api
                .get(&format!(
                    "/replication/executions/{id}/tasks/{}/log",
                    task["id"]
                ))
                .await
                .text;
            text.push('\n');
            text.push_str(&log);
        }
    }
    text
}

/// What a signed cloud kind's round trip varies: its registry record, and the words of what it
/// answers.
pub(super) struct CloudCase<'a> {
    /// The stack's name.
    pub stack: &'a str,
    pub seed: u64,
    /// `POST /registries` (the credential right); `wrong` has another secret.
    pub registry: Value,
    pub wrong: Value,
    /// What the refusal of the wrong secret at creation says (the provider's code).
    pub wrong_says: &'a str,
    /// What the fake's calls that create a namespace, and that list tags (paged), contain.
    pub creates: &'a str,
    pub lists_tags: &'a str,
    /// What a namespace the key may not create fails the execution saying.
    pub denied_says: &'a str,
}

/// A signed cloud kind both ways through its fake: the corpus in (namespaces made through the
/// API), out again with listings paged, again after every temporary credential expired (new
/// ones minted), a namespace the key may not create refused before any task, and a wrong
/// secret refused at creation with the provider's code.
pub(super) async fn cloud_round_trip(
    fake: &dyn fakes::CloudFake,
    behind: &TestRegistry,
    case: CloudCase<'_>,
) {
    let origin = TestRegistry::start();
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", case.seed).await;
    let (stack, api) = start(case.stack).await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let cloud = add(&api, case.registry.clone()).await;

    let to_cloud = create_policy(&api, "to-cloud", src, cloud, json!({})).await;
    succeeded(&api, to_cloud).await;
    let calls = fake.calls();
    assert!(
        calls.containing(case.creates) > 0,
        "namespace made: {:?}",
        calls.all()
    );
    corpus
        .arrived(&plain(&origin), &plain(behind), str::to_string)
        .await
        .expect("arrived in the cloud registry");

    fake.set_max_page_size(2);
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let filters = json!({"filters": [{"type": "name", "value": "corp/**"}]});
    let from_cloud = create_policy(&api, "from-cloud", cloud, dst, filters).await;
    let tags_before = fake.calls().containing(case.lists_tags);
    succeeded(&api, from_cloud).await;
    corpus
        .arrived(&plain(behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from the cloud registry");
    // Three repositories, one of five tags (with the signature's) in pages of two.
    let listed = fake.calls().containing(case.lists_tags) - tags_before;
    assert!(
        listed >= 5,
        "tags paged: {listed} calls: {:?}",
        fake.calls().all()
    );

    // Every temporary credential the warm processes hold stops working: new ones are minted.
    let issued = fake.credentials_issued();
    fake.expire_credentials();
    plain(&origin)
        .push_image("corp/app", "v3", &[layer(case.seed + 60, 2_000)])
        .await;
    succeeded(&api, to_cloud).await;
    succeeded(&api, from_cloud).await;
    assert!(
        plain(&copy).manifest("corp/app", "v3").await.is_some(),
        "v3 went in and out with new credentials"
    );
    assert!(fake.credentials_issued() > issued, "minted again");

    // A namespace made for a policy that asks is public, where the kind has the setting.
    let open = json!({"dest_namespace": "open", "target_project_public": true,
                      "filters": [{"type": "name", "value": "corp/app"}]});
    let to_open = create_policy(&api, "to-open", src, cloud, open).await;
    succeeded(&api, to_open).await;
    if let Some(public) = fake.public_namespaces() {
        assert!(
            public.iter().any(|n| n == "open" || n.starts_with("open/")),
            "made public: {public:?}"
        );
        assert!(
            !public.iter().any(|n| n == "corp" || n.starts_with("corp/")),
            "the others are private: {public:?}"
        );
    }

    fake.deny_namespace_create();
    let denied = create_policy(
        &api,
        "to-neworg",
        src,
        cloud,
        json!({"dest_namespace": "neworg", "dest_namespace_replace_count": 1}),
    )
    .await;
    let execution = run(&api, denied).await;
    let text = execution["status_text"].as_str().unwrap_or_default();
    assert_eq!(execution["status"], "Failed", "{execution}");
    assert!(
        text.contains("neworg") && text.contains(case.denied_says),
        "{text}"
    );
    let id = execution["id"].as_i64().expect("id");
    assert!(tasks(&api, id).await.is_empty(), "refused before any task");

    let wrong = api.post("/registries", &case.wrong).await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert!(wrong.text.contains(case.wrong_says), "{}", wrong.text);
    stack.stop().await;
}
