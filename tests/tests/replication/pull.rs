//! Auto-sync on pull with a real client: skopeo pulls, through Ferry's endpoint, an image
//! that exists only at the upstream; it arrives byte-exact, lands at the destination, and one
//! execution did it. A second pull starts nothing; a tag outside the filters is a 404; an
//! anonymous pull a 401.

use super::*;

/// `skopeo copy` of `image` from Ferry's endpoint into a `dir:` layout; the directory, or
/// skopeo's complaint.
fn skopeo_pull(endpoint: &str, image: &str, login: &str) -> Result<tempfile::TempDir, String> {
    let into = tempfile::tempdir().expect("tempdir");
    let output = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            login,
            &format!("docker://{endpoint}/{image}"),
            &format!("dir:{}", into.path().display()),
        ])
        .output()
        .expect("skopeo runs");
    if output.status.success() {
        Ok(into)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The stack with `source` as upstream and `destination` (login `dev:dev-pass`) as home, and
/// an auto-sync policy into `mirror/` with these filters: the stack, its API, the policy's id.
async fn auto_sync_stack(
    name: &str,
    source: &TestRegistry,
    destination: &TestRegistry,
    filters: Value,
) -> (LocalStack, ApiClient, i64) {
    let (stack, api) = start(name).await;
    let src = add_registry(&api, "upstream", &source.url()).await;
    let dst = api
        .post(
            "/registries",
            &json!({"name": "home", "type": "docker-registry", "url": destination.url(),
                    "credential": {"type": "basic", "access_key": "dev", "access_secret": "dev-pass"}}),
        )
        .await
        .created_id();
    let policy = create_policy(
        &api,
        name,
        src,
        dst,
        json!({"dest_namespace": "mirror", "dest_namespace_replace_count": 0,
               "filters": filters, "auto_sync": {"enabled": true}}),
    )
    .await;
    (stack, api, policy)
}

/// Where clients pull from Ferry: the API's host and port.
fn endpoint_of(stack: &LocalStack) -> String {
    stack
        .api
        .trim_end_matches("/api/v2.0")
        .trim_start_matches("http://")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_pulls_an_upstream_only_image_through_ferry_which_replicates_it_once() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start_with_auth("dev", "dev-pass");
    let layers = [layer(901, 2000), layer(902, 3000)];
    source.http().push_image("team/app", "v1", &layers).await;
    source
        .http()
        .push_image("team/app", "latest", &[layer(903, 100)])
        .await;
    let (stack, api, policy) = auto_sync_stack(
        "pull",
        &source,
        &destination,
        json!([{"type": "tag", "value": "v*"}]),
    )
    .await;
    let shown = api
        .get(&format!("/replication/policies/{policy}"))
        .await
        .json();
    assert_eq!(shown["auto_sync"]["enabled"], true, "{shown}");
    let endpoint = endpoint_of(&stack);

    // The destination's own login pulls; the image is replicated on the way.
    let pulled = skopeo_pull(&endpoint, "mirror/team/app:v1", "dev:dev-pass").expect("pulled");
    let manifest = std::fs::read(pulled.path().join("manifest.json")).expect("manifest");
    let upstream = source
        .http()
        .manifest("team/app", "v1")
        .await
        .expect("upstream manifest");
    assert_eq!(manifest, upstream, "the manifest byte-exact");
    let document: Value = serde_json::from_slice(&manifest).expect("json");
    let mut digests = vec![document["config"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string()];
    digests.extend(
        document["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["digest"].as_str().unwrap_or_default().to_string()),
    );
    assert_eq!(digests.len(), 3);
    for digest in &digests {
        let hex = digest.trim_start_matches("sha256:");
        let bytes = std::fs::read(pulled.path().join(hex)).expect("blob");
        assert_eq!(ferry_tests::images::digest_of(&bytes), *digest);
        assert_eq!(Some(bytes), source.http().blob("team/app", digest).await);
    }
    assert_eq!(
        destination
            .http()
            .manifest_digest("mirror/team/app", "v1")
            .await,
        source.http().manifest_digest("team/app", "v1").await,
        "at the destination afterwards"
    );
    let executions = || async {
        stack
            .adapters
            .store
            .list_executions(Some(policy), None, 10)
            .await
            .expect("executions")
            .items
    };
    let ran = executions().await;
    assert_eq!(ran.len(), 1, "one execution");
    assert_eq!(ran[0].trigger, TriggerType::EventBased);
    let ended = finished(&api, ran[0].id).await;
    assert_eq!(ended["status"], "Succeed", "{ended}");

    // Again, as Ferry's admin: served from the destination, nothing new runs.
    let again = skopeo_pull(
        &endpoint,
        "mirror/team/app:v1",
        &format!("admin:{ADMIN_PASSWORD}"),
    )
    .expect("pulled again");
    assert_eq!(
        std::fs::read(again.path().join("manifest.json")).expect("manifest"),
        upstream
    );
    assert_eq!(executions().await.len(), 1);

    // Outside the tag filter: unknown, and skopeo says so. Anonymous: challenged.
    let http = reqwest::Client::new();
    let base = format!("http://{endpoint}/v2/mirror/team/app/manifests/latest");
    let outside = http
        .get(&base)
        .basic_auth("dev", Some("dev-pass"))
        .send()
        .await
        .expect("answered");
    assert_eq!(outside.status().as_u16(), 404);
    let body: Value = outside.json().await.expect("error body");
    assert_eq!(body["errors"][0]["code"], "MANIFEST_UNKNOWN", "{body}");
    assert!(skopeo_pull(&endpoint, "mirror/team/app:latest", "dev:dev-pass").is_err());
    let anonymous = http.get(&base).send().await.expect("answered");
    assert_eq!(anonymous.status().as_u16(), 401);
    assert!(anonymous
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic")));
    let wrong = http
        .get(&base)
        .basic_auth("dev", Some("wrong"))
        .send()
        .await
        .expect("answered");
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(executions().await.len(), 1, "nothing started for refusals");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_at_the_destination_syncs_the_tag_through_its_webhook_and_ferrys_own_reads_do_not() {
    let source = TestRegistry::start();
    let mut destination = TestRegistry::start();
    source
        .http()
        .push_image("team/app", "v1", &[layer(911, 1000)])
        .await;
    let (stack, api) = start("pullhook").await;
    let src = add_registry(&api, "upstream", &source.url()).await;
    let dst = add_registry(&api, "home", &destination.url()).await;
    let hook = api
        .post(&format!("/registries/{dst}/webhook"), &json!({}))
        .await
        .json();
    let origin = stack.api.trim_end_matches("/api/v2.0").to_string();
    let hook_url = format!("{origin}{}", hook["url"].as_str().expect("url"));
    destination.notify(&hook_url, hook["authorization"].as_str().expect("token"));
    let policy = create_policy(
        &api,
        "refresh-on-pull",
        src,
        dst,
        json!({"dest_namespace": "mirror", "dest_namespace_replace_count": 0, "override": true,
               "auto_sync": {"enabled": true, "on_pull_event": true}}),
    )
    .await;
    // A first copy by hand: Ferry's own reads of the destination are notified too, and ignored.
    assert_eq!(run(&api, policy).await["status"], "Succeed");
    // The upstream moves v1; a client pulls it straight from the destination.
    let moved = source
        .http()
        .push_image("team/app", "v1", &[layer(912, 1000)])
        .await;
    assert!(destination
        .http()
        .manifest("mirror/team/app", "v1")
        .await
        .is_some());
    eventually(60, "the pull to sync the moved tag", || async {
        let held = destination
            .http()
            .manifest_digest("mirror/team/app", "v1")
            .await;
        (held.as_deref() == Some(moved.as_str())).then_some(())
    })
    .await;
    // Its sync's own reads start nothing more.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let executions = stack
        .adapters
        .store
        .list_executions(Some(policy), None, 10)
        .await
        .expect("executions")
        .items;
    assert_eq!(executions.len(), 2, "the manual run and one sync on pull");
    assert!(executions
        .iter()
        .any(|e| e.trigger == TriggerType::EventBased));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_on_s3_has_its_blob_redirects_passed_to_the_client() {
    let source = TestRegistry::start();
    let layers = [layer(921, 3000)];
    source.http().push_image("team/app", "v1", &layers).await;
    let (stack, api) = start("pulls3").await;
    let bucket = format!("ferry-pull-{}", std::process::id());
    ferry::adapters::aws::s3_client(&stack.adapters.sdk)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let destination = TestRegistry::start_on_s3(&ferry_tests::emulator::endpoint(), &bucket);
    let src = add_registry(&api, "upstream", &source.url()).await;
    let dst = add_registry(&api, "home", &destination.url()).await;
    create_policy(
        &api,
        "on-pull-s3",
        src,
        dst,
        json!({"dest_namespace": "mirror", "dest_namespace_replace_count": 0,
               "auto_sync": {"enabled": true, "public": true}}),
    )
    .await;
    let endpoint = endpoint_of(&stack);
    let pulled = skopeo_pull(
        &endpoint,
        "mirror/team/app:v1",
        &format!("admin:{ADMIN_PASSWORD}"),
    )
    .expect("pulled through the redirects");
    let manifest = std::fs::read(pulled.path().join("manifest.json")).expect("manifest");
    let document: Value = serde_json::from_slice(&manifest).expect("json");
    let digest = document["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .to_string();
    let hex = digest.trim_start_matches("sha256:");
    assert_eq!(
        std::fs::read(pulled.path().join(hex)).expect("layer bytes"),
        layers[0]
    );
    // The blob itself: a redirect to the bucket, not bytes through Ferry (anonymous: public).
    let unfollowed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let answer = unfollowed
        .get(format!(
            "http://{endpoint}/v2/mirror/team/app/blobs/{digest}"
        ))
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status().as_u16(), 307);
    let location = answer
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(location.contains(&bucket), "{location}");
    assert!(answer.bytes().await.expect("body").is_empty());
    stack.stop().await;
}

/// A pinned digest (`image@sha256:...`, as Kubernetes pulls) the destination lacks, under a
/// policy whose filters judge no tag: replicated by digest alone, byte-exact, no tag written.
#[tokio::test(flavor = "multi_thread")]
async fn skopeo_pulls_a_pinned_digest_only_the_upstream_has() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start_with_auth("dev", "dev-pass");
    let digest = source
        .http()
        .push_image("team/pinned", "v1", &[layer(905, 2500)])
        .await;
    let (stack, api, policy) = auto_sync_stack(
        "pull-digest",
        &source,
        &destination,
        json!([{"type": "name", "value": "team/**"}, {"type": "tag", "value": ""}]),
    )
    .await;
    let endpoint = endpoint_of(&stack);
    let pulled = skopeo_pull(
        &endpoint,
        &format!("mirror/team/pinned@{digest}"),
        "dev:dev-pass",
    )
    .expect("pulled by digest");
    let manifest = std::fs::read(pulled.path().join("manifest.json")).expect("manifest");
    let upstream = source
        .http()
        .manifest("team/pinned", "v1")
        .await
        .expect("upstream manifest");
    assert_eq!(manifest, upstream, "byte-exact");
    let held = destination
        .http()
        .manifest_digest("mirror/team/pinned", &digest)
        .await;
    assert_eq!(
        held.as_deref(),
        Some(digest.as_str()),
        "at the destination by digest"
    );
    assert!(
        destination
            .http()
            .manifest_digest("mirror/team/pinned", "v1")
            .await
            .is_none(),
        "no tag written"
    );
    let executions = api
        .get(&format!("/replication/executions?policy_id={policy}"))
        .await
        .json();
    assert_eq!(executions.as_array().map(Vec::len), Some(1), "{executions}");
}
