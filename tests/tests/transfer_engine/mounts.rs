//! Blobs mounted instead of copied: within a registry, and from where Ferry recorded them.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn blobs_mount_within_a_registry_and_from_recorded_locations() {
    let registry = TestRegistry::start();
    let destination = TestRegistry::start();
    // Big enough to be worth a mount; the images' other blobs are small and always copied.
    let base = layer(90, 600_000);
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
    // Only the blob worth a mount is recorded.
    assert_eq!(
        locations.find_blob(2, &digest(&digest_of(&base))).await,
        Some(repository("mirror/a"))
    );
    assert_eq!(
        locations
            .find_blob(2, &digest(&digest_of(&layer(91, 1000))))
            .await,
        None
    );
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
        (second.blobs_mounted, second.blobs_copied),
        (1, 2),
        "the base layer mounts, the small config and layer are copied: {log:#?}"
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
    let c = http.push_image("lib/c", "v1", &[layer(93, 700_000)]).await;
    let c_layer = digest_of(&layer(93, 700_000));
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
        (0, 2),
        "the recorded layer does not mount and is copied, as is the small config"
    );
    assert_eq!(
        locations.find_blob(2, &digest(&c_layer)).await,
        Some(repository("mirror/c")),
        "the stale record is replaced"
    );
    assert_eq!(
        destination.http().manifest_digest("mirror/c", "v1").await,
        Some(c)
    );
}
