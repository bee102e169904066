//! A policy's filters, Harbor's `ReplicationFilter`, and the selection they make once compiled:
//! which repositories, tags, kinds and labels a policy replicates. Validation and the lister
//! both read filters through [`Selection::of`], so they cannot disagree.

use serde::{Deserialize, Serialize};

use super::resource::ResourceType;
use super::validation::ValidationError;
use super::versions::VersionRange;

/// The most tags a newest filter keeps per repository.
pub const MAX_NEWEST: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FilterType {
    Name,
    Tag,
    Label,
    Resource,
    /// Ferry's addition: tags that are versions in a range (`>=1.4 <2`, `^1.2`).
    Semver,
    /// Ferry's addition: the newest N tags of each repository, after the other filters.
    Newest,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Decoration {
    #[default]
    Matches,
    Excludes,
}

/// Harbor's `ReplicationFilter`: `value` is a string, or for labels an array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Filter {
    #[serde(rename = "type")]
    pub kind: FilterType,
    /// A pattern (`name`, `tag`), an artifact type (`resource`: image, chart, artifact or, as
    /// Ferry's addition, cnab, wasm, sbom, signature, attestation, opa or a type
    /// processors.yaml registers), label names (`label`, an array), and Ferry's additions: a
    /// version range (`semver`: `">=1.4 <2"`, or `{"range": "^1.2", "prerelease": true}`) or
    /// a number of tags (`newest`: 5).
    #[serde(default)]
    pub value: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoration: Option<Decoration>,
}

impl Filter {
    pub fn decoration(&self) -> Decoration {
        self.decoration.unwrap_or_default()
    }
}

/// Compiles a filter pattern with doublestar semantics: `*` and `?` stop at `/`, `**` crosses it,
/// `{a,b}` and `[a-z]` as usual, the whole string must match. An empty pattern matches anything.
pub fn compile_pattern(pattern: &str) -> Result<globset::GlobMatcher, String> {
    let pattern = if pattern.is_empty() { "**" } else { pattern };
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|e| format!("is not a valid pattern: {}", e.kind()))
}

/// A name or tag filter, compiled.
#[derive(Debug, Clone)]
struct PatternFilter {
    matcher: globset::GlobMatcher,
    decoration: Decoration,
}

impl PatternFilter {
    fn accepts(&self, candidate: &str) -> bool {
        self.matcher.is_match(candidate) == (self.decoration == Decoration::Matches)
    }
}

/// What a policy's filters select; every filter must accept (Harbor's semantics).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    name: Option<PatternFilter>,
    tags: Vec<PatternFilter>,
    /// The kind asked for, and whether it is kept (`matches`) or left out (`excludes`).
    resource: Option<(ResourceType, Decoration)>,
    labels: Vec<(Vec<String>, Decoration)>,
    versions: Vec<(VersionRange, Decoration)>,
    newest: Option<usize>,
    /// A `matches` name filter without wildcards: the one repository to look at.
    literal_name: Option<String>,
    /// The pattern of a `matches` name filter.
    name_pattern: Option<String>,
}

