//! The artifact a task copies: its kind, where it is read and where it is written.

use serde::{Deserialize, Serialize};

use crate::oci::{media, NameError, Reference, Repository};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    Image,
    Artifact,
    Chart,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Artifact => "artifact",
            Self::Chart => "chart",
        }
    }

    /// The kind of artifact a manifest is, from its media types, as Harbor's resource filter
    /// sees it: Helm charts by their config, images (and multi-arch indexes of them), the rest.
    pub fn of_manifest(manifest: &[u8], media_type: &str) -> Self {
        let parsed: serde_json::Value = serde_json::from_slice(manifest).unwrap_or_default();
        let config = parsed["config"]["mediaType"].as_str().unwrap_or_default();
        if config == media::HELM_CONFIG {
            Self::Chart
        } else if parsed["artifactType"].is_string() {
            Self::Artifact
        } else if media::is_index(media_type) || media::is_image_config(config) {
            Self::Image
        } else {
            Self::Artifact
        }
    }
}

/// An artifact in a registry: a repository and a tag or a digest. Stored and sent as the
/// strings they are; [`Self::repository`] and [`Self::reference`] validate them for use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArtifactLocation {
    pub registry_id: i64,
    pub repository: String,
    /// A tag, or a digest (`sha256:<hex>`).
    pub reference: String,
}

impl ArtifactLocation {
    pub fn is_digest(&self) -> bool {
        self.reference.contains(':')
    }

    /// `repository:tag` or `repository@digest`, as Harbor shows `src_resource`/`dst_resource`.
    pub fn display(&self) -> String {
        if self.is_digest() {
            format!("{}@{}", self.repository, self.reference)
        } else {
            format!("{}:{}", self.repository, self.reference)
        }
    }

    pub fn repository(&self) -> Result<Repository, NameError> {
        Repository::parse(&self.repository)
    }

    pub fn reference(&self) -> Result<Reference, NameError> {
        Reference::parse(&self.reference)
    }
}

/// What one task copies: the source artifact and the destination it is written to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Resource {
    pub resource_type: ResourceType,
    pub src: ArtifactLocation,
    pub dst: ArtifactLocation,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_media_types() {
        let image = br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json"}}"#;
        let docker =
            br#"{"config":{"mediaType":"application/vnd.docker.container.image.v1+json"}}"#;
        let chart = br#"{"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json"}}"#;
        let sbom = br#"{"artifactType":"application/spdx+json","config":{"mediaType":"application/vnd.oci.empty.v1+json"}}"#;
        let wasm = br#"{"config":{"mediaType":"application/vnd.wasm.config.v0+json"}}"#;
        let kind = ResourceType::of_manifest;
        assert_eq!(kind(image, media::OCI_MANIFEST), ResourceType::Image);
        assert_eq!(kind(docker, media::DOCKER_MANIFEST), ResourceType::Image);
        assert_eq!(kind(chart, media::OCI_MANIFEST), ResourceType::Chart);
        assert_eq!(kind(sbom, media::OCI_MANIFEST), ResourceType::Artifact);
        assert_eq!(kind(wasm, media::OCI_MANIFEST), ResourceType::Artifact);
        assert_eq!(kind(b"{}", media::OCI_INDEX), ResourceType::Image);
    }

    #[test]
    fn locations_are_validated_for_use() {
        let location = |repository: &str, reference: &str| ArtifactLocation {
            registry_id: 1,
            repository: repository.into(),
            reference: reference.into(),
        };
        assert!(location("library/nginx", "1.25").reference().is_ok());
        assert_eq!(location("a", "v1").display(), "a:v1");
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(location("a", &digest).display(), format!("a@{digest}"));
        assert!(location("a", "-bad").reference().is_err());
        assert!(location("../victim", "v1").repository().is_err());
    }
}
