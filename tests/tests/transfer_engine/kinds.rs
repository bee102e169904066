//! What is copied and how: chunked or whole, override and skips, indexes, charts, big blobs, the
//! policy's speed, checkpoints.

use super::*;

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
