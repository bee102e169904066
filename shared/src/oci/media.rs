//! Media types: the manifest kinds Ferry reads and the configs and layers it tells apart.

// The media types oci-client names, under the names this module uses.
pub use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE as DOCKER_MANIFEST_LIST,
    IMAGE_MANIFEST_MEDIA_TYPE as DOCKER_MANIFEST, OCI_IMAGE_INDEX_MEDIA_TYPE as OCI_INDEX,
    OCI_IMAGE_MEDIA_TYPE as OCI_MANIFEST,
};
/// The config media type of a Helm chart pushed as an OCI artifact, and its layers' (helm/helm
/// `pkg/registry/constants.go`): the package, its provenance, and the package's type before
/// Helm 3.7, which Helm still pulls.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
pub const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
pub const HELM_PROVENANCE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";
pub const HELM_CHART_LEGACY: &str = "application/tar+gzip";
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

/// Docker's first manifest format, which Ferry does not copy.
pub fn is_schema1(media_type: &str) -> bool {
    media_type == DOCKER_SCHEMA1 || media_type == DOCKER_SCHEMA1_SIGNED
}

/// An image manifest or an index (an empty type: the sender did not say).
pub fn is_manifest(media_type: &str) -> bool {
    media_type.is_empty()
        || media_type == OCI_MANIFEST
        || media_type == DOCKER_MANIFEST
        || is_index(media_type)
}