impl Selection {
    /// Compiles filters, naming the first one that does not compile (`filters[i].value`). At
    /// most one name and one resource filter: two of either could only contradict each other.
    pub fn of(filters: &[Filter]) -> Result<Self, ValidationError> {
        let mut selection = Self::default();
        for (i, filter) in filters.iter().enumerate() {
            let field = format!("filters[{i}].value");
            let text = || {
                filter
                    .value
                    .as_str()
                    .ok_or_else(|| ValidationError::new(&field, "must be a string"))
            };
            let compiled = |pattern: &str| {
                compile_pattern(pattern)
                    .map(|matcher| PatternFilter {
                        matcher,
                        decoration: filter.decoration(),
                    })
                    .map_err(|reason| ValidationError::new(&field, reason))
            };
            match filter.kind {
                FilterType::Name => {
                    if selection.name.is_some() {
                        return Err(ValidationError::new(
                            "filters",
                            "at most one name filter is allowed",
                        ));
                    }
                    let pattern = text()?;
                    if filter.decoration() == Decoration::Matches {
                        selection.name_pattern = Some(pattern.to_string());
                        if is_literal(pattern) {
                            selection.literal_name = Some(pattern.to_string());
                        }
                    }
                    selection.name = Some(compiled(pattern)?);
                }
                // `matches ""` accepts every tag (Harbor's UI sends it): nothing to judge.
                FilterType::Tag
                    if text()?.is_empty() && filter.decoration() == Decoration::Matches => {}
                FilterType::Tag => selection.tags.push(compiled(text()?)?),
                FilterType::Semver => {
                    // A range, or `{"range": ..., "prerelease": true}` to weigh pre-releases.
                    let (range, prerelease) = match &filter.value {
                        serde_json::Value::Object(o) => (
                            o.get("range").and_then(|r| r.as_str()).ok_or_else(|| {
                                ValidationError::new(format!("{field}.range"), "must be a string")
                            })?,
                            o.get("prerelease")
                                .and_then(|p| p.as_bool())
                                .unwrap_or(false),
                        ),
                        _ => (text()?, false),
                    };
                    let compile = if prerelease {
                        VersionRange::with_prereleases
                    } else {
                        VersionRange::parse
                    };
                    let range =
                        compile(range).map_err(|reason| ValidationError::new(&field, reason))?;
                    selection.versions.push((range, filter.decoration()));
                }
                FilterType::Newest => {
                    if selection.newest.is_some() {
                        return Err(ValidationError::new(
                            "filters",
                            "at most one newest filter is allowed",
                        ));
                    }
                    if filter.decoration() == Decoration::Excludes {
                        return Err(ValidationError::new(
                            format!("filters[{i}].decoration"),
                            "a newest filter keeps the newest tags; it has no excludes",
                        ));
                    }
                    let count = filter
                        .value
                        .as_u64()
                        .or_else(|| filter.value.as_str().and_then(|v| v.trim().parse().ok()))
                        .filter(|n| (1..=MAX_NEWEST).contains(n))
                        .ok_or_else(|| {
                            ValidationError::new(
                                &field,
                                format!("must be a number of tags from 1 to {MAX_NEWEST}"),
                            )
                        })?;
                    selection.newest = usize::try_from(count).ok();
                }
                FilterType::Resource => {
                    if selection.resource.is_some() {
                        return Err(ValidationError::new(
                            "filters",
                            "at most one resource filter is allowed",
                        ));
                    }
                    let kind = match text()? {
                        "" => continue,
                        name => ResourceType::named(name)
                            .map_err(|e| ValidationError::new(&field, e.to_string()))?,
                    };
                    selection.resource = Some((kind, filter.decoration()));
                }
                FilterType::Label => {
                    let values = filter.value.as_array().ok_or_else(|| {
                        ValidationError::new(&field, "must be an array of label names")
                    })?;
                    let mut labels = Vec::new();
                    for (j, label) in values.iter().enumerate() {
                        match label.as_str().filter(|l| !l.is_empty()) {
                            Some(label) => labels.push(label.to_string()),
                            None => {
                                return Err(ValidationError::new(
                                    format!("{field}[{j}]"),
                                    "must be a non-empty string",
                                ))
                            }
                        }
                    }
                    if !labels.is_empty() {
                        selection.labels.push((labels, filter.decoration()));
                    }
                }
            }
        }
        Ok(selection)
    }

    pub fn repository(&self, name: &str) -> bool {
        self.name.as_ref().is_none_or(|f| f.accepts(name))
    }

    /// The tag and semver filters: every one must accept the tag.
    pub fn tag(&self, tag: &str) -> bool {
        self.tags.iter().all(|f| f.accepts(tag))
            && self.versions.iter().all(|(range, decoration)| {
                range.selects(tag) == (*decoration == Decoration::Matches)
            })
    }

    /// Whether an artifact named by digest alone can be within the filters: only when none of
    /// them judges a tag, a kind or labels (a digest has no tag, and its kind and labels are
    /// read from a tag's listing).
    pub fn selects_digests(&self) -> bool {
        self.tags.is_empty()
            && self.versions.is_empty()
            && self.newest.is_none()
            && self.resource.is_none()
            && self.labels.is_empty()
    }

    /// How many of each repository's tags a newest filter keeps.
    pub fn newest(&self) -> Option<usize> {
        self.newest
    }

