//! The copy engine against real registries, through a fault-injecting proxy: resets mid-blob,
//! 5xx, 429 with Retry-After slow a copy down; it still ends byte-exact.

use ferry::adapters::registry::distribution::HttpRegistryClient;
use ferry::copy::{copy_artifact, CopyError, CopyJob, CopyOutcome, SkipReason};
use ferry::model::{CopyOptions, Credential, CredentialType, Registry, RegistryType};
use ferry::oci::{Digest, Reference, Repository};
use ferry::ports::registry::{BlobLocations, Referrers, RegistryClient, RegistryError};
use ferry_tests::faults::{Action, Fault, FaultProxy};
use ferry_tests::images::{digest_of, layer};
use ferry_tests::registry::TestRegistry;

fn client(url: &str, credentials: Option<(&str, &str)>) -> HttpRegistryClient {
    HttpRegistryClient::new(&Registry {
        name: "r".into(),
        kind: Some(RegistryType::DockerRegistry),
        url: url.into(),
        credential: credentials.map(|(user, password)| Credential {
            kind: CredentialType::Basic,
            access_key: user.into(),
            access_secret: Some(password.into()),
        }),
        ..Registry::default()
    })
    .expect("client")
}

async fn copy(
    src: &dyn RegistryClient,
    dst: &dyn RegistryClient,
    repository: &str,
    reference: &str,
    options: CopyOptions,
) -> (Result<CopyOutcome, CopyError>, Vec<String>) {
    copy_to(
        src, dst, repository, repository, reference, options, None, false,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn copy_to(
    src: &dyn RegistryClient,
    dst: &dyn RegistryClient,
    src_repository: &str,
    dst_repository: &str,
    reference: &str,
    options: CopyOptions,
    locations: Option<&dyn BlobLocations>,
    same_registry: bool,
) -> (Result<CopyOutcome, CopyError>, Vec<String>) {
    let mut log = Vec::new();
    let (src_repository, dst_repository) = (repository(src_repository), repository(dst_repository));
    let reference = Reference::parse(reference).expect("reference");
    let job = CopyJob {
        src,
        src_repository: &src_repository,
        src_reference: &reference,
        dst,
        dst_repository: &dst_repository,
        dst_reference: &reference,
        options,
        stop: None,
        locations,
        dst_registry_id: 2,
        same_registry,
        deadline: None,
        resume: None,
        platforms: &[],
        slots: None,
    };
    (copy_artifact(&job, &mut log).await, log)
}

fn repository(name: &str) -> Repository {
    Repository::parse(name).expect("repository")
}

fn digest(value: &str) -> Digest {
    Digest::parse(value).expect("digest")
}

fn figures(outcome: Result<CopyOutcome, CopyError>) -> ferry::model::TransferFigures {
    match outcome {
        Ok(CopyOutcome::Copied { figures, .. }) => figures,
        other => panic!("expected a copy, got {other:?}"),
    }
}

fn fault(method: &'static str, path: &str, action: Action, times: usize) -> Fault {
    Fault {
        method,
        path: path.to_string(),
        action,
        times,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn resets_5xx_and_429_slow_a_copy_down_but_it_ends_byte_exact() {
    ferry_tests::init_tracing();
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let big = layer(30, 40 * 1024 * 1024 + 12345);
    let small = layer(31, 1024 * 1024);
    let (big_digest, small_digest) = (digest_of(&big), digest_of(&small));
    let manifest = source
        .http()
        .push_image("app", "v1", &[big.clone(), small.clone()])
        .await;

    let source_proxy = FaultProxy::start(
        &source.url(),
        vec![
            fault("GET", "/manifests/", Action::Status(503, None), 1),
            fault("GET", &big_digest, Action::CutBodyAfter(3 * 1024 * 1024), 1),
            fault("GET", &big_digest, Action::Status(429, Some(1)), 1),
            fault(
                "GET",
                &big_digest,
                Action::CutBodyAfter(20 * 1024 * 1024),
                1,
            ),
            fault("GET", &small_digest, Action::CutBodyAfter(300_000), 1),
        ],
    )
    .await;
    let destination_proxy = FaultProxy::start(
        &destination.url(),
        vec![
            fault("HEAD", "/blobs/", Action::Status(502, None), 1),
            fault("PATCH", "/blobs/uploads/", Action::Status(500, None), 1),
            fault("PUT", "/blobs/uploads/", Action::Status(503, Some(1)), 1),
        ],
    )
    .await;
    let src = client(&source_proxy.url(), None);
    let dst = client(&destination_proxy.url(), None);
    let (outcome, log) = copy(&src, &dst, "app", "v1", CopyOptions::default()).await;
    match outcome.expect("the copy survives the faults") {
        CopyOutcome::Copied { digest, figures } => {
            assert_eq!(digest, manifest);
            assert_eq!(figures.blobs_copied, 3);
        }
        other => panic!("expected a copy, got {other:?}"),
    }
    assert!(
        log.iter()
            .any(|l| l.contains(&big_digest) && l.contains("resumed")),
        "{log:#?}"
    );
    let hits = [source_proxy.hits(), destination_proxy.hits()].concat();
    assert_eq!(hits.len(), 8, "every fault was injected: {hits:#?}");

    let direct = destination.http();
    assert_eq!(direct.manifest_digest("app", "v1").await, Some(manifest));
    assert_eq!(
        direct.blob("app", &big_digest).await.map(|b| digest_of(&b)),
        Some(big_digest)
    );
    assert_eq!(
        direct
            .blob("app", &small_digest)
            .await
            .map(|b| digest_of(&b)),
        Some(small_digest)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_by_chunk_override_and_skips() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let first = source
        .http()
        .push_image("lib/app", "v1", &[layer(40, 100_000)])
        .await;
    let src = client(&source.url(), None);
    let dst = client(&destination.url(), None);

    let chunked = CopyOptions {
        copy_by_chunk: true,
        ..CopyOptions::default()
    };
    let (outcome, log) = copy(&src, &dst, "lib/app", "v1", chunked).await;
    assert!(matches!(outcome.expect("copy"), CopyOutcome::Copied { .. }));
    assert!(log.iter().any(|l| l.contains("chunked")), "{log:#?}");

    // The same digest again: skipped, nothing written.
    let (outcome, _) = copy(&src, &dst, "lib/app", "v1", CopyOptions::default()).await;
    assert!(matches!(
        outcome.expect("copy"),
        CopyOutcome::Skipped {
            reason: SkipReason::SameDigest,
            ..
        }
    ));

    // Another digest under the tag at the source: left alone without override, replaced with it.
    let second = source
        .http()
        .push_image("lib/app", "v1", &[layer(41, 100_000)])
        .await;
    assert_ne!(first, second);
    let (outcome, _) = copy(&src, &dst, "lib/app", "v1", CopyOptions::default()).await;
    assert!(matches!(
        outcome.expect("copy"),
        CopyOutcome::Skipped {
            reason: SkipReason::HeldOtherwise { .. },
            ..
        }
    ));
    assert_eq!(
        destination.http().manifest_digest("lib/app", "v1").await,
        Some(first)
    );
    let (outcome, _) = copy(
        &src,
        &dst,
        "lib/app",
        "v1",
        CopyOptions {
            override_: true,
            ..CopyOptions::default()
        },
    )
    .await;
    assert!(matches!(outcome.expect("copy"), CopyOutcome::Copied { .. }));
    assert_eq!(
        destination.http().manifest_digest("lib/app", "v1").await,
        Some(second)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_arch_index_copies_with_its_children_byte_exact() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let http = source.http();
    let index_digest = http
        .push_index("multi", "latest", &["amd64", "arm64", "s390x"], 50)
        .await;
    let (outcome, _) = copy(
        &client(&source.url(), None),
        &client(&destination.url(), None),
        "multi",
        "latest",
        CopyOptions::default(),
    )
    .await;
    assert!(
        matches!(outcome.expect("copy"), CopyOutcome::Copied { ref digest, .. } if *digest == index_digest)
    );
    assert_eq!(
        destination.http().manifest_digest("multi", "latest").await,
        Some(index_digest)
    );
    for arch in ["amd64", "arm64", "s390x"] {
        let child = http
            .manifest_digest("multi", &format!("child-{arch}"))
            .await
            .expect("child");
        assert_eq!(
            destination.http().manifest_digest("multi", &child).await,
            Some(child.clone()),
            "the {arch} child, by digest"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_is_used_and_a_refusal_does_not_heal() {
    let source = TestRegistry::start_with_auth("reader", "pa55");
    let destination = TestRegistry::start();
    let digest = source
        .http()
        .push_image("private", "v1", &[layer(60, 5000)])
        .await;
    let (outcome, _) = copy(
        &client(&source.url(), Some(("reader", "pa55"))),
        &client(&destination.url(), None),
        "private",
        "v1",
        CopyOptions::default(),
    )
    .await;
    assert!(matches!(outcome.expect("copy"), CopyOutcome::Copied { .. }));
    assert_eq!(
        destination.http().manifest_digest("private", "v1").await,
        Some(digest)
    );

    let (outcome, _) = copy(
        &client(&source.url(), Some(("reader", "wrong"))),
        &client(&destination.url(), None),
        "private",
        "v1",
        CopyOptions::default(),
    )
    .await;
    match outcome {
        Err(CopyError::Registry(RegistryError::Refused { status: 401, .. })) => {}
        other => panic!("expected a 401 refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bearer_token_flow_asks_for_the_scopes_each_request_needs() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let digest = source
        .http()
        .push_image(
            "team/app",
            "v1",
            &[layer(80, 50_000), layer(81, 40 * 1024 * 1024)],
        )
        .await;
    let source_gate = FaultProxy::start_bearer(&source.url(), "puller", "pull-secret").await;
    let destination_gate =
        FaultProxy::start_bearer(&destination.url(), "pusher", "push-secret").await;
    let (outcome, _) = copy(
        &client(&source_gate.url(), Some(("puller", "pull-secret"))),
        &client(&destination_gate.url(), Some(("pusher", "push-secret"))),
        "team/app",
        "v1",
        CopyOptions::default(),
    )
    .await;
    assert!(matches!(
        outcome.expect("copy through the token flow"),
        CopyOutcome::Copied { .. }
    ));
    assert_eq!(
        destination.http().manifest_digest("team/app", "v1").await,
        Some(digest)
    );
    assert!(
        source_gate
            .scopes()
            .iter()
            .all(|s| s == "repository:team/app:pull"),
        "{:?}",
        source_gate.scopes()
    );
    assert!(
        destination_gate
            .scopes()
            .contains(&"repository:team/app:pull,push".to_string()),
        "{:?}",
        destination_gate.scopes()
    );
    // Tokens are cached: a handful of token requests (blobs racing in parallel for the first
    // token may each ask), not one per request.
    assert!(
        source_gate.scopes().len() <= 4 && destination_gate.scopes().len() <= 5,
        "{:?} {:?}",
        source_gate.scopes(),
        destination_gate.scopes()
    );

    let (outcome, _) = copy(
        &client(&source_gate.url(), Some(("puller", "wrong"))),
        &client(&destination_gate.url(), Some(("pusher", "push-secret"))),
        "team/app",
        "v1",
        CopyOptions::default(),
    )
    .await;
    assert!(
        matches!(
            outcome,
            Err(CopyError::Registry(RegistryError::Refused {
                status: 401,
                ..
            }))
        ),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn blobs_mount_within_a_registry_and_from_recorded_locations() {
    let registry = TestRegistry::start();
    let destination = TestRegistry::start();
    let base = layer(90, 200_000);
    let http = registry.http();
    let a = http
        .push_image("lib/a", "v1", &[base.clone(), layer(91, 1000)])
        .await;
    let b = http
        .push_image("lib/b", "v1", &[base.clone(), layer(92, 1000)])
        .await;
    let (_stack, adapters) = ferry_tests::resources_only("mounts").await;
    let locations: &dyn BlobLocations = adapters.store.as_ref();

    // One registry: every blob mounts from the source repository, nothing is transferred.
    let here = client(&registry.url(), None);
    let moved = figures(
        copy_to(
            &here,
            &here,
            "lib/a",
            "copy/a",
            "v1",
            CopyOptions::default(),
            None,
            true,
        )
        .await
        .0,
    );
    assert_eq!(
        (moved.blobs_mounted, moved.blobs_copied, moved.bytes_copied),
        (3, 0, 0)
    );
    assert_eq!(http.manifest_digest("copy/a", "v1").await, Some(a.clone()));

    // Another registry: the first image's blobs are copied and recorded; the second image's
    // shared base layer then mounts from where the first one put it.
    let (src, dst) = (
        client(&registry.url(), None),
        client(&destination.url(), None),
    );
    let first = figures(
        copy_to(
            &src,
            &dst,
            "lib/a",
            "mirror/a",
            "v1",
            CopyOptions::default(),
            Some(locations),
            false,
        )
        .await
        .0,
    );
    assert_eq!((first.blobs_copied, first.blobs_mounted), (3, 0));
    let (outcome, log) = copy_to(
        &src,
        &dst,
        "lib/b",
        "mirror/b",
        "v1",
        CopyOptions::default(),
        Some(locations),
        false,
    )
    .await;
    let second = figures(outcome);
    assert_eq!(
        second.blobs_mounted, 2,
        "the base layer and the shared config mount: {log:#?}"
    );
    assert!(
        log.iter().any(|l| l.contains("mounted from mirror/a")),
        "{log:#?}"
    );
    assert_eq!(
        destination.http().manifest_digest("mirror/b", "v1").await,
        Some(b)
    );

    // A stale record: the registry answers 202 (not mounted) and the blob is copied instead.
    let c = http.push_image("lib/c", "v1", &[layer(93, 3000)]).await;
    let c_layer = digest_of(&layer(93, 3000));
    locations
        .record_blob(2, &digest(&c_layer), &repository("nowhere/at-all"))
        .await;
    let third = figures(
        copy_to(
            &src,
            &dst,
            "lib/c",
            "mirror/c",
            "v1",
            CopyOptions::default(),
            Some(locations),
            false,
        )
        .await
        .0,
    );
    assert_eq!(
        (third.blobs_mounted, third.blobs_copied),
        (1, 1),
        "the shared config mounts, the layer is copied"
    );
    assert_eq!(
        destination.http().manifest_digest("mirror/c", "v1").await,
        Some(c)
    );
}

/// Pushes a small OCI artifact (one layer) under `tag`, optionally with a `subject`.
async fn push_artifact(
    http: &ferry_tests::images::RegistryHttp,
    repository: &str,
    tag: &str,
    artifact_type: &str,
    content: &[u8],
    subject: Option<(&str, usize)>,
) -> (String, usize) {
    let empty = b"{}";
    let config = http.push_blob(repository, empty).await;
    let layer_digest = http.push_blob(repository, content).await;
    let mut manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": artifact_type, "digest": layer_digest, "size": content.len()}],
    });
    if let Some((digest, size)) = subject {
        manifest["subject"] = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size});
    }
    let bytes = serde_json::to_vec(&manifest).expect("json");
    // No tag: pushed by digest, reachable only through its subject.
    let reference = if tag.is_empty() {
        digest_of(&bytes)
    } else {
        tag.to_string()
    };
    let digest = http
        .push_manifest(
            repository,
            &reference,
            "application/vnd.oci.image.manifest.v1+json",
            &bytes,
        )
        .await;
    (digest, bytes.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_attestations_and_sboms_follow_their_image() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let http = source.http();
    let image = http
        .push_image("signed/app", "v1", &[layer(100, 10_000)])
        .await;
    let image_size = http.manifest_size("signed/app", &image).await;
    let base = format!("sha256-{}", image.trim_start_matches("sha256:"));
    // cosign's tags, and an OCI 1.1 referrer listed in the referrers tag schema's index.
    let (sig, _) = push_artifact(
        &http,
        "signed/app",
        &format!("{base}.sig"),
        "application/vnd.dev.cosign.simplesigning.v1+json",
        b"signature",
        None,
    )
    .await;
    let (sbom, _) = push_artifact(
        &http,
        "signed/app",
        &format!("{base}.sbom"),
        "application/spdx+json",
        b"{\"spdx\":1}",
        None,
    )
    .await;
    let (referrer, referrer_size) = push_artifact(
        &http,
        "signed/app",
        "referrer-only",
        "application/vnd.in-toto+json",
        b"attestation",
        Some((&image, image_size)),
    )
    .await;
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": referrer, "size": referrer_size,
                       "artifactType": "application/vnd.in-toto+json"}],
    }))
    .expect("json");
    let fallback = http
        .push_manifest(
            "signed/app",
            &base,
            "application/vnd.oci.image.index.v1+json",
            &index,
        )
        .await;

    let (src, dst) = (
        client(&source.url(), None),
        client(&destination.url(), None),
    );
    let (outcome, log) = copy(&src, &dst, "signed/app", "v1", CopyOptions::default()).await;
    assert!(matches!(outcome.expect("copy"), CopyOutcome::Copied { .. }));
    let at_destination = destination.http();
    assert_eq!(
        at_destination.manifest_digest("signed/app", "v1").await,
        Some(image.clone())
    );
    assert_eq!(
        at_destination
            .manifest_digest("signed/app", &format!("{base}.sig"))
            .await,
        Some(sig),
        "{log:#?}"
    );
    assert_eq!(
        at_destination
            .manifest_digest("signed/app", &format!("{base}.sbom"))
            .await,
        Some(sbom)
    );
    assert_eq!(
        at_destination.manifest_digest("signed/app", &base).await,
        Some(fallback)
    );
    assert_eq!(
        at_destination
            .manifest_digest("signed/app", &referrer)
            .await,
        Some(referrer.clone()),
        "the referrer itself, by digest"
    );

    // An attestation added later follows on the next run, though the image is unchanged.
    let (att, _) = push_artifact(
        &http,
        "signed/app",
        &format!("{base}.att"),
        "application/vnd.dsse.envelope.v1+json",
        b"later",
        None,
    )
    .await;
    let (outcome, log) = copy(&src, &dst, "signed/app", "v1", CopyOptions::default()).await;
    assert!(
        matches!(outcome.expect("copy"), CopyOutcome::Copied { .. }),
        "{log:#?}"
    );
    assert_eq!(
        at_destination
            .manifest_digest("signed/app", &format!("{base}.att"))
            .await,
        Some(att)
    );
    assert!(log.iter().any(|l| l.contains(".sig skipped")), "{log:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn referrers_follow_through_the_referrers_api_and_the_fallback_tag_is_kept() {
    // The source has the Referrers API; its referrers have no tags at all.
    let source_registry = TestRegistry::start();
    let source = FaultProxy::start_with_referrers_api(&source_registry.url()).await;
    let http = ferry_tests::images::RegistryHttp::new(source.url(), None);
    let image = http.push_image("api/app", "v1", &[layer(140, 5_000)]).await;
    let image_size = http.manifest_size("api/app", &image).await;
    let (sbom, sbom_size) = push_artifact(
        &http,
        "api/app",
        "",
        "application/spdx+json",
        b"{\"spdx\":2}",
        Some((&image, image_size)),
    )
    .await;
    // A signature on the SBOM: a referrer of a referrer.
    let (sbom_signature, _) = push_artifact(
        &http,
        "api/app",
        "",
        "application/vnd.cncf.notary.signature",
        b"signed sbom",
        Some((&sbom, sbom_size)),
    )
    .await;
    let fallback_tag = |digest: &str| format!("sha256-{}", digest.trim_start_matches("sha256:"));

    // A destination without the API, whose fallback tag already lists a referrer pushed there.
    let plain = TestRegistry::start();
    let plain_http = plain.http();
    let (elsewhere, elsewhere_size) = push_artifact(
        &plain_http,
        "api/app",
        "",
        "application/vnd.example.scan",
        b"scanned at the destination",
        Some((&image, image_size)),
    )
    .await;
    let held = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": elsewhere,
                       "size": elsewhere_size, "artifactType": "application/vnd.example.scan"}],
    }))
    .expect("json");
    plain_http
        .push_manifest(
            "api/app",
            &fallback_tag(&image),
            "application/vnd.oci.image.index.v1+json",
            &held,
        )
        .await;

    let src = client(&source.url(), None);
    let dst = client(&plain.url(), None);
    let (outcome, log) = copy(&src, &dst, "api/app", "v1", CopyOptions::default()).await;
    assert!(
        matches!(outcome.expect("copy"), CopyOutcome::Copied { .. }),
        "{log:#?}"
    );
    for digest in [&image, &sbom, &sbom_signature] {
        assert_eq!(
            plain_http.manifest_digest("api/app", digest).await.as_ref(),
            Some(digest),
            "{log:#?}"
        );
    }
    let listed = |bytes: Vec<u8>| -> Vec<String> {
        let index: serde_json::Value = serde_json::from_slice(&bytes).expect("index");
        let mut digests: Vec<String> = index["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .map(|d| d["digest"].as_str().expect("digest").to_string())
            .collect();
        digests.sort();
        digests
    };
    let mut expected = vec![elsewhere.clone(), sbom.clone()];
    expected.sort();
    let fallback = plain_http
        .manifest("api/app", &fallback_tag(&image))
        .await
        .expect("fallback tag at the destination");
    assert_eq!(listed(fallback), expected, "kept and added: {log:#?}");
    let nested = plain_http
        .manifest("api/app", &fallback_tag(&sbom))
        .await
        .expect("the SBOM's own fallback tag");
    assert_eq!(listed(nested), vec![sbom_signature.clone()]);

    // Again: nothing to write.
    let (again, log) = copy(&src, &dst, "api/app", "v1", CopyOptions::default()).await;
    assert!(
        matches!(again.expect("copy"), CopyOutcome::Skipped { .. }),
        "{log:#?}"
    );

    // A destination with the API lists the referrers itself: no fallback tag is written.
    let api_registry = TestRegistry::start();
    let api_destination = FaultProxy::start_with_referrers_api(&api_registry.url()).await;
    let dst = client(&api_destination.url(), None);
    let (outcome, log) = copy(&src, &dst, "api/app", "v1", CopyOptions::default()).await;
    assert!(
        matches!(outcome.expect("copy"), CopyOutcome::Copied { .. }),
        "{log:#?}"
    );
    assert_eq!(
        dst.list_referrers(&repository("api/app"), &digest(&image))
            .await
            .expect("referrers")
            .map(|r| r
                .into_iter()
                .map(|r| r.digest.to_string())
                .collect::<Vec<_>>()),
        Some(vec![sbom.clone()])
    );
    assert_eq!(
        api_registry
            .http()
            .manifest_digest("api/app", &fallback_tag(&image))
            .await,
        None
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_policy_speed_limits_a_task() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let six_mib = 6 * 1024 * 1024;
    let digest = source
        .http()
        .push_image("slow", "v1", &[layer(110, six_mib)])
        .await;
    let limited = CopyOptions {
        speed: 2048,
        ..CopyOptions::default()
    };
    let started = std::time::Instant::now();
    let (outcome, _) = copy(
        &client(&source.url(), None),
        &client(&destination.url(), None),
        "slow",
        "v1",
        limited,
    )
    .await;
    assert!(matches!(outcome.expect("copy"), CopyOutcome::Copied { .. }));
    // 6 MiB at 2 MiB/s takes 3 s at least: only a lower bound, which load cannot break.
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(2900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        destination.http().manifest_digest("slow", "v1").await,
        Some(digest)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_out_of_time_leaves_a_checkpoint_and_resumes_from_it() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let digest = source
        .http()
        .push_image("resume", "v1", &[layer(130, 40 * 1024 * 1024)])
        .await;
    let (src, dst) = (
        client(&source.url(), None),
        client(&destination.url(), None),
    );
    // Streamed (slowed to 20 MiB/s, so 40 MiB outlasts several short invocations) and chunked.
    let streamed = CopyOptions {
        speed: 20 * 1024,
        ..CopyOptions::default()
    };
    let chunked = CopyOptions {
        copy_by_chunk: true,
        ..CopyOptions::default()
    };
    let (resume, v1) = (repository("resume"), Reference::parse("v1").expect("tag"));
    for (dst_repository, options) in [("streamed", streamed), ("chunked", chunked)] {
        let dst_name = repository(dst_repository);
        let base = CopyJob {
            src: &src,
            src_repository: &resume,
            src_reference: &v1,
            dst: &dst,
            dst_repository: &dst_name,
            dst_reference: &v1,
            options,
            stop: None,
            locations: None,
            dst_registry_id: 2,
            same_registry: false,
            deadline: None,
            resume: None,
            platforms: &[],
            slots: None,
        };
        let mut checkpoint = None;
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds < 50, "{dst_repository}: no progress");
            let saved = checkpoint.take();
            let job = CopyJob {
                deadline: Some(std::time::Instant::now() + std::time::Duration::from_millis(120)),
                resume: saved.as_ref(),
                ..base
            };
            let mut log = Vec::new();
            match copy_artifact(&job, &mut log).await {
                Ok(CopyOutcome::Copied { digest: copied, .. }) => {
                    assert_eq!(copied, digest);
                    break;
                }
                Err(CopyError::OutOfTime(next)) => checkpoint = Some(next),
                other => panic!("{dst_repository} round {rounds}: {other:?} {log:#?}"),
            }
        }
        assert!(
            rounds > 1,
            "{dst_repository}: the copy never ran out of time"
        );
        assert_eq!(
            destination
                .http()
                .manifest_digest(dst_repository, "v1")
                .await,
            Some(digest.clone())
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_helm_chart_copies_byte_exact() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let digest = source.http().push_chart("charts/demo", "0.1.0", 140).await;
    let (outcome, _) = copy(
        &client(&source.url(), None),
        &client(&destination.url(), None),
        "charts/demo",
        "0.1.0",
        CopyOptions::default(),
    )
    .await;
    assert!(matches!(outcome.expect("copy"), CopyOutcome::Copied { .. }));
    assert_eq!(
        destination
            .http()
            .manifest_digest("charts/demo", "0.1.0")
            .await,
        Some(digest)
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &source
            .http()
            .manifest("charts/demo", "0.1.0")
            .await
            .expect("chart manifest"),
    )
    .expect("json");
    let chart_digest = manifest["layers"][0]["digest"].as_str().expect("layer");
    assert_eq!(
        destination
            .http()
            .blob("charts/demo", chart_digest)
            .await
            .map(|b| digest_of(&b))
            .as_deref(),
        Some(chart_digest)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_over_200_mib_copies_chunked_byte_exact() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let big = layer(150, 210 * 1024 * 1024);
    let big_digest = digest_of(&big);
    let manifest = source.http().push_image("huge", "v1", &[big]).await;
    let (outcome, log) = copy(
        &client(&source.url(), None),
        &client(&destination.url(), None),
        "huge",
        "v1",
        CopyOptions::default(),
    )
    .await;
    assert!(matches!(outcome.expect("copy"), CopyOutcome::Copied { .. }));
    assert!(
        log.iter()
            .any(|l| l.contains(&big_digest) && l.contains("chunked")),
        "{log:#?}"
    );
    assert_eq!(
        destination.http().manifest_digest("huge", "v1").await,
        Some(manifest)
    );
    // The registry checks the digest of what it received when the upload is committed; ask it
    // for the blob's size rather than downloading 210 MiB again.
    let size = reqwest::Client::new()
        .head(format!("{}/v2/huge/blobs/{big_digest}", destination.url()))
        .send()
        .await
        .expect("head")
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert_eq!(size, Some(210 * 1024 * 1024));
}
