//! Sources that misbehave on purpose: a manifest without an end, a tag list without an end or
//! that goes round, a blob whose bytes lie, an index whose child is a path, a destination that
//! asks for absurd chunks. Each ends in a clear failure, quickly, reading only what it must.

use super::*;
use ferry::ports::registry::Catalog;

/// A hang guard, not a speed goal: what is refused is refused at once, not after the flood.
const QUICKLY: std::time::Duration = std::time::Duration::from_secs(60);

fn failure(outcome: Result<CopyOutcome, CopyError>) -> String {
    match outcome {
        Err(e) => e.to_string(),
        Ok(other) => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_without_an_end_is_refused_at_four_mib() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    source
        .http()
        .push_image("app", "v1", &[layer(150, 1000)])
        .await;
    let hostile = FaultProxy::start(
        &source.url(),
        vec![fault(
            "GET",
            "/manifests/",
            Action::Flood(300 * 1024 * 1024),
            1,
        )],
    )
    .await;
    let (src, dst) = (
        client(&hostile.url(), None),
        client(&destination.url(), None),
    );
    let copied = tokio::time::timeout(
        QUICKLY,
        copy(&src, &dst, "app", "v1", CopyOptions::default()),
    )
    .await
    .expect("refused quickly");
    let reason = failure(copied.0);
    assert!(
        reason.contains("manifest is over") && reason.contains("4194304 byte limit"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tag_list_without_an_end_or_that_goes_round_is_refused() {
    let source = TestRegistry::start();
    let endless = FaultProxy::start(
        &source.url(),
        vec![fault("GET", "/tags/list", Action::EndlessTags, usize::MAX)],
    )
    .await;
    let listed = tokio::time::timeout(
        QUICKLY,
        client(&endless.url(), None).list_tags(&repository("endless")),
    )
    .await
    .expect("refused quickly");
    let reason = listed.expect_err("endless").to_string();
    assert!(reason.contains("over 100000 tags"), "{reason}");

    let page = bytes::Bytes::from(r#"{"name":"round","tags":["a","b"]}"#);
    let link = r#"</v2/round/tags/list?n=1000&last=b>; rel="next""#.to_string();
    let round = FaultProxy::start(
        &source.url(),
        vec![fault(
            "GET",
            "/tags/list",
            Action::Answer(200, vec![("link", link)], page),
            usize::MAX,
        )],
    )
    .await;
    let reason = client(&round.url(), None)
        .list_tags(&repository("round"))
        .await
        .expect_err("goes round")
        .to_string();
    assert!(reason.contains("does not advance"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_whose_bytes_lie_fails_naming_it_and_nothing_is_committed() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    // A small layer goes whole, a large one (or any, by chunk) in a session: both are checked.
    for (repository, size, options) in [
        ("whole", 100_000, CopyOptions::default()),
        (
            "chunked",
            100_000,
            CopyOptions {
                copy_by_chunk: true,
                ..CopyOptions::default()
            },
        ),
    ] {
        let lying = layer(151 + size as u64, size);
        let lying_digest = digest_of(&lying);
        source.http().push_image(repository, "v1", &[lying]).await;
        let hostile = FaultProxy::start(
            &source.url(),
            vec![fault("GET", &lying_digest, Action::Garble, usize::MAX)],
        )
        .await;
        let (src, dst) = (
            client(&hostile.url(), None),
            client(&destination.url(), None),
        );
        let (outcome, log) = copy(&src, &dst, repository, "v1", options).await;
        let reason = failure(outcome);
        assert!(
            reason.contains(&format!("blob {lying_digest}")) && reason.contains("hashing to"),
            "{repository}: {reason} {log:#?}"
        );
        let at_destination = destination.http();
        assert_eq!(
            at_destination.blob(repository, &lying_digest).await,
            None,
            "{repository}"
        );
        assert_eq!(at_destination.manifest_digest(repository, "v1").await, None);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_whose_child_is_a_path_fails_and_the_victim_stays() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let victim = destination
        .http()
        .push_image("victim/app", "latest", &[layer(160, 1000)])
        .await;
    source
        .http()
        .push_image("app", "v1", &[layer(161, 1000)])
        .await;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:../../../victim/app/manifests/latest",
            "size": 100,
        }],
    });
    let hostile = FaultProxy::start(
        &source.url(),
        vec![fault(
            "GET",
            "/manifests/v1",
            Action::Answer(
                200,
                vec![(
                    "content-type",
                    "application/vnd.oci.image.index.v1+json".into(),
                )],
                bytes::Bytes::from(index.to_string()),
            ),
            usize::MAX,
        )],
    )
    .await;
    let (src, dst) = (
        client(&hostile.url(), None),
        client(&destination.url(), None),
    );
    let reason = failure(
        copy(&src, &dst, "app", "v1", CopyOptions::default())
            .await
            .0,
    );
    assert!(reason.contains("not a manifest Ferry can read"), "{reason}");
    assert!(reason.contains("digest"), "{reason}");
    assert_eq!(
        destination
            .http()
            .manifest_digest("victim/app", "latest")
            .await,
        Some(victim)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_asking_for_absurd_chunks_is_refused_saying_so() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    source
        .http()
        .push_image("app", "v1", &[layer(170, 100_000)])
        .await;
    let hostile = FaultProxy::start(
        &destination.url(),
        vec![fault(
            "POST",
            "/blobs/uploads/",
            Action::AddHeader("oci-chunk-min-length", (10u64 << 30).to_string()),
            usize::MAX,
        )],
    )
    .await;
    let (src, dst) = (client(&source.url(), None), client(&hostile.url(), None));
    let chunked = CopyOptions {
        copy_by_chunk: true,
        ..CopyOptions::default()
    };
    let reason = failure(copy(&src, &dst, "app", "v1", chunked).await.0);
    assert!(reason.contains("OCI-Chunk-Min-Length"), "{reason}");
}
