//! Names from outside (catalogs, tag lists, manifests, webhooks) as validated types: a
//! [`Repository`], a [`Tag`], a [`Digest`] and a [`Reference`] (a tag or a digest). Their
//! constructors enforce the distribution grammar, and the registry client takes only these, so
//! no unchecked string becomes part of a URL path.
//!
//! Grammar (distribution's `reference` package, the OCI distribution spec):
//! - repository: components `[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*` joined by `/`, at most
//!   255 characters in all;
//! - tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`;
//! - digest: `algorithm:encoded`, read by oci-spec; Ferry accepts the algorithms registries
//!   use (sha256, sha384, sha512), whose encoding is lower-case hex of a fixed length.

use std::fmt;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A name that does not follow the grammar: what it was, the value (shortened) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not valid: {reason}")]
pub struct NameError {
    pub what: &'static str,
    pub value: String,
    pub reason: String,
}

/// Values quoted in messages are cut here: a hostile registry may send megabytes.
const QUOTED_CHARS: usize = 120;

fn refused(what: &'static str, value: &str, reason: impl Into<String>) -> NameError {
    let mut shown: String = value.chars().take(QUOTED_CHARS).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    NameError {
        what,
        value: shown,
        reason: reason.into(),
    }
}

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).unwrap_or_else(|_| unreachable!("static regex")))
}

const REPOSITORY_MAX: usize = 255;

/// A repository path, such as `library/nginx`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Repository(String);

impl Repository {
    pub fn parse(value: &str) -> Result<Self, NameError> {
        static COMPONENT: OnceLock<Regex> = OnceLock::new();
        let component = regex(&COMPONENT, r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$");
        if value.len() > REPOSITORY_MAX {
            return Err(refused(
                "repository",
                value,
                format!("longer than {REPOSITORY_MAX} characters"),
            ));
        }
        match value.split('/').find(|part| !component.is_match(part)) {
            None => Ok(Self(value.to_string())),
            Some(part) => Err(refused(
                "repository",
                value,
                format!(
                    "{part:?} is not a path component: lower-case letters and digits, \
                     separated by '.', '_', '__' or '-'"
                ),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first path component: Harbor's project, a cloud registry's namespace.
    pub fn namespace(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }
}

/// A tag, such as `1.25-alpine`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    pub fn parse(value: &str) -> Result<Self, NameError> {
        static TAG: OnceLock<Regex> = OnceLock::new();
        if regex(&TAG, r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$").is_match(value) {
            Ok(Self(value.to_string()))
        } else {
            Err(refused(
                "tag",
                value,
                "a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A content digest, such as `sha256:<64 hex>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    pub fn parse(value: &str) -> Result<Self, NameError> {
        use oci_spec::image::DigestAlgorithm;
        let digest = oci_spec::image::Digest::try_from(value)
            .map_err(|e| refused("digest", value, e.to_string()))?;
        match digest.algorithm() {
            DigestAlgorithm::Sha256 | DigestAlgorithm::Sha384 | DigestAlgorithm::Sha512 => {
                Ok(Self(value.to_string()))
            }
            other => Err(refused(
                "digest",
                value,
                format!("algorithm {other} is not one registries use (sha256, sha384, sha512)"),
            )),
        }
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(bytes))
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn algorithm(&self) -> &str {
        self.0
            .split_once(':')
            .map_or("", |(algorithm, _)| algorithm)
    }

    /// The encoded part, after `algorithm:`.
    pub fn encoded(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, encoded)| encoded)
    }
}

/// What a manifest is asked for by: a tag or a digest.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    /// A digest when it has the `algorithm:` form, otherwise a tag (a tag has no `:`).
    pub fn parse(value: &str) -> Result<Self, NameError> {
        if value.contains(':') {
            Digest::parse(value).map(Self::Digest)
        } else {
            Tag::parse(value).map(Self::Tag)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Tag(tag) => tag.as_str(),
            Self::Digest(digest) => digest.as_str(),
        }
    }

    pub fn digest(&self) -> Option<&Digest> {
        match self {
            Self::Digest(digest) => Some(digest),
            Self::Tag(_) => None,
        }
    }
}

impl From<Tag> for Reference {
    fn from(tag: Tag) -> Self {
        Self::Tag(tag)
    }
}

impl From<Digest> for Reference {
    fn from(digest: Digest) -> Self {
        Self::Digest(digest)
    }
}

macro_rules! string_like {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(value: String) -> Result<Self, NameError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_string()
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(value: &str) -> Result<Self, NameError> {
                Self::parse(value)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.as_str() == other
            }
        }
    )*};
}

string_like!(Repository, Tag, Digest, Reference);

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn repositories_follow_the_distribution_grammar() {
        for good in [
            "nginx",
            "library/nginx",
            "a/b/c",
            "my-app",
            "my__app",
            "a.b_c--d",
        ] {
            assert!(Repository::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Library/nginx",
            "a//b",
            "/a",
            "a/",
            "../victim/app",
            "a/%2e%2e/b",
            "a?x",
            "a#b",
            "a\nb",
            "-a",
            "a_",
        ] {
            assert!(Repository::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Repository::parse(&"a".repeat(256)).is_err());
        assert_eq!(
            Repository::parse("team/app").map(|r| r.namespace().to_string()),
            Ok("team".to_string())
        );
    }

    #[test]
    fn tags_and_digests_follow_their_grammar() {
        for good in ["latest", "v1.2.3", "_x", "1.0-rc.1"] {
            assert!(Tag::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "a/b",
            "../../x",
            "a b",
            &"t".repeat(129),
        ] {
            assert!(Tag::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Digest::parse(&format!("sha256:{HEX}")).is_ok());
        for bad in [
            "sha256:abc",
            &format!("sha256:{}", HEX.to_uppercase()),
            &format!("md5:{HEX}"),
            &format!("sha256:{HEX}/../x"),
            "sha256",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn references_are_tags_or_digests_and_round_trip_as_strings() {
        let digest = format!("sha256:{HEX}");
        assert!(matches!(Reference::parse("v1"), Ok(Reference::Tag(_))));
        assert!(matches!(
            Reference::parse(&digest),
            Ok(Reference::Digest(_))
        ));
        assert!(Reference::parse("sha256:nope").is_err());
        let json =
            serde_json::to_string(&Reference::parse(&digest).expect("digest")).expect("json");
        assert_eq!(json, format!("\"{digest}\""));
        assert!(serde_json::from_str::<Tag>("\"../x\"").is_err());
        let error = Tag::parse(&"x/".repeat(500)).expect_err("too long");
        assert!(error.to_string().len() < 400, "{error}");
    }
}
