//! Tags as semantic versions, for the `semver` filter: a range as users write it (npm's
//! `>=1.4 <2`, cargo's `>=1.4, <2`, `^1.2`, `~3.1`, `1.x`, `1.2 - 1.4`, alternatives with
//! `||`, a leading `v` anywhere), matched by the semver crate. Tags are read leniently, as
//! registries tag (`v1.25`, `1.0`, `2`): missing components are zero. Pre-releases are
//! selected only when asked: by a range that names one of the same version (`>=1.4.0-rc0`,
//! the rule of npm and cargo), or with `prerelease` on, which weighs a pre-release as the
//! version it precedes is weighed (npm's `includePrerelease`: `^1.2` takes `1.4.0-rc1`).

use semver::{Comparator, Op, Prerelease, Version, VersionReq};

/// A compiled range: any of its alternatives.
#[derive(Debug, Clone)]
pub struct VersionRange {
    alternatives: Vec<VersionReq>,
    prerelease: bool,
}

impl VersionRange {
    /// [`Self::parse`] with pre-releases weighed as versions.
    pub fn with_prereleases(text: &str) -> Result<Self, String> {
        Ok(Self {
            prerelease: true,
            ..Self::parse(text)?
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("an empty range; write one such as >=1.4 <2 or ^1.2".into());
        }
        text.split("||")
            .map(|alternative| {
                let cargo = cargo_syntax(alternative.trim());
                VersionReq::parse(&cargo)
                    .map_err(|e| format!("{:?} is not a version range: {e}", alternative.trim()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|alternatives| Self {
                alternatives,
                prerelease: false,
            })
    }

    /// Whether the tag is a version in the range; a tag that is no version is not.
    pub fn selects(&self, tag: &str) -> bool {
        let Some(version) = tag_version(tag) else {
            return false;
        };
        self.alternatives.iter().any(|req| {
            if self.prerelease && !version.pre.is_empty() {
                req.comparators.iter().all(|c| weighs(c, &version))
            } else {
                req.matches(&version)
            }
        })
    }
}

/// A comparator on any version, pre-releases ordered as semver orders them (`1.4.0-rc1` is
/// after `1.3.9` and before `1.4.0`); a partial version's bound is the least version it
/// covers (`<1.4` is below `1.4.0-0`).
fn weighs(c: &Comparator, v: &Version) -> bool {
    let least = |major: u64, minor: u64, patch: u64| Version {
        pre: Prerelease::new("0").unwrap_or(Prerelease::EMPTY),
        ..Version::new(major, minor, patch)
    };
    let (major, minor, patch) = (c.major, c.minor, c.patch);
    let exact = Version {
        pre: c.pre.clone(),
        ..Version::new(major, minor.unwrap_or(0), patch.unwrap_or(0))
    };
    // The least version past everything the comparator's partial version covers.
    let past = match (minor, patch) {
        (None, _) => least(major + 1, 0, 0),
        (Some(minor), None) => least(major, minor + 1, 0),
        (Some(minor), Some(patch)) => least(major, minor, patch + 1),
    };
    let from = if minor.is_none() || patch.is_none() {
        least(major, minor.unwrap_or(0), 0)
    } else {
        exact.clone()
    };
    match c.op {
        Op::Exact | Op::Wildcard if patch.is_some() && c.op == Op::Exact => *v == exact,
        Op::Exact | Op::Wildcard => from <= *v && *v < past,
        Op::Greater if patch.is_some() => *v > exact,
        Op::Greater => *v >= past,
        Op::GreaterEq => *v >= from,
        Op::Less => *v < from,
        Op::LessEq if patch.is_some() => *v <= exact,
        Op::LessEq => *v < past,
        Op::Tilde => {
            let upper = match minor {
                None => least(major + 1, 0, 0),
                Some(minor) => least(major, minor + 1, 0),
            };
            from <= *v && *v < upper
        }
        Op::Caret => {
            let upper = match (major, minor, patch) {
                (0, None, _) => least(1, 0, 0),
                (0, Some(0), None) => least(0, 1, 0),
                (0, Some(0), Some(patch)) => least(0, 0, patch + 1),
                (0, Some(minor), _) => least(0, minor + 1, 0),
                (major, _, _) => least(major + 1, 0, 0),
            };
            from <= *v && *v < upper
        }
        _ => false,
    }
}

/// A tag as a version: an optional `v`, one to three numbers, an optional pre-release.
pub fn tag_version(tag: &str) -> Option<Version> {
    let text = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
    let (core, pre) = match text.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (text, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    if numbers.is_empty()
        || numbers.len() > 3
        || numbers
            .iter()
            .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut full = numbers.join(".");
    for _ in numbers.len()..3 {
        full.push_str(".0");
    }
    if let Some(pre) = pre {
        full.push('-');
        full.push_str(pre);
    }
    Version::parse(&full).ok()
}

/// npm's spellings in cargo's: comparators separated by spaces become comma-separated, a
/// hyphen range `a - b` becomes `>=a, <=b`, and `v` prefixes go.
fn cargo_syntax(alternative: &str) -> String {
    let words: Vec<&str> = alternative
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let bare = |w: &str| {
        let (op, version) = w.split_at(w.find(|c: char| c.is_ascii_alphanumeric()).unwrap_or(0));
        let version = version.strip_prefix(['v', 'V']).unwrap_or(version);
        format!("{op}{version}")
    };
    if let [low, "-", high] = words.as_slice() {
        return format!(">={}, <={}", bare(low), bare(high));
    }
    // An operator written apart from its version (`>= 1.4`) joins it.
    let mut comparators: Vec<String> = Vec::new();
    let mut pending = String::new();
    for word in words {
        if word.chars().all(|c| "<>=~^".contains(c)) {
            pending.push_str(word);
        } else {
            comparators.push(format!("{pending}{}", bare(word)));
            pending.clear();
        }
    }
    comparators.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAGS: [&str; 7] = [
        "0.9",
        "1.0",
        "1.2.3",
        "1.4.0-rc1",
        "1.4.0",
        "2.0.0",
        "latest",
    ];

    fn selected(range: &str) -> Vec<&'static str> {
        let range = VersionRange::parse(range).expect("a range");
        TAGS.into_iter().filter(|t| range.selects(t)).collect()
    }

    #[test]
    fn ranges_select_the_versions_they_name() {
        assert_eq!(selected(">=1.4 <2"), ["1.4.0"]);
        assert_eq!(selected(">=1.4, <2"), ["1.4.0"]);
        assert_eq!(selected(">= v1.4 < v2"), ["1.4.0"]);
        assert_eq!(selected("^1.2"), ["1.2.3", "1.4.0"]);
        assert_eq!(selected("~1.2"), ["1.2.3"]);
        assert_eq!(selected("^1"), ["1.0", "1.2.3", "1.4.0"]);
        assert_eq!(selected("1.x"), ["1.0", "1.2.3", "1.4.0"]);
        assert_eq!(selected("<1"), ["0.9"]);
        assert_eq!(selected("1.0 - 1.4"), ["1.0", "1.2.3", "1.4.0"]);
        assert_eq!(selected("<1 || >=2"), ["0.9", "2.0.0"]);
        assert_eq!(selected("*"), ["0.9", "1.0", "1.2.3", "1.4.0", "2.0.0"]);
    }

    #[test]
    fn pre_releases_only_when_the_range_names_one() {
        assert_eq!(selected(">=1.4.0-0 <2"), ["1.4.0-rc1", "1.4.0"]);
        assert_eq!(selected("=1.4.0-rc1"), ["1.4.0-rc1"]);
        assert_eq!(
            selected(">=1.2.0-0 <2"),
            ["1.2.3", "1.4.0"],
            "1.2.0's alone"
        );
    }

    #[test]
    fn pre_releases_asked_for_are_weighed_as_versions() {
        let with = |range: &str| {
            let range = VersionRange::with_prereleases(range).expect("a range");
            TAGS.into_iter()
                .filter(|t| range.selects(t))
                .collect::<Vec<_>>()
        };
        assert_eq!(with("^1.2"), ["1.2.3", "1.4.0-rc1", "1.4.0"]);
        assert_eq!(
            with(">=1.4"),
            ["1.4.0-rc1", "1.4.0", "2.0.0"],
            "a 1.4 candidate"
        );
        assert_eq!(with(">=1.4.0"), ["1.4.0", "2.0.0"], "before 1.4.0 itself");
        assert_eq!(with("<1.4.0"), ["0.9", "1.0", "1.2.3", "1.4.0-rc1"]);
        assert_eq!(with("<1.4"), ["0.9", "1.0", "1.2.3"]);
        assert_eq!(with("<=1.4"), ["0.9", "1.0", "1.2.3", "1.4.0-rc1", "1.4.0"]);
        assert_eq!(with("~1.4"), ["1.4.0-rc1", "1.4.0"]);
        assert_eq!(with("1.4.*"), ["1.4.0-rc1", "1.4.0"]);
        assert_eq!(with("=1.4.0"), ["1.4.0"]);
        assert_eq!(with(">1.2.3 <2"), ["1.4.0-rc1", "1.4.0"]);
        assert_eq!(with("^0"), ["0.9"]);
    }

    #[test]
    fn tags_read_leniently_and_bad_ranges_are_refused() {
        assert_eq!(tag_version("v1.25"), Version::parse("1.25.0").ok());
        assert_eq!(tag_version("2"), Version::parse("2.0.0").ok());
        assert_eq!(
            tag_version("1.2.3-alpine"),
            Version::parse("1.2.3-alpine").ok()
        );
        for not_a_version in ["latest", "1.2.3.4", "1..2", "v", "sha256-abc", "1.2a"] {
            assert_eq!(tag_version(not_a_version), None, "{not_a_version}");
        }
        assert!(VersionRange::parse("").is_err());
        assert!(VersionRange::parse(">=banana").is_err());
    }
}
