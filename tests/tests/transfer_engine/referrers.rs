//! Signatures, attestations and SBOMs follow their image: cosign tags, the Referrers API, the
//! fallback tag.

use super::*;

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
