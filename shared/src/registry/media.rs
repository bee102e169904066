//! Manifest media types and the parts of a manifest the copy needs: what it references.

use serde::{Deserialize, Serialize};

// The media types oci-client names, under the names this module uses.
pub use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE as DOCKER_MANIFEST_LIST,
    IMAGE_MANIFEST_MEDIA_TYPE as DOCKER_MANIFEST, OCI_IMAGE_INDEX_MEDIA_TYPE as OCI_INDEX,
    OCI_IMAGE_MEDIA_TYPE as OCI_MANIFEST,
};
/// The config media type of a Helm chart pushed as an OCI artifact.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Every manifest kind Ferry reads, for the `Accept` header.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Layers that must not be pushed elsewhere (Windows base layers and the like).
pub fn is_foreign_layer(media_type: &str) -> bool {
    media_type.contains(".foreign.") || media_type.contains("nondistributable")
}

/// A container image's config (OCI or Docker), as opposed to another artifact's.
pub fn is_image_config(media_type: &str) -> bool {
    media_type == oci_client::manifest::IMAGE_CONFIG_MEDIA_TYPE
        || media_type == oci_client::manifest::IMAGE_DOCKER_CONFIG_MEDIA_TYPE
}

pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// The references of a manifest: children (for an index) or config and layers (for an image).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ManifestRefs {
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub subject: Option<Descriptor>,
}

/// One entry of a referrers list (the Referrers API's answer, or the fallback tag's index):
/// a manifest whose `subject` is the artifact. Kept whole, as it goes into an index again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Referrer {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// The `manifests` of an index, as referrers.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ReferrerList {
    #[serde(default)]
    pub manifests: Vec<Referrer>,
}

/// An OCI index of `referrers`: what the Referrers API answers and the fallback tag holds.
pub fn referrers_index(referrers: &[Referrer]) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": referrers,
    }))
}
