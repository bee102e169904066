//! What Ferry keeps of a copied artifact's type: Harbor's artifact model's `type`,
//! `media_type`, `extra_attrs` and additions, read by the type's processor.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::ResourceType;

/// An addition an artifact offers (seed 004: a README, a values file, a build history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Addition {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
}

/// What a processor reads of an artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub extra_attrs: Map<String, Value>,
    pub additions: Vec<Addition>,
}

/// A copied artifact as its type sees it (Ferry's addition, read through an execution's
/// artifacts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArtifactProfile {
    #[serde(rename = "type")]
    pub resource_type: ResourceType,
    pub digest: String,
    pub manifest_media_type: String,
    /// The media type that tells the type: `artifactType`, the config's, or the one the
    /// config's `harbor.artifactMetadata` declares.
    pub media_type: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub extra_attrs: Map<String, Value>,
    #[serde(default)]
    pub additions: Vec<Addition>,
    /// The processor that read them: `general` or the extender's URL; absent for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor: Option<String>,
    /// Why the processor read nothing (it never fails the copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_error: Option<String>,
}

/// Seed 004's GeneralProcessor: the config's own keys are the `extra_attrs` (its `harbor`
/// object left out), and `harbor.artifactMetadata.additions` the additions.
pub fn general_metadata(config: &Value) -> Metadata {
    let mut extra_attrs = config.as_object().cloned().unwrap_or_default();
    let harbor = extra_attrs.remove("harbor").unwrap_or_default();
    let additions = harbor["artifactMetadata"]["additions"]
        .as_array()
        .map(|listed| {
            listed
                .iter()
                .filter_map(|a| {
                    Some(Addition {
                        kind: a["type"].as_str()?.to_string(),
                        content_type: a["contentType"].as_str().unwrap_or_default().to_string(),
                        digest: a["digest"].as_str().unwrap_or_default().to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Metadata {
        extra_attrs,
        additions,
    }
}

/// A profile kept as JSON text (the store's attribute); one that does not read is none, so a
/// damaged record never keeps its task from being listed.
pub fn profile_from_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ArtifactProfile>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}
