//! A chart repository's `index.yaml` (Helm's `IndexFile`: `apiVersion`, `entries` of chart name
//! to versions, each with its `urls`, `created` and `digest`; ChartMuseum may serve it as JSON,
//! which YAML reads too). Read leniently: only what Ferry uses, unknown keys ignored (Helm's own
//! reader is strict and fails a whole index for one of them).

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Index {
    #[serde(default)]
    entries: BTreeMap<String, Vec<Entry>>,
}

/// One chart version of the index.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Entry {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub urls: Vec<String>,
    /// Hex sha256 of the package, no algorithm prefix (some write `sha256:` anyway).
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub removed: bool,
}

impl Entry {
    /// The OCI tag of the version, as `helm push` writes it: `+` (semver build metadata) is not
    /// allowed in a tag and becomes `_`.
    pub fn tag(&self) -> String {
        tag_of(&self.version)
    }

    /// The package's sha256 in hex, as the index says it.
    pub fn digest_hex(&self) -> Option<&str> {
        self.digest
            .as_deref()
            .map(|d| d.strip_prefix("sha256:").unwrap_or(d))
            .filter(|d| !d.is_empty())
    }
}

/// The OCI tag `helm push` gives `version`.
pub fn tag_of(version: &str) -> String {
    version.replace('+', "_")
}

#[derive(Debug, thiserror::Error)]
#[error("index.yaml is not a chart repository index: {0}")]
pub struct IndexError(String);

impl Index {
    pub fn parse(bytes: &[u8]) -> Result<Self, IndexError> {
        let mut index: Index =
            serde_yaml_ng::from_slice(bytes).map_err(|e| IndexError(e.to_string()))?;
        for (name, versions) in index.entries.iter_mut() {
            versions.retain(|v| !v.removed && !v.version.is_empty() && !v.urls.is_empty());
            for version in versions.iter_mut() {
                if version.name.is_empty() {
                    version.name = name.clone();
                }
            }
        }
        index.entries.retain(|_, versions| !versions.is_empty());
        Ok(index)
    }

    /// The charts' names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The versions of `chart`.
    pub fn versions(&self, chart: &str) -> &[Entry] {
        self.entries
            .get(chart)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The version of `chart` whose tag is `tag`.
    pub fn by_tag(&self, chart: &str, tag: &str) -> Option<&Entry> {
        self.versions(chart).iter().find(|e| e.tag() == tag)
    }
}

/// Where a package of the repository at `base` is, as Helm resolves `urls[0]`: an absolute URL
/// as it is; a relative one against the repository's URL with a trailing slash (whose query,
/// if any, replaces the package's).
pub fn resolve(base: &url::Url, reference: &str) -> Result<url::Url, url::ParseError> {
    if let Ok(absolute) = url::Url::parse(reference) {
        return Ok(absolute);
    }
    let mut directory = base.clone();
    if !directory.path().ends_with('/') {
        let path = format!("{}/", directory.path());
        directory.set_path(&path);
    }
    let mut resolved = directory.join(reference)?;
    resolved.set_query(base.query());
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"
apiVersion: v1
entries:
  nginx:
  - apiVersion: v2
    name: nginx
    version: 1.2.3+build.5
    digest: 0f3a
    created: "2024-01-01T00:00:00Z"
    urls:
    - charts/nginx-1.2.3+build.5.tgz
    somethingNew: ignored
  - name: nginx
    version: 1.0.0
    urls: [https://cdn.example/nginx-1.0.0.tgz]
    removed: true
  empty: []
generated: "2024-01-01T00:00:00Z"
serverInfo: {}
"#;

    #[test]
    fn an_index_is_read_leniently() {
        let index = Index::parse(INDEX.as_bytes()).expect("index");
        assert_eq!(index.names().collect::<Vec<_>>(), vec!["nginx"]);
        let versions = index.versions("nginx");
        assert_eq!(versions.len(), 1, "the removed version is left out");
        assert_eq!(versions[0].tag(), "1.2.3_build.5");
        assert_eq!(versions[0].digest_hex(), Some("0f3a"));
        assert!(index.by_tag("nginx", "1.2.3_build.5").is_some());
        let json = r#"{"apiVersion":"v1","entries":{"a":[{"name":"a","version":"0.1.0","urls":["a-0.1.0.tgz"]}]}}"#;
        assert_eq!(
            Index::parse(json.as_bytes())
                .expect("json")
                .versions("a")
                .len(),
            1
        );
        assert!(Index::parse(b"entries: [1, 2]").is_err());
    }

    #[test]
    fn packages_resolve_as_helm_resolves_them() {
        let base = url::Url::parse("https://charts.example/stable?sig=1").expect("url");
        assert_eq!(
            resolve(&base, "charts/a-1.0.0.tgz")
                .expect("relative")
                .as_str(),
            "https://charts.example/stable/charts/a-1.0.0.tgz?sig=1"
        );
        assert_eq!(
            resolve(&base, "/a-1.0.0.tgz").expect("rooted").as_str(),
            "https://charts.example/a-1.0.0.tgz?sig=1"
        );
        assert_eq!(
            resolve(&base, "https://cdn.example/a.tgz")
                .expect("absolute")
                .as_str(),
            "https://cdn.example/a.tgz"
        );
    }
}
