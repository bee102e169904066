//! Manifests as the bytes a registry served, and the parts of them the copy reads: what a
//! manifest references (children of an index; config and layers of an image; its subject)
//! and the entries of a referrers list.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::media;
use super::names::Digest;

/// A manifest exactly as the registry served it; `digest` is the sha256 of `bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawManifest {
    pub media_type: String,
    pub digest: Digest,
    pub bytes: Bytes,
}

impl RawManifest {
    /// A manifest of Ferry's own making (a filtered index, a referrers index).
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Self {
        Self {
            media_type: media_type.to_string(),
            digest: Digest::sha256(&bytes),
            bytes: bytes.into(),
        }
    }

    /// An OCI index of `referrers`: what the Referrers API answers and the fallback tag holds.
    pub fn referrers_index(referrers: &[Referrer]) -> Result<Self, serde_json::Error> {
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": referrers,
        }))?;
        Ok(Self::new(media::OCI_INDEX, bytes))
    }

    /// What the manifest references; an error when it is not JSON of a manifest's shape or
    /// names a digest that is not one.
    pub fn references(&self) -> Result<ManifestRefs, serde_json::Error> {
        serde_json::from_slice(&self.bytes)
    }

    pub fn is_index(&self) -> bool {
        media::is_index(&self.media_type)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
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
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The `manifests` of an index, as referrers.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ReferrerList {
    #[serde(default)]
    pub manifests: Vec<Referrer>,
}
