//! The built-in types' rules, by media types alone. Sources: Helm's OCI support (config
//! `application/vnd.cncf.helm.config.v1+json`), cnab-to-oci (an index annotated
//! `io.cnab.runtime_version`, its config `application/vnd.cnab.config.v1+json`), the
//! WebAssembly OCI artifact layout (`application/vnd.wasm.config.v0+json`), SPDX and CycloneDX
//! media types, cosign's and Notation's signatures, in-toto attestations, OPA bundles.

use super::ManifestFacts;
use crate::model::ResourceType;
use crate::oci::media;

const CNAB_CONFIG: &str = "application/vnd.cnab.config.v1+json";
const OPA_CONFIG: &str = "application/vnd.cncf.openpolicyagent.config.v1+json";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const SBOMS: [&str; 6] = [
    "application/spdx+json",
    "text/spdx",
    "application/vnd.cyclonedx+json",
    "application/vnd.cyclonedx+xml",
    "application/vnd.syft+json",
    "application/vnd.dev.cosign.artifact.sbom.v1+json",
];
const SIGNATURES: [&str; 3] = [
    "application/vnd.cncf.notary.signature",
    "application/vnd.dev.cosign.artifact.sig.v1+json",
    "application/vnd.dev.cosign.simplesigning.v1+json",
];
const ATTESTATIONS: [&str; 3] = [
    "application/vnd.in-toto+json",
    "application/vnd.dsse.envelope.v1+json",
    "application/vnd.dev.cosign.artifact.att.v1+json",
];

/// The built-in type the media types tell; None when none does (the in-tree schema may).
pub(super) fn classify(facts: &ManifestFacts) -> Option<ResourceType> {
    let config = facts.config_media_type.as_deref().unwrap_or_default();
    let artifact_type = facts.artifact_type.as_deref().unwrap_or_default();
    let says = |kinds: &[&str]| {
        kinds.contains(&artifact_type)
            || kinds.contains(&config)
            || facts
                .layer_media_types
                .iter()
                .any(|l| kinds.contains(&l.as_str()))
    };
    let wasm = |m: &str| m.starts_with("application/vnd.wasm.");
    Some(if config == media::HELM_CONFIG {
        ResourceType::CHART
    } else if config == CNAB_CONFIG
        || (facts.cnab_annotations && media::is_index(&facts.media_type))
    {
        ResourceType::CNAB
    } else if wasm(config) || wasm(artifact_type) {
        ResourceType::WASM
    } else if says(&SIGNATURES) {
        ResourceType::SIGNATURE
    } else if says(&ATTESTATIONS) {
        ResourceType::ATTESTATION
    } else if says(&SBOMS) {
        ResourceType::SBOM
    } else if config == OPA_CONFIG {
        ResourceType::OPA
    } else if !artifact_type.is_empty() {
        return None;
    } else if media::is_index(&facts.media_type) || media::is_image_config(config) {
        ResourceType::IMAGE
    } else {
        return None;
    })
}

/// A config of this media type may declare its artifact's type (`harbor.artifactMetadata`):
/// any JSON config but the ones the built-in rules know and the empty one.
pub(super) fn may_carry_schema(config_media_type: &str) -> bool {
    config_media_type != OCI_EMPTY
        && !media::is_image_config(config_media_type)
        && config_media_type.ends_with("json")
}
