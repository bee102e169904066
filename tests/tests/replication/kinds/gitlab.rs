use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_lists_projects_and_needs_them_at_the_destination() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", 1800).await;
    let gitlab = fakes::gitlab::FakeGitlab::start(&behind.url(), "gl-user", "glpat-token").await;
    gitlab.add_project("group/mirror");
    let (stack, api) = start("kind-gitlab").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let gitlab_id = add(
        &api,
        json!({"name": "gitlab", "type": "gitlab", "url": gitlab.url(),
               "credential": {"type": "basic", "access_key": "gl-user", "access_secret": "glpat-token"}}),
    )
    .await;
    let to_gitlab = create_policy(
        &api,
        "to-gitlab",
        src,
        gitlab_id,
        json!({"dest_namespace": "group/mirror", "dest_namespace_replace_count": 1}),
    )
    .await;
    succeeded(&api, to_gitlab).await;
    let renamed = |r: &str| format!("group/mirror/{}", r.trim_start_matches("corp/"));
    corpus
        .arrived(&plain(&origin), &plain(&behind), renamed)
        .await
        .expect("arrived in GitLab");

    gitlab.set_max_page_size(2);
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_gitlab = create_policy(&api, "from-gitlab", gitlab_id, dst, json!({})).await;
    succeeded(&api, from_gitlab).await;
    corpus
        .renamed(renamed)
        .arrived(&plain(&behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from GitLab");
    assert!(
        gitlab
            .calls()
            .all()
            .iter()
            .any(|c| c.contains("/registry/repositories") && c.contains("page=2")),
        "paged: {:?}",
        gitlab.calls().all()
    );

    let nowhere = create_policy(
        &api,
        "to-nowhere",
        src,
        gitlab_id,
        json!({"dest_namespace": "nogroup/none", "dest_namespace_replace_count": 1}),
    )
    .await;
    let text = failure(&api, nowhere).await;
    assert!(text.contains("GitLab has no project"), "{text}");
    stack.stop().await;
}
