//! Registries that misbehave (resets, 5xx, 429 with Retry-After) and registries that ask for
//! credentials (Basic, the Bearer token flow).

use super::*;

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
        CopyOutcome::Copied {
            digest, figures, ..
        } => {
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
