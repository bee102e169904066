//! Every registry kind Ferry supports, as a destination and as a source, through the whole
//! local system: the corpus (images sharing a layer, a signature, an index, a chart) arrives
//! byte-exact through each kind's own API and auth, in front of real distribution registries
//! (the providers' APIs are the fakes of `ferry_tests::fakes`; ECR's is moto's, through the SDK).

mod acr;
mod artifactory;
mod docker_hub;
mod dtr;
mod ecr;
mod ghcr;
mod gitlab;
mod google;
mod harbor;
mod quay;

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
