//! Every registry kind Ferry supports, as a destination and as a source, through the whole
//! local system: the corpus (images sharing a layer, a signature, an index, a chart) arrives
//! byte-exact through each kind's own API and auth, in front of real distribution registries
//! (the providers' APIs are the fakes of `ferry_tests::fakes`; ECR's is moto's, through the SDK).

use super::*;
use ferry_tests::corpus::Corpus;
use ferry_tests::fakes;
use ferry_tests::images::RegistryHttp;

async fn add(api: &ApiClient, body: Value) -> i64 {
    let answer = api.post("/registries", &body).await;
    assert_eq!(answer.status, 201, "{body}: {}", answer.text);
    answer.created_id()
}

fn plain(registry: &TestRegistry) -> RegistryHttp {
    registry.http()
}

async fn succeeded(api: &ApiClient, policy: i64) -> Value {
    let execution = run(api, policy).await;
    assert_eq!(execution["status"], "Succeed", "{execution}");
    execution
}

/// The status text of a failed run, and the text of its failed tasks' logs.
async fn failure(api: &ApiClient, policy: i64) -> String {
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

#[tokio::test(flavor = "multi_thread")]
async fn docker_hub_lists_through_its_api_keeps_library_and_its_limits() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", 1200).await;
    let official = plain(&behind)
        .push_image("library/nginx", "1.27", &[layer(1250, 5_000)])
        .await;
    let hub = fakes::docker_hub::FakeHub::start(&behind.url(), "mirror", "hub-token").await;
    hub.add_org("corp");
    let (stack, api) = start("kind-hub").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let hub_id = add(
        &api,
        json!({"name": "hub", "type": "docker-hub", "url": hub.url(),
               "credential": {"type": "basic", "access_key": "mirror", "access_secret": "hub-token"}}),
    )
    .await;
    let to_hub = create_policy(&api, "to-hub", src, hub_id, json!({})).await;
    succeeded(&api, to_hub).await;
    corpus
        .arrived(&plain(&origin), &plain(&behind), str::to_string)
        .await
        .expect("arrived in Hub");

    // As a source: the namespace from the name filter, tags and digests from Hub's API, no
    // manifest GET counted against the pull limit while listing; a 429 waited out.
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_hub = create_policy(
        &api,
        "from-hub",
        hub_id,
        dst,
        json!({"filters": [{"type": "name", "value": "corp/**"}]}),
    )
    .await;
    hub.throttle_next(2);
    hub.set_max_page_size(2);
    succeeded(&api, from_hub).await;
    corpus
        .arrived(&plain(&behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from Hub");
    assert!(
        hub.calls()
            .all()
            .iter()
            .any(|c| c.starts_with("GET /v2/repositories/corp/") && c.contains("page=2")),
        "paged: {:?}",
        hub.calls().all()
    );
    // Nothing changed: the re-sync lists through Hub's API and HEADs the destination; the one
    // pull is the signed image's manifest, read to follow its signatures (which, unchanged,
    // are only HEADed).
    let pulls = hub.pulls();
    let again = succeeded(&api, from_hub).await;
    assert_eq!(
        hub.pulls(),
        pulls + 1,
        "{again}: {:?}",
        hub.calls()
            .all()
            .iter()
            .filter(|c| c.contains("/manifests/"))
            .collect::<Vec<_>>()
    );

    // `nginx` is `library/nginx`.
    let official_policy = create_policy(
        &api,
        "nginx",
        hub_id,
        dst,
        json!({"filters": [{"type": "name", "value": "nginx"}]}),
    )
    .await;
    succeeded(&api, official_policy).await;
    assert_eq!(
        plain(&copy)
            .manifest_digest("library/nginx", "1.27")
            .await
            .as_deref(),
        Some(official.as_str())
    );

    // A wrong password: refused when the registry is saved, saying what Hub answered.
    let wrong = api
        .post(
            "/registries",
            &json!({"name": "hub-wrong", "type": "docker-hub", "url": hub.url(),
                    "credential": {"type": "basic", "access_key": "mirror", "access_secret": "nope"}}),
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert!(wrong.text.contains("401"), "{}", wrong.text);

    // A namespace that does not exist at Hub: said before anything is copied.
    let ghost = create_policy(
        &api,
        "to-ghost",
        src,
        hub_id,
        json!({"dest_namespace": "ghost", "dest_namespace_replace_count": 1}),
    )
    .await;
    let text = failure(&api, ghost).await;
    assert!(
        text.contains("ghost") && text.contains("organisation"),
        "{text}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ghcr_lists_through_githubs_packages_api() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", 1300).await;
    let ghcr = fakes::ghcr::FakeGhcr::start(&behind.url(), "octo", "ghp_token").await;
    ghcr.add_org("corp");
    let (stack, api) = start("kind-ghcr").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let ghcr_id = add(
        &api,
        json!({"name": "ghcr", "type": "github-ghcr", "url": ghcr.url(),
               "credential": {"type": "basic", "access_key": "octo", "access_secret": "ghp_token"}}),
    )
    .await;
    let to_ghcr = create_policy(&api, "to-ghcr", src, ghcr_id, json!({})).await;
    succeeded(&api, to_ghcr).await;
    corpus
        .arrived(&plain(&origin), &plain(&behind), str::to_string)
        .await
        .expect("arrived in GHCR");

    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_ghcr = create_policy(
        &api,
        "from-ghcr",
        ghcr_id,
        dst,
        json!({"filters": [{"type": "name", "value": "corp/**"}]}),
    )
    .await;
    ghcr.throttle_next(1);
    ghcr.set_max_page_size(2);
    succeeded(&api, from_ghcr).await;
    corpus
        .arrived(&plain(&behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from GHCR");
    assert!(
        ghcr.calls()
            .count("GET /orgs/corp/packages/container/app/versions")
            > 0
    );

    let ghost = create_policy(
        &api,
        "to-ghost",
        src,
        ghcr_id,
        json!({"dest_namespace": "nobody", "dest_namespace_replace_count": 1}),
    )
    .await;
    let text = failure(&api, ghost).await;
    assert!(text.contains("nobody"), "{text}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn google_artifact_registry_with_a_service_account_key() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", 1400).await;
    let google = fakes::google::FakeGoogle::start(&behind.url(), "proj", "us-east1").await;
    // Short-lived tokens: the copy outlives several, and each is minted again before it ends.
    google.set_token_lifetime(4);
    let (stack, api) = start("kind-google").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let key = google.key_json();
    let gar_oauth = add(
        &api,
        json!({"name": "gar", "type": "google-gcr", "url": google.url(),
               "options": {"region": "us-east1"},
               "credential": {"type": "oauth", "access_key": "_json_key", "access_secret": key}}),
    )
    .await;
    // Into `proj/mirror/...`: the Artifact Registry repository `mirror` is created first.
    let to_gar = create_policy(
        &api,
        "to-gar",
        src,
        gar_oauth,
        json!({"dest_namespace": "proj/mirror", "dest_namespace_replace_count": 1}),
    )
    .await;
    succeeded(&api, to_gar).await;
    assert!(google.repositories().contains(&"mirror".to_string()));
    let renamed = |r: &str| format!("proj/mirror/{}", r.trim_start_matches("corp/"));
    corpus
        .arrived(&plain(&origin), &plain(&behind), renamed)
        .await
        .expect("arrived in GAR");
    // The token outlived: the next run mints another before it uses one.
    let minted = google.tokens_minted();
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    plain(&origin)
        .push_image("corp/app", "v3", &[layer(1460, 2_000)])
        .await;
    succeeded(&api, to_gar).await;
    assert!(google.tokens_minted() > minted, "a new token was minted");
    assert!(plain(&behind)
        .manifest("proj/mirror/app", "v3")
        .await
        .is_some());

    // As a source with the key itself (`_json_key`), through `_catalog`.
    let gar_key = add(
        &api,
        json!({"name": "gar-key", "type": "google-gcr", "url": google.url(),
               "options": {"region": "us-east1"},
               "credential": {"type": "basic", "access_key": "_json_key", "access_secret": google.key_json()}}),
    )
    .await;
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_gar = create_policy(&api, "from-gar", gar_key, dst, json!({})).await;
    succeeded(&api, from_gar).await;
    corpus
        .renamed(renamed)
        .arrived(&plain(&behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from GAR");

    // A path GAR cannot hold (no image name under project and repository): said at once.
    let flat = create_policy(&api, "to-flat", src, gar_oauth, json!({})).await;
    let text = failure(&api, flat).await;
    assert!(text.contains("<project>/<repository>/<image>"), "{text}");

    // A repository the key may not create: said, naming it, before anything is copied.
    google.deny_create();
    let denied = create_policy(
        &api,
        "to-denied",
        src,
        gar_oauth,
        json!({"dest_namespace": "proj/other", "dest_namespace_replace_count": 1}),
    )
    .await;
    let text = failure(&api, denied).await;
    assert!(
        text.contains("\"other\"") && text.contains("create it"),
        "{text}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_acr_with_an_admin_user_and_an_azure_ad_token() {
    let origin = TestRegistry::start();
    let behind = TestRegistry::start();
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "corp", 1500).await;
    let acr = fakes::acr::FakeAcr::start(&behind.url(), ("admin", "acr-pw"), "aad-token").await;
    let (stack, api) = start("kind-acr").await;
    let src = add_registry(&api, "origin", &origin.url()).await;
    let admin = add(
        &api,
        json!({"name": "acr", "type": "azure-acr", "url": acr.url(),
               "credential": {"type": "basic", "access_key": "admin", "access_secret": "acr-pw"}}),
    )
    .await;
    let to_acr = create_policy(&api, "to-acr", src, admin, json!({})).await;
    succeeded(&api, to_acr).await;
    corpus
        .arrived(&plain(&origin), &plain(&behind), str::to_string)
        .await
        .expect("arrived in ACR");

    // As a source with an Azure AD token exchanged for a refresh token; tokens expiring
    // midway are asked for again.
    let aad = add(
        &api,
        json!({"name": "acr-aad", "type": "azure-acr", "url": acr.url(),
               "credential": {"type": "oauth", "access_key": "tenant-1", "access_secret": "aad-token"}}),
    )
    .await;
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_acr = create_policy(&api, "from-acr", aad, dst, json!({})).await;
    succeeded(&api, from_acr).await;
    corpus
        .arrived(&plain(&behind), &plain(&copy), str::to_string)
        .await
        .expect("arrived from ACR");
    assert!(acr.refresh_tokens_issued() >= 1);
    // Every token the warm processes hold stops working: the next run asks for new ones.
    acr.expire_tokens();
    plain(&behind)
        .push_image("corp/app", "v3", &[layer(1560, 2_000)])
        .await;
    let again = succeeded(&api, from_acr).await;
    assert_eq!(again["total"].as_i64(), Some(7), "{again}");
    assert!(
        plain(&copy).manifest("corp/app", "v3").await.is_some(),
        "v3 arrived with new tokens"
    );

    // A wrong Azure AD token: refused at creation, naming the registry's answer.
    let wrong = api
        .post(
            "/registries",
            &json!({"name": "acr-wrong", "type": "azure-acr", "url": acr.url(),
                    "credential": {"type": "oauth", "access_key": "tenant-1", "access_secret": "stale"}}),
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert!(wrong.text.contains("oauth2/exchange"), "{}", wrong.text);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_ecr_through_the_sdk_against_moto() {
    use ferry::model::{Registry, RegistryType};
    use ferry::oci::{Reference, Repository, Tag};
    use ferry::ports::connect::Connect;
    // moto's GetAuthorizationToken hands out `AWS:<account>-auth-token`: the registry behind
    // ECR's API demands exactly that.
    let password = format!("{}-auth-token", ferry_tests::ACCOUNT);
    let origin = TestRegistry::start();
    let behind = TestRegistry::start_with_auth("AWS", &password);
    let copy = TestRegistry::start();
    let corpus = Corpus::push(&plain(&origin), "ecrcorp", 1600).await;
    let (stack, api) = start("kind-ecr").await;
    let ecr = aws_sdk_ecr::Client::new(&stack.adapters.sdk);
    let src = add_registry(&api, "origin", &origin.url()).await;
    // No credential: the functions' own (the emulator's) through the SDK.
    let ecr_id = add(
        &api,
        json!({"name": "ecr", "type": "aws-ecr", "url": behind.url(),
               "options": {"region": ferry_tests::REGION, "scan_on_push": true, "tag_mutability": "MUTABLE"}}),
    )
    .await;
    // Another account's registry, through a role assumed with a key of its own: checked at
    // creation with the token the assumed role gets.
    add(
        &api,
        json!({"name": "ecr-cross", "type": "aws-ecr", "url": behind.url(),
               "options": {"region": ferry_tests::REGION,
                           "role_arn": format!("arn:aws:iam::{}:role/ferry-mirror", ferry_tests::ACCOUNT)},
               "credential": {"type": "basic", "access_key": "AKIAEXAMPLE", "access_secret": "secret"}}),
    )
    .await;
    let to_ecr = create_policy(&api, "to-ecr", src, ecr_id, json!({})).await;
    succeeded(&api, to_ecr).await;
    let described = ecr
        .describe_repositories()
        .repository_names("ecrcorp/app")
        .send()
        .await
        .expect("created by Ferry");
    let repository = &described.repositories()[0];
    assert_eq!(
        repository
            .image_scanning_configuration()
            .map(|c| c.scan_on_push()),
        Some(true)
    );
    corpus
        .arrived(&plain(&origin), &behind.http(), str::to_string)
        .await
        .expect("arrived in ECR");

    // As a source: what ECR's API describes (the manifests put there as the registry holds them).
    for (name, tag, _) in &corpus.items {
        let bytes = behind.http().manifest(name, tag).await.expect("manifest");
        let manifest: Value = serde_json::from_slice(&bytes).expect("json");
        ecr.put_image()
            .repository_name(name)
            .image_tag(tag)
            .image_manifest(String::from_utf8(bytes).expect("utf-8"))
            .image_manifest_media_type(
                manifest["mediaType"]
                    .as_str()
                    .unwrap_or("application/vnd.oci.image.manifest.v1+json"),
            )
            .send()
            .await
            .expect("put_image");
    }
    let dst = add_registry(&api, "copy", &copy.url()).await;
    let from_ecr = create_policy(
        &api,
        "from-ecr",
        ecr_id,
        dst,
        json!({"filters": [{"type": "name", "value": "ecrcorp/**"}]}),
    )
    .await;
    succeeded(&api, from_ecr).await;
    corpus
        .arrived(&behind.http(), &plain(&copy), str::to_string)
        .await
        .expect("arrived from ECR");

    // ECR's own push event, as the template's EventBridge rule delivers it to the trigger,
    // starts the event-based policy for exactly that tag.
    let pushed = behind
        .http()
        .push_image("ecrcorp/app", "v9", &[layer(1690, 2_000)])
        .await;
    let v9 = behind
        .http()
        .manifest("ecrcorp/app", "v9")
        .await
        .expect("v9");
    ecr.put_image()
        .repository_name("ecrcorp/app")
        .image_tag("v9")
        .image_manifest(String::from_utf8(v9).expect("utf-8"))
        .image_manifest_media_type("application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("put_image v9");
    create_policy(
        &api,
        "ecr-events",
        ecr_id,
        dst,
        json!({"trigger": {"type": "event_based"},
               "filters": [{"type": "name", "value": "ecrcorp/**"}]}),
    )
    .await;
    let trigger = stack
        .plane
        .stack
        .function("ferry-trigger")
        .expect("trigger function");
    let event = json!({
        "version": "0", "id": "ecr-event-1", "detail-type": "ECR Image Action",
        "source": "aws.ecr", "account": ferry_tests::ACCOUNT, "region": ferry_tests::REGION,
        "time": "2026-11-29T00:00:00Z", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "ecrcorp/app",
                   "image-digest": pushed, "action-type": "PUSH", "image-tag": "v9"}
    });
    let answer = stack
        .plane
        .invoker
        .invoke(trigger, event.to_string().into())
        .await
        .expect("trigger answers");
    let answer: Value = serde_json::from_slice(&answer).expect("json");
    let started = answer["executions"][0]
        .as_i64()
        .unwrap_or_else(|| panic!("{answer}"));
    let execution = finished(&api, started).await;
    assert_eq!(execution["status"], "Succeed", "{execution}");
    assert_eq!(execution["total"].as_i64(), Some(1), "{execution}");
    assert_eq!(
        plain(&copy)
            .manifest_digest("ecrcorp/app", "v9")
            .await
            .as_deref(),
        Some(pushed.as_str())
    );

    // Deletes go through BatchDeleteImage.
    let registries = ferry::adapters::registry::Registries::new(
        1,
        ferry::model::addresses::AddressPolicy::allowing_private(true),
        Some(stack.adapters.sdk.clone()),
    );
    let record = Registry {
        name: "ecr".into(),
        kind: Some(RegistryType::AwsEcr),
        url: behind.url(),
        options: ferry::model::RegistryOptions {
            region: Some(ferry_tests::REGION.into()),
            ..Default::default()
        },
        ..Registry::default()
    };
    let client = registries.client(&record).expect("client");
    let app = Repository::parse("ecrcorp/app").expect("name");
    let v2 = Reference::Tag(Tag::parse("v2").expect("tag"));
    assert!(client.delete_manifest(&app, &v2).await.expect("deleted"));
    let left = ecr
        .describe_images()
        .repository_name("ecrcorp/app")
        .send()
        .await
        .expect("described");
    assert!(
        left.image_details()
            .iter()
            .all(|i| !i.image_tags().contains(&"v2".to_string())),
        "v2 is gone from ECR"
    );
    assert!(
        !client.delete_manifest(&app, &v2).await.expect("answered"),
        "and gone once"
    );
    stack.stop().await;
}
