use super::*;

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