    /// The resource and label filters, on what the source said of an artifact: `matches` a
    /// label list keeps artifacts with all of them, `excludes` leaves out those with any.
    pub fn artifact(&self, kind: &ResourceType, labels: &[String]) -> bool {
        let kind_ok = match &self.resource {
            Some((wanted, Decoration::Matches)) => kind.selected_by(wanted),
            Some((unwanted, Decoration::Excludes)) => !kind.selected_by(unwanted),
            None => true,
        };
        let has = |label: &String| labels.contains(label);
        kind_ok
            && self
                .labels
                .iter()
                .all(|(listed, decoration)| match decoration {
                    Decoration::Matches => listed.iter().all(has),
                    Decoration::Excludes => !listed.iter().any(has),
                })
    }

    /// The kind of each artifact is needed (a resource filter).
    pub fn needs_kind(&self) -> bool {
        self.resource.is_some()
    }

    /// The type a resource filter names, to check it is one Ferry knows.
    pub fn resource_type(&self) -> Option<&ResourceType> {
        self.resource.as_ref().map(|(kind, _)| kind)
    }

    /// The labels of each artifact are needed (a label filter).
    pub fn needs_labels(&self) -> bool {
        !self.labels.is_empty()
    }

    /// The one repository a literal `matches` name filter names.
    pub fn literal_name(&self) -> Option<&str> {
        self.literal_name.as_deref()
    }

    /// The namespace a `matches` name filter fixes: its first path component, when the
    /// pattern has more than one and the first has no wildcard (`library/*`, `org/**`).
    pub fn namespace(&self) -> Option<&str> {
        let pattern = self.name_pattern.as_deref()?;
        let (first, _) = pattern.split_once('/')?;
        is_literal(first).then_some(first).filter(|f| !f.is_empty())
    }
}

