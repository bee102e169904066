//! Seed 000 against a Harbor-like destination: prepare_replication handlers called with the
//! destination's own registry token and deciding the execution, target projects made public or
//! not made at all (bypass), through the API.

use super::kinds::{add, plain, succeeded};
use super::*;
use ferry_tests::fakes::harbor::FakeHarbor;

#[tokio::test(flavor = "multi_thread")]
async fn handlers_decide_the_execution_and_projects_follow_the_policy() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let source = plain(&origin);
    source
        .push_image("team/app", "1.0", &[layer(9100, 2000)])
        .await;
    let harbor = FakeHarbor::start(&behind.url(), &[("robot$cloud", "s3cret")]).await;
    let (_stack, api) = start("prepare").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let dst = add(
        &api,
        json!({"name": "cloud", "type": "harbor", "url": harbor.url(),
               "credential": {"type": "basic", "access_key": "robot$cloud", "access_secret": "s3cret"}}),
    )
    .await;
    let policy = create_policy(
        &api,
        "to-cloud",
        src,
        dst,
        json!({"filters": [{"type": "name", "value": "team/**"}],
               "dest_namespace": "cloud-team", "target_project_public": true}),
    )
    .await;
    let handlers = format!("/replication/policies/{policy}/handlers");

    // Bad handlers are refused, naming the field.
    for (body, field) in [
        (
            json!({"events": "prepare_replication", "handler_url": "//evil.example/x"}),
            "handler_url",
        ),
        (
            json!({"events": "after_replication", "handler_url": "/x"}),
            "events",
        ),
        (
            json!({"events": "prepare_replication", "handler_url": "/x", "abort_code": [200]}),
            "abort_code[0]",
        ),
    ] {
        let refused = api.post(&handlers, &body).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text);
        assert!(refused.text.contains(field), "{}", refused.text);
    }
    assert_eq!(
        api.post(
            "/replication/policies/999/handlers",
            &json!({"events": "prepare_replication", "handler_url": "/x"})
        )
        .await
        .status,
        404
    );
    let created = api
        .post(
            &handlers,
            &json!({"events": "prepare_replication", "handler_url": "/v2/manage/namespaces",
                    "abort_code": [404, 403, 500]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let handler_id = created.created_id();
    assert_eq!(
        created.header("location"),
        format!(
            "/api/v2.0/{}/{handler_id}",
            handlers.trim_start_matches('/')
        )
    );
    let listed = api.get(&handlers).await.json();
    assert_eq!(
        listed[0]["handler_url"], "/v2/manage/namespaces",
        "{listed}"
    );
    let shown = api
        .get(&format!("/replication/policies/{policy}"))
        .await
        .json();
    assert_eq!(shown["handlers"][0]["id"], handler_id, "{shown}");
    assert_eq!(shown["target_project_public"], true);

    // An abort code: Failed with the handler's answer, nothing at the destination.
    harbor.serve_prepare(&[403]);
    let execution = run(&api, policy).await;
    assert_eq!(execution["status"], "Failed", "{execution}");
    let reason = execution["status_text"].as_str().unwrap_or_default();
    assert!(
        reason.contains("aborted the replication") && reason.contains("403"),
        "{reason}"
    );
    assert_eq!(execution["total"], 0, "{execution}");
    assert!(harbor.project_requests().is_empty(), "no project made");
    assert_eq!(
        plain(&behind)
            .manifest_digest("cloud-team/app", "1.0")
            .await,
        None
    );
    let (user, body) = harbor.prepare_requests()[0].clone();
    assert_eq!(
        user, "robot$cloud",
        "called with the destination's own registry token"
    );
    assert_eq!(body["events"], "prepare_replication");
    assert_eq!(body["replicate_policy_name"], "to-cloud");
    assert_eq!(body["source_project"], "team");
    assert_eq!(body["target_project"], "cloud-team");
    assert_eq!(body["target_project_public"], "true");
    assert_eq!(body["trigger"]["kind"], "Manual");

    // A 5xx not in the abort codes is asked again, then fails the execution saying so.
    harbor.serve_prepare(&[503]);
    let before = harbor.prepare_requests().len();
    let execution = run(&api, policy).await;
    assert_eq!(execution["status"], "Failed", "{execution}");
    let reason = execution["status_text"].as_str().unwrap_or_default();
    assert!(
        reason.contains("answered 503") && reason.contains("after 3 attempts"),
        "{reason}"
    );
    assert_eq!(harbor.prepare_requests().len() - before, 3);

    // One 503 and then a 2xx: it goes on, and the project Ferry makes is public.
    harbor.serve_prepare(&[503, 201]);
    let execution = succeeded(&api, policy).await;
    assert_eq!(execution["succeed"], 1, "{execution}");
    let asked = harbor.project_requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["project_name"], "cloud-team");
    assert_eq!(asked[0]["metadata"]["public"], "true");
    assert!(plain(&behind)
        .manifest_digest("cloud-team/app", "1.0")
        .await
        .is_some());

    // The handler changed and deleted through its routes.
    let one = format!("{handlers}/{handler_id}");
    let changed = api
        .put(&one, &json!({"events": "prepare_replication", "handler_url": "/v2/manage/namespaces", "abort_code": [409]}))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(api.get(&one).await.json()["abort_code"], json!([409]));
    assert_eq!(api.delete(&one).await.status, 200);
    assert_eq!(api.get(&one).await.status, 404);

    // Bypass: Ferry makes no project; the push finds none and the task says so.
    let bypassed = create_policy(
        &api,
        "bypassed",
        src,
        dst,
        json!({"filters": [{"type": "name", "value": "team/**"}],
               "dest_namespace": "unmade", "bypass_namespace_management": true}),
    )
    .await;
    let execution = run(&api, bypassed).await;
    assert!(
        !harbor
            .project_requests()
            .iter()
            .any(|p| p["project_name"] == "unmade"),
        "{:?}",
        harbor.project_requests()
    );
    assert_eq!(
        harbor
            .calls()
            .count("HEAD /api/v2.0/projects?project_name=unmade"),
        0
    );
    // The fake's registry behind takes any name: the copy arrives without Ferry's project.
    assert_eq!(execution["status"], "Succeed", "{execution}");
    // And without bypass the same policy makes its private project.
    let managed = create_policy(
        &api,
        "managed",
        src,
        dst,
        json!({"filters": [{"type": "name", "value": "team/**"}], "dest_namespace": "made"}),
    )
    .await;
    succeeded(&api, managed).await;
    let made = harbor.project_requests();
    let made = made
        .iter()
        .find(|p| p["project_name"] == "made")
        .expect("made");
    assert_eq!(made["metadata"]["public"], "false");
}
