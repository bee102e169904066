use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn harbor_is_listed_through_its_api_for_a_robot_and_receives_with_projects() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let copy = TestRegistry::start();
    let labelled = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", 1100).await;
    let harbor = fakes::harbor::FakeHarbor::start(
        &behind.url(),
        &[("admin", "pw"), ("robot$ferry", "s3cret")],
    )
    .await;
    let (stack, api) = start("kind-harbor").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let admin = add(
        &api,
        json!({"name": "harbor-admin", "type": "harbor", "url": harbor.url(),
               "credential": {"type": "basic", "access_key": "admin", "access_secret": "pw"}}),
    )
    .await;
    // Harbor as a destination: its project is made, and everything arrives.
    let to_harbor = create_policy(&api, "to-harbor", src, admin, json!({})).await;
    succeeded(&api, to_harbor).await;
    assert!(
        harbor
            .project_requests()
            .iter()
            .any(|body| body["project_name"] == "corp"),
        "the project was asked for: {:?}",
        harbor.project_requests()
    );
    assert!(harbor.projects().await.contains(&"corp".to_string()));
    corpus
        .arrived(&plain(&origin), &plain(&behind), str::to_string)
        .await
        .expect("arrived in Harbor");

    // Harbor as a source, for a robot account that may not read the catalog.
    let robot = add(
        &api,
        json!({"name": "harbor-robot", "type": "harbor", "url": harbor.url(),
               "credential": {"type": "basic", "access_key": "robot$ferry", "access_secret": "s3cret"}}),
    )
    .await;
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_harbor = create_policy(&api, "from-harbor", robot, dst, json!({})).await;
    // Pages of two: every listing takes several.
    harbor.set_max_page_size(2);
    succeeded(&api, from_harbor).await;
    corpus
        .arrived(&plain(&behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from Harbor");
    assert!(
        harbor
            .calls()
            .count("GET /api/v2.0/projects/corp/repositories/app/artifacts")
            > 0,
        "listed through the API: {:?}",
        harbor.calls().all()
    );

    // Harbor's own labels drive the label filter.
    let (_, _, v2) = &corpus.items[1];
    harbor.set_labels("corp/app", v2, &["prod"]);
    let only = add_registry(&api, "labelled", &labelled.url()).await;
    let by_label = create_policy(
        &api,
        "by-label",
        robot,
        only,
        json!({"filters": [{"type": "label", "value": ["prod"]}]}),
    )
    .await;
    let execution = succeeded(&api, by_label).await;
    assert_eq!(execution["total"].as_i64(), Some(1), "{execution}");
    assert_eq!(
        plain(&labelled)
            .manifest_digest("corp/app", "v2")
            .await
            .as_deref(),
        Some(v2.as_str())
    );
    stack.stop().await;
}
