//! Platforms (`os/arch` or `os/arch/variant`) and multi-arch indexes narrowed to some of them.

use super::manifest::RawManifest;
use super::names::Digest;

/// A platform as a policy names it: `linux/amd64`, `linux/arm/v7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(value: &str) -> Result<Self, String> {
        let parts: Vec<&str> = value.split('/').collect();
        match parts[..] {
            [os, architecture] | [os, architecture, _] if !parts.iter().any(|p| p.is_empty()) => {
                Ok(Self {
                    os: os.to_string(),
                    architecture: architecture.to_string(),
                    variant: parts.get(2).map(|v| v.to_string()),
                })
            }
            _ => Err(format!("{value:?} is not os/arch or os/arch/variant")),
        }
    }

    /// Whether an index entry's `platform` object is this platform (any variant when none is
    /// named).
    fn accepts(&self, platform: &serde_json::Value) -> bool {
        let field = |name: &str| platform[name].as_str().unwrap_or_default();
        field("os") == self.os
            && field("architecture") == self.architecture
            && self
                .variant
                .as_deref()
                .is_none_or(|v| v == field("variant"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("{digest}: not an index Ferry can read: {reason}")]
    Unreadable { digest: Digest, reason: String },
    #[error("{digest} has none of the platforms {wanted}")]
    NoneLeft { digest: Digest, wanted: String },
}

/// The index without the platforms not asked for. Unchanged bytes (and digest) when nothing is
/// dropped, or when `manifest` is not an index; otherwise a new index document, so a new digest.
pub fn filter_platforms(
    manifest: RawManifest,
    platforms: &[Platform],
) -> Result<RawManifest, PlatformError> {
    if platforms.is_empty() || !manifest.is_index() {
        return Ok(manifest);
    }
    let unreadable = |reason: String| PlatformError::Unreadable {
        digest: manifest.digest.clone(),
        reason,
    };
    let mut index: serde_json::Value =
        serde_json::from_slice(&manifest.bytes).map_err(|e| unreadable(e.to_string()))?;
    let Some(children) = index.get_mut("manifests").and_then(|m| m.as_array_mut()) else {
        return Ok(manifest);
    };
    let before = children.len();
    children.retain(|child| platforms.iter().any(|p| p.accepts(&child["platform"])));
    if children.len() == before {
        return Ok(manifest);
    }
    if children.is_empty() {
        return Err(PlatformError::NoneLeft {
            digest: manifest.digest,
            wanted: platforms
                .iter()
                .map(Platform::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let bytes = serde_json::to_vec(&index).map_err(|e| unreadable(e.to_string()))?;
    Ok(RawManifest::new(&manifest.media_type, bytes))
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(variant) => write!(f, "/{variant}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::media;

    fn index() -> RawManifest {
        let child = |arch: &str, variant: &str, n: char| {
            serde_json::json!({
                "mediaType": media::OCI_MANIFEST,
                "digest": format!("sha256:{}", n.to_string().repeat(64)),
                "size": 10,
                "platform": {"os": "linux", "architecture": arch, "variant": variant},
            })
        };
        RawManifest::new(
            media::OCI_INDEX,
            serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": media::OCI_INDEX,
                "manifests": [child("amd64", "", 'a'), child("arm", "v7", 'b'), child("arm64", "v8", 'c')],
            }))
            .expect("json"),
        )
    }

    fn platforms(names: &[&str]) -> Vec<Platform> {
        names
            .iter()
            .map(|n| Platform::parse(n).expect("platform"))
            .collect()
    }

    #[test]
    fn parses_platforms() {
        assert_eq!(
            Platform::parse("linux/arm/v7").map(|p| p.to_string()),
            Ok("linux/arm/v7".to_string())
        );
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keeps_the_platforms_asked_for_and_the_bytes_when_nothing_goes() {
        let original = index();
        let same = filter_platforms(
            original.clone(),
            &platforms(&["linux/amd64", "linux/arm", "linux/arm64"]),
        )
        .expect("filtered");
        assert_eq!(same, original);
        let narrowed =
            filter_platforms(original.clone(), &platforms(&["linux/arm/v7"])).expect("filtered");
        assert_ne!(narrowed.digest, original.digest);
        assert_eq!(narrowed.references().expect("index").manifests.len(), 1);
        assert!(matches!(
            filter_platforms(original, &platforms(&["windows/amd64"])),
            Err(PlatformError::NoneLeft { .. })
        ));
    }
}