fn is_literal(pattern: &str) -> bool {
    !pattern.is_empty() && !pattern.contains(['*', '?', '[', '{', '\\'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(filters: serde_json::Value) -> Result<Selection, ValidationError> {
        Selection::of(&serde_json::from_value::<Vec<Filter>>(filters).expect("filters"))
    }

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn resource_and_label_filters_follow_harbor() {
        let charts = selection(serde_json::json!([
            {"type": "resource", "value": "chart"},
            {"type": "label", "value": ["team=payments", "stable"]},
            {"type": "label", "value": ["deprecated"], "decoration": "excludes"},
        ]))
        .expect("filters");
        assert!(charts.needs_kind() && charts.needs_labels());
        assert!(charts.artifact(
            &ResourceType::CHART,
            &labels(&["team=payments", "team", "stable"])
        ));
        assert!(!charts.artifact(&ResourceType::IMAGE, &labels(&["team=payments", "stable"])));
        assert!(!charts.artifact(&ResourceType::CHART, &labels(&["team=payments"])));
        assert!(!charts.artifact(
            &ResourceType::CHART,
            &labels(&["team=payments", "stable", "deprecated"])
        ));
        let no_images = selection(serde_json::json!([
            {"type": "resource", "value": "image", "decoration": "excludes"},
        ]))
        .expect("filters");
        assert!(!no_images.artifact(&ResourceType::IMAGE, &[]));
        assert!(no_images.artifact(&ResourceType::ARTIFACT, &[]));
        assert!(!no_images.needs_labels());
        let others = selection(serde_json::json!([{"type": "resource", "value": "artifact"}]))
            .expect("filters");
        assert!(others.artifact(&ResourceType::CNAB, &[]));
        assert!(!others.artifact(&ResourceType::IMAGE, &[]));
        let model = ResourceType::named("model").expect("a name");
        let models = selection(serde_json::json!([{"type": "resource", "value": "MODEL"}]))
            .expect("filters");
        assert!(models.artifact(&model, &[]));
        assert!(!models.artifact(&ResourceType::ARTIFACT, &[]));
        let error = selection(serde_json::json!([{"type": "resource", "value": "no such"}]))
            .expect_err("not a name");
        assert_eq!(error.field, "filters[0].value");
    }

    #[test]
    fn semver_and_newest_filters_compile_and_select() {
        let releases = selection(serde_json::json!([
            {"type": "semver", "value": ">=1.4 <2"},
            {"type": "newest", "value": 3},
        ]))
        .expect("filters");
        assert!(releases.tag("1.4.0") && releases.tag("v1.9"));
        assert!(!releases.tag("1.4.0-rc1") && !releases.tag("2.0.0") && !releases.tag("latest"));
        assert_eq!(releases.newest(), Some(3));
        assert!(!releases.selects_digests());
        let any_tag = selection(serde_json::json!([
            {"type": "name", "value": "team/**"}, {"type": "tag", "value": ""},
        ]))
        .expect("filters");
        assert!(any_tag.selects_digests() && any_tag.tag("anything"));
        let candidates = selection(serde_json::json!([
            {"type": "semver", "value": {"range": ">=1.4 <2", "prerelease": true}},
        ]))
        .expect("filters");
        assert!(candidates.tag("1.4.0-rc1") && candidates.tag("1.4.0"));
        assert_eq!(
            selection(serde_json::json!([{"type": "semver", "value": {"prerelease": true}}]))
                .expect_err("no range")
                .field,
            "filters[0].value.range"
        );
        let no_ones = selection(serde_json::json!([
            {"type": "semver", "value": "^1", "decoration": "excludes"},
        ]))
        .expect("filters");
        assert!(no_ones.tag("2.0.0") && no_ones.tag("latest") && !no_ones.tag("1.2.3"));
        assert_eq!(
            selection(serde_json::json!([{"type": "newest", "value": "5"}]))
                .expect("a numeric string")
                .newest(),
            Some(5)
        );
        let field = |filters| selection(filters).expect_err("refused").field;
        assert_eq!(
            field(serde_json::json!([{"type": "semver", "value": ">=pear"}])),
            "filters[0].value"
        );
        assert_eq!(
            field(serde_json::json!([{"type": "newest", "value": 0}])),
            "filters[0].value"
        );
        assert_eq!(
            field(serde_json::json!([{"type": "newest", "value": "many"}])),
            "filters[0].value"
        );
        assert_eq!(
            field(serde_json::json!([{"type": "newest", "value": 2, "decoration": "excludes"}])),
            "filters[0].decoration"
        );
        assert_eq!(
            field(
                serde_json::json!([{"type": "newest", "value": 2}, {"type": "newest", "value": 3}])
            ),
            "filters"
        );
    }

    #[test]
    fn name_and_tag_filters_match_and_exclude() {
        let included = selection(serde_json::json!([
            {"type": "name", "value": "library/**"},
            {"type": "tag", "value": "1.?"},
            {"type": "tag", "value": "1.9", "decoration": "excludes"},
        ]))
        .expect("filters");
        assert!(included.repository("library/hello-world"));
        assert!(included.repository("library/my/hello-world"));
        assert!(!included.repository("google/hello-world"));
        assert!(included.tag("1.0"));
        assert!(!included.tag("1.01"));
        assert!(!included.tag("1.9"));
        assert_eq!(included.literal_name(), None);
        let excluded = selection(serde_json::json!([
            {"type": "name", "value": "library/internal/**", "decoration": "excludes"},
        ]))
        .expect("filters");
        assert!(excluded.repository("library/app"));
        assert!(!excluded.repository("library/internal/tool"));
    }

    #[test]
    fn only_a_literal_matches_name_goes_straight_to_its_repository() {
        let literal = |filters| selection(filters).expect("filters").literal_name;
        assert_eq!(
            literal(serde_json::json!([{"type": "name", "value": "library/nginx"}])),
            Some("library/nginx".into())
        );
        assert_eq!(
            literal(serde_json::json!([{"type": "name", "value": "library/*"}])),
            None
        );
        assert_eq!(
            literal(serde_json::json!([{"type": "name", "value": "{a,b}/c"}])),
            None
        );
        assert_eq!(
            literal(serde_json::json!([
                {"type": "name", "value": "library/nginx", "decoration": "excludes"}
            ])),
            None
        );
    }

    #[test]
    fn what_does_not_compile_is_named() {
        let field = |filters| selection(filters).expect_err("refused").field;
        assert_eq!(
            field(serde_json::json!([{"type": "tag", "value": "[a"}])),
            "filters[0].value"
        );
        assert_eq!(
            field(serde_json::json!([{"type": "tag", "value": 3}])),
            "filters[0].value"
        );
        assert_eq!(
            field(
                serde_json::json!([{"type": "tag", "value": "v*"}, {"type": "resource", "value": "v m"}])
            ),
            "filters[1].value"
        );
        assert_eq!(
            field(serde_json::json!([{"type": "label", "value": ["a", ""]}])),
            "filters[0].value[1]"
        );
        assert_eq!(
            field(
                serde_json::json!([{"type": "name", "value": "a"}, {"type": "name", "value": "b"}])
            ),
            "filters"
        );
    }
}
