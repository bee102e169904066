//! The `newest` filter's rule: of a repository's tags that pass the other filters, the N whose
//! images were created last (the config's `created`, or what the source knows of it); a tag
//! without a time counts by the order the source listed it, later as newer, after every tag
//! with one.

use std::collections::HashSet;

use time::OffsetDateTime;

/// The newest `count` of `candidates` (tag and creation time, in the source's order).
pub fn newest_tags(
    candidates: Vec<(String, Option<OffsetDateTime>)>,
    count: usize,
) -> HashSet<String> {
    let mut ranked: Vec<(usize, String, Option<OffsetDateTime>)> = candidates
        .into_iter()
        .enumerate()
        .map(|(position, (tag, created))| (position, tag, created))
        .collect();
    // Newest first: a time before none, later times first, then later positions.
    ranked.sort_by(|a, b| {
        b.2.is_some()
            .cmp(&a.2.is_some())
            .then(b.2.cmp(&a.2))
            .then(b.0.cmp(&a.0))
    });
    ranked
        .into_iter()
        .take(count)
        .map(|(_, tag, _)| tag)
        .collect()
}

/// A creation time as images and annotations write it (RFC 3339).
pub fn created_at(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<OffsetDateTime> {
        created_at(text)
    }

    #[test]
    fn the_newest_by_creation_then_by_the_source_order() {
        let candidates = vec![
            ("1.0".to_string(), at("2026-01-01T00:00:00Z")),
            ("2.0".to_string(), at("2026-03-01T00:00:00Z")),
            ("1.5".to_string(), at("2026-02-01T00:00:00.5+01:00")),
            ("edge".to_string(), None),
            ("nightly".to_string(), None),
        ];
        let pick = |n| {
            let mut tags: Vec<String> = newest_tags(candidates.clone(), n).into_iter().collect();
            tags.sort();
            tags
        };
        assert_eq!(pick(2), ["1.5", "2.0"]);
        assert_eq!(pick(4), ["1.0", "1.5", "2.0", "nightly"]);
        assert_eq!(pick(10).len(), 5);
        assert_eq!(
            newest_tags(vec![("a".into(), None), ("b".into(), None)], 1),
            HashSet::from(["b".to_string()]),
            "without times, the later listed"
        );
        assert_eq!(created_at("yesterday"), None);
    }
}
