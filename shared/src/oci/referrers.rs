//! Where referrers live when a registry has no Referrers API: under tags derived from their
//! subject's digest (the OCI 1.1 fallback tag, cosign's signature, attestation and SBOM tags).

use super::names::{Digest, Tag};

/// The tags under which referrers of `digest` live: the OCI 1.1 fallback index first, then
/// cosign's `.sig`, `.att` and `.sbom`.
pub fn referrer_tags(digest: &Digest) -> Vec<Tag> {
    let base = format!("{}-{}", digest.algorithm(), digest.encoded());
    ["", ".sig", ".att", ".sbom"]
        .iter()
        .filter_map(|suffix| Tag::parse(&format!("{base}{suffix}")).ok())
        .collect()
}

/// Whether a tag names referrers of an artifact rather than an artifact: `sha256-<hex>` (the OCI
/// referrers tag schema) with or without cosign's `.sig`, `.att`, `.sbom` suffixes.
pub fn is_referrer_tag(tag: &str) -> bool {
    referred_hex(tag).is_some()
}

/// The sha256 hex of the subject a referrer tag names.
pub fn referred_hex(tag: &str) -> Option<&str> {
    let rest = tag.strip_prefix("sha256-")?;
    let hex = rest.split('.').next().unwrap_or_default();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrer_tags_are_told_from_artifact_tags() {
        let hex = "a".repeat(64);
        assert!(is_referrer_tag(&format!("sha256-{hex}")));
        assert!(is_referrer_tag(&format!("sha256-{hex}.sig")));
        assert!(is_referrer_tag(&format!("sha256-{hex}.sbom")));
        assert!(!is_referrer_tag("sha256-short.sig"));
        assert!(!is_referrer_tag("v1.2.3"));
        assert!(!is_referrer_tag(&format!("sha256-{}", "g".repeat(64))));
        let digest = Digest::parse(&format!("sha256:{hex}")).expect("digest");
        let tags: Vec<String> = referrer_tags(&digest).iter().map(Tag::to_string).collect();
        assert_eq!(
            tags,
            vec![
                format!("sha256-{hex}"),
                format!("sha256-{hex}.sig"),
                format!("sha256-{hex}.att"),
                format!("sha256-{hex}.sbom"),
            ]
        );
    }
}
