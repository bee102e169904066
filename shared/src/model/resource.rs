//! The artifact a task copies: its kind, where it is read and where it is written.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

#[cfg(test)]
use crate::oci::media;
use crate::oci::{NameError, Reference, Repository};

/// The type of an artifact, by name: Harbor's `image`, `chart` and `artifact` (anything
/// else), the other built-in types (`cnab`, `wasm`, `sbom`, `signature`, `attestation`,
/// `opa`) and the types `processors.yaml` registers or an artifact's config declares (see
/// [`super::artifact_types`]). Stored and sent as the lowercase name it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceType(Cow<'static, str>);

impl utoipa::PartialSchema for ResourceType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "The artifact's type: image, chart or artifact (Harbor's), cnab, wasm, sbom, \
                 signature, attestation, opa, or a type processors.yaml registers or the \
                 artifact's config declares (Ferry's addition)",
            ))
            .examples([serde_json::json!("image")])
            .into()
    }
}

impl utoipa::ToSchema for ResourceType {}

/// Why a name cannot be an artifact type's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a type name: 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit")]
pub struct TypeNameError(pub String);

impl ResourceType {
    pub const IMAGE: Self = Self(Cow::Borrowed("image"));
    pub const CHART: Self = Self(Cow::Borrowed("chart"));
    /// Harbor's name for everything that is neither an image nor a chart.
    pub const ARTIFACT: Self = Self(Cow::Borrowed("artifact"));
    pub const CNAB: Self = Self(Cow::Borrowed("cnab"));
    pub const WASM: Self = Self(Cow::Borrowed("wasm"));
    pub const SBOM: Self = Self(Cow::Borrowed("sbom"));
    pub const SIGNATURE: Self = Self(Cow::Borrowed("signature"));
    pub const ATTESTATION: Self = Self(Cow::Borrowed("attestation"));
    pub const OPA: Self = Self(Cow::Borrowed("opa"));

    /// The built-in types, Harbor's three first.
    pub const BUILT_IN: [Self; 9] = [
        Self::IMAGE,
        Self::CHART,
        Self::ARTIFACT,
        Self::CNAB,
        Self::WASM,
        Self::SBOM,
        Self::SIGNATURE,
        Self::ATTESTATION,
        Self::OPA,
    ];

    /// A type by its name, case-insensitive (Harbor writes `IMAGE`, filters say `image`).
    pub fn named(name: &str) -> Result<Self, TypeNameError> {
        let lower = name.to_ascii_lowercase();
        let valid = (1..=64).contains(&lower.len())
            && lower.starts_with(|c: char| c.is_ascii_alphanumeric())
            && lower
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if !valid {
            return Err(TypeNameError(name.to_string()));
        }
        Ok(Self::BUILT_IN
            .into_iter()
            .find(|t| t.as_str() == lower)
            .unwrap_or(Self(Cow::Owned(lower))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Neither an image nor a chart: what Harbor's `artifact` covers.
    pub fn is_other(&self) -> bool {
        *self != Self::IMAGE && *self != Self::CHART
    }

    /// Whether a resource filter naming `wanted` selects this type: the same type, or, for
    /// Harbor's `artifact`, any type but image and chart.
    pub fn selected_by(&self, wanted: &Self) -> bool {
        self == wanted || (*wanted == Self::ARTIFACT && self.is_other())
    }

    /// The built-in type of a manifest, from its media types alone (no registered types, no
    /// config read): see [`super::artifact_types::ArtifactTypes::classify`].
    pub fn of_manifest(manifest: &[u8], media_type: &str) -> Self {
        let types = super::artifact_types::ArtifactTypes::default();
        let facts = super::artifact_types::ManifestFacts::read(manifest, media_type);
        types.classify(&facts, None).resource_type
    }
}

impl std::fmt::Display for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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
        assert_eq!(kind(image, media::OCI_MANIFEST), ResourceType::IMAGE);
        assert_eq!(kind(docker, media::DOCKER_MANIFEST), ResourceType::IMAGE);
        assert_eq!(kind(chart, media::OCI_MANIFEST), ResourceType::CHART);
        assert_eq!(kind(sbom, media::OCI_MANIFEST), ResourceType::SBOM);
        assert_eq!(kind(wasm, media::OCI_MANIFEST), ResourceType::WASM);
        assert_eq!(kind(b"{}", media::OCI_INDEX), ResourceType::IMAGE);
        let unknown = br#"{"config":{"mediaType":"application/vnd.example.thing.v1+json"}}"#;
        assert_eq!(kind(unknown, media::OCI_MANIFEST), ResourceType::ARTIFACT);
    }

    #[test]
    fn names_are_lowercase_and_artifact_covers_the_others() {
        assert_eq!(ResourceType::named("IMAGE"), Ok(ResourceType::IMAGE));
        let model = ResourceType::named("Model").expect("a name");
        assert_eq!(model.as_str(), "model");
        assert!(ResourceType::named("").is_err());
        assert!(ResourceType::named("a b").is_err());
        assert!(ResourceType::named(&"a".repeat(65)).is_err());
        assert!(model.selected_by(&ResourceType::ARTIFACT));
        assert!(ResourceType::CNAB.selected_by(&ResourceType::ARTIFACT));
        assert!(!ResourceType::IMAGE.selected_by(&ResourceType::ARTIFACT));
        assert!(!ResourceType::CHART.selected_by(&ResourceType::ARTIFACT));
        assert!(model.selected_by(&model));
        assert!(!model.selected_by(&ResourceType::CNAB));
        let stored: ResourceType = serde_json::from_str("\"chart\"").expect("stored");
        assert_eq!(stored, ResourceType::CHART);
        assert_eq!(serde_json::to_string(&model).expect("json"), "\"model\"");
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
