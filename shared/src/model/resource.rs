//! The artifact a task copies: where it is read and where it is written.

use serde::{Deserialize, Serialize};

use super::validation::{Validated, ValidationError};

/// An artifact in a registry: a repository and a tag or a digest.
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

    pub fn validate(&self, field: &str) -> Validated {
        super::policy::validate_repository_path(&format!("{field}.repository"), &self.repository)?;
        validate_reference(&format!("{field}.reference"), &self.reference)
    }
}

/// A tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`) or a digest (`algorithm:hex`).
pub fn validate_reference(field: &str, reference: &str) -> Validated {
    static TAG: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    static DIGEST: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let tag = TAG.get_or_init(|| {
        regex::Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$").expect("static regex")
    });
    let digest = DIGEST.get_or_init(|| {
        regex::Regex::new(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
            .expect("static regex")
    });
    if tag.is_match(reference) || digest.is_match(reference) {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            format!("{reference:?} is neither a tag nor a digest"),
        ))
    }
}

/// What one task copies: the source artifact and the destination it is written to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Resource {
    pub resource_type: super::task::ResourceType,
    pub src: ArtifactLocation,
    pub dst: ArtifactLocation,
}
