//! Helm charts and static chart repositories for the tests.
//!
//! - [`Chart`]: a chart's metadata and a seed, packed into a real Helm package (a gzip'd tar of
//!   `<name>/Chart.yaml`, `<name>/values.yaml`, `<name>/templates/configmap.yaml`, as `helm
//!   package` writes it: `helm/helm@v3.21.4:pkg/chartutil/save.go`), byte for byte the same every
//!   time.
//! - [`ChartRepository`]: a static chart repository (the `.tgz` files and an `index.yaml` as `helm
//!   repo index` writes it: `helm/helm@v3.21.4:pkg/repo/index.go`) in a directory served by a real
//!   static HTTP server (`python3 -m http.server`).
//! - What the fakes and the tests read back from a package: its entries, its `Chart.yaml` as Helm
//!   loads it (`pkg/chart/loader/archive.go`, `pkg/chart/metadata.go`), and an `index.yaml` made
//!   of such metadata.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use serde_yaml_ng::Value as Yaml;

/// The gzip header's extra field `helm package` writes (`save.go`: `headerBytes`).
const GZIP_EXTRA: &[u8] = b"+aHR0cHM6Ly95b3V0dS5iZS96OVV6MWljandyTQo=";
/// The gzip header's comment `helm package` writes.
const GZIP_COMMENT: &[u8] = b"Helm";
/// The tar mtime of a chart with seed 0; a chart's is this plus its seed.
const MTIME_BASE: u64 = 1_700_000_000;

/// The lowercase hex SHA-256 of `bytes`, without an algorithm prefix: a chart's `digest` in an
/// index (Helm's `provenance.Digest`).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A Helm chart (`apiVersion: v2`, `type: application`) for the tests. The seed varies the
/// content of its `values.yaml` (so two charts of the same name and version can differ) and
/// fixes the time in its tar headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chart {
    pub name: String,
    pub version: String,
    pub description: String,
    pub app_version: Option<String>,
    pub home: Option<String>,
    /// (name, email), in order.
    pub maintainers: Vec<(String, String)>,
    /// (key, value); Chart.yaml holds them as a map, so sorted by key.
    pub annotations: Vec<(String, String)>,
    pub seed: u64,
}

impl Chart {
    /// A chart with `helm create`'s description and no optional field.
    pub fn new(name: &str, version: &str, seed: u64) -> Self {
        Self {
            name: name.to_string(),
            version: version.to_string(),
            description: "A Helm chart for Kubernetes".to_string(),
            app_version: None,
            home: None,
            maintainers: Vec::new(),
            annotations: Vec::new(),
            seed,
        }
    }

    pub fn description(mut self, description: &str) -> Self {
        self.description = description.to_string();
        self
    }

    pub fn app_version(mut self, app_version: &str) -> Self {
        self.app_version = Some(app_version.to_string());
        self
    }

    pub fn home(mut self, home: &str) -> Self {
        self.home = Some(home.to_string());
        self
    }

    /// One more maintainer (an empty email is left out of Chart.yaml).
    pub fn maintainer(mut self, name: &str, email: &str) -> Self {
        self.maintainers.push((name.to_string(), email.to_string()));
        self
    }

    /// One more annotation (a key given twice keeps the last value).
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.retain(|(k, _)| k != key);
        self.annotations.push((key.to_string(), value.to_string()));
        self
    }

    /// The package's file name, as `helm package` and repositories name it:
    /// `<name>-<version>.tgz`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }

    /// The time in the package's tar headers: `1_700_000_000 + seed` (Unix seconds).
    pub fn mtime(&self) -> u64 {
        MTIME_BASE.saturating_add(self.seed)
    }

    /// `Chart.yaml` as `helm package` writes it: the metadata marshalled by `sigs.k8s.io/yaml`
    /// (keys sorted, empty fields left out).
    pub fn chart_yaml(&self) -> String {
        let mut fields = Map::new();
        if !self.annotations.is_empty() {
            let sorted: BTreeMap<&str, &str> = (self.annotations.iter())
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            fields.insert("annotations".into(), serde_json::json!(sorted));
        }
        fields.insert("apiVersion".into(), "v2".into());
        if let Some(app_version) = &self.app_version {
            fields.insert("appVersion".into(), app_version.as_str().into());
        }
        if !self.description.is_empty() {
            fields.insert("description".into(), self.description.as_str().into());
        }
        if let Some(home) = &self.home {
            fields.insert("home".into(), home.as_str().into());
        }
        if !self.maintainers.is_empty() {
            let maintainers = self.maintainers.iter().map(|(name, email)| {
                let mut m = Map::new();
                if !email.is_empty() {
                    m.insert("email".into(), email.as_str().into());
                }
                m.insert("name".into(), name.as_str().into());
                Value::Object(m)
            });
            fields.insert("maintainers".into(), maintainers.collect());
        }
        fields.insert("name".into(), self.name.as_str().into());
        fields.insert("type".into(), "application".into());
        fields.insert("version".into(), self.version.as_str().into());
        to_yaml(&Value::Object(fields))
    }

    /// `values.yaml`: a few values, some of them the seed's.
    pub fn values_yaml(&self) -> String {
        let filler = sha256_hex(format!("{}:{}", self.name, self.seed).as_bytes());
        format!(
            "# Default values for {name}.\nreplicaCount: 1\nseed: {seed}\nimage:\n  repository: nginx\n  tag: \"1.{seed}\"\nfiller: {filler}\n",
            name = self.name,
            seed = self.seed,
        )
    }

    /// `templates/configmap.yaml`: a ConfigMap holding the seed.
    pub fn configmap_yaml(&self) -> String {
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\ndata:\n  seed: {{ .Values.seed | quote }}\n".to_string()
    }

    /// The chart packaged as `helm package` packages it (`save.go` `Save`/`writeTarContents`):
    /// a gzip stream (Helm's header extra field and comment, mtime 0) of a tar of regular files
    /// `<name>/Chart.yaml`, `<name>/values.yaml`, `<name>/templates/configmap.yaml`, mode 0644,
    /// uid/gid 0, no user or group names, mtime [`Chart::mtime`]. The same chart gives the same
    /// bytes every time.
    pub fn package(&self) -> Vec<u8> {
        let files = [
            ("Chart.yaml", self.chart_yaml()),
            ("values.yaml", self.values_yaml()),
            ("templates/configmap.yaml", self.configmap_yaml()),
        ];
        let gzip = flate2::GzBuilder::new()
            .mtime(0)
            .extra(GZIP_EXTRA)
            .comment(GZIP_COMMENT)
            .write(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gzip);
        for (path, content) in &files {
            let mut header = tar::Header::new_ustar();
            header
                .set_path(format!("{}/{path}", self.name))
                .expect("a chart file's path fits a tar header");
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(self.mtime());
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            tar.append(&header, content.as_bytes())
                .expect("writing to memory");
        }
        let gzip = tar.into_inner().expect("writing to memory");
        gzip.finish().expect("writing to memory")
    }

    /// The hex SHA-256 of [`Chart::package`]: its `digest` in an index.
    pub fn digest(&self) -> String {
        sha256_hex(&self.package())
    }
}

/// `value` as `sigs.k8s.io/yaml` marshals it: map keys sorted at every level.
fn to_yaml(value: &Value) -> String {
    serde_yaml_ng::to_string(&sorted(value)).unwrap_or_default()
}

/// `value` with the keys of every object in sorted order.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let keys: BTreeMap<&String, &Value> = map.iter().collect();
            Value::Object(
                keys.into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The regular files of a package (gzip'd tar), as (path, content) in order; Err with what is
/// wrong when it is no gzip'd tar.
pub fn package_entries(package: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let gzip = flate2::read::GzDecoder::new(package);
    if gzip.header().is_none() {
        return Err("gzip: invalid header".to_string());
    }
    let mut archive = tar::Archive::new(gzip);
    let mut entries = Vec::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|e| e.to_string())?;
        let path = path.to_string_lossy().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(|e| e.to_string())?;
        entries.push((path, content));
    }
    Ok(entries)
}

/// The top-level `Chart.yaml` of a package (`<dir>/Chart.yaml`, a subchart's left alone), as
/// Helm's loader finds it; Err with Helm's words when the package has none.
pub fn chart_yaml_of(package: &[u8]) -> Result<String, String> {
    let entries = package_entries(package)?;
    let found = entries.into_iter().find(|(path, _)| {
        let path = path.trim_start_matches("./");
        path.split_once('/').map(|(_, rest)| rest) == Some("Chart.yaml")
    });
    let (_, content) = found.ok_or_else(|| "Chart.yaml file is missing".to_string())?;
    let text = String::from_utf8_lossy(&content);
    Ok(text.trim_start_matches('\u{feff}').to_string())
}

/// How Helm's `Metadata` holds a Chart.yaml key.
#[derive(Clone, Copy)]
enum Kind {
    /// A string; sanitized (whitespace to spaces, unprintable characters dropped) when true.
    Text(bool),
    Texts,
    Maintainers,
    Flag,
    TextMap,
    /// Kept as it is (`dependencies`).
    Raw,
}

/// Helm's `Metadata` fields (`pkg/chart/metadata.go`), in its struct's order.
const METADATA: &[(&str, Kind)] = &[
    ("name", Kind::Text(true)),
    ("home", Kind::Text(true)),
    ("sources", Kind::Texts),
    ("version", Kind::Text(false)),
    ("description", Kind::Text(true)),
    ("keywords", Kind::Texts),
    ("maintainers", Kind::Maintainers),
    ("icon", Kind::Text(true)),
    ("apiVersion", Kind::Text(false)),
    ("condition", Kind::Text(true)),
    ("tags", Kind::Text(true)),
    ("appVersion", Kind::Text(true)),
    ("deprecated", Kind::Flag),
    ("annotations", Kind::TextMap),
    ("kubeVersion", Kind::Text(true)),
    ("dependencies", Kind::Raw),
    ("type", Kind::Text(false)),
];

/// A Chart.yaml as Helm loads it (`loader.LoadArchive`: `sigs.k8s.io/yaml` into `Metadata`,
/// then `Metadata.Validate`): the known fields (unknown keys dropped, keys matched
/// case-insensitively, scalars made strings, empty fields left out, a missing
/// `apiVersion` made `v1`); Err with Helm's error when it is not valid.
pub fn chart_metadata(chart_yaml: &str) -> Result<Map<String, Value>, String> {
    let yaml: Yaml = serde_yaml_ng::from_str(chart_yaml)
        .map_err(|e| format!("error converting YAML to JSON: {e}"))?;
    let Yaml::Mapping(mapping) = yaml else {
        return Err("cannot load Chart.yaml: not a map".to_string());
    };
    let mut metadata = Map::new();
    for (field, kind) in METADATA {
        let found = mapping.iter().find(|(k, _)| k.as_str() == Some(field));
        let found = found.or_else(|| {
            (mapping.iter())
                .find(|(k, _)| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case(field)))
        });
        if let Some(value) = found.map(|(_, v)| convert(field, *kind, v)).transpose()? {
            if !is_empty(&value) {
                metadata.insert(field.to_string(), value);
            }
        }
    }
    if !metadata.contains_key("apiVersion") {
        metadata.insert("apiVersion".into(), "v1".into());
    }
    validate(&metadata)?;
    Ok(metadata)
}

/// One Chart.yaml value as its `Metadata` field holds it.
fn convert(field: &str, kind: Kind, value: &Yaml) -> Result<Value, String> {
    let wrong = || format!("json: cannot unmarshal Chart.yaml field {field}");
    match kind {
        Kind::Text(sanitize) => {
            let text = scalar(value).ok_or_else(wrong)?;
            Ok(Value::String(if sanitize {
                sanitized(&text)
            } else {
                text
            }))
        }
        Kind::Texts => match value {
            Yaml::Null => Ok(Value::Null),
            Yaml::Sequence(items) => (items.iter())
                .map(|i| scalar(i).map(|t| Value::String(sanitized(&t))))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array)
                .ok_or_else(wrong),
            _ => Err(wrong()),
        },
        Kind::Maintainers => match value {
            Yaml::Null => Ok(Value::Null),
            Yaml::Sequence(items) => (items.iter())
                .map(maintainer)
                .collect::<Option<Vec<_>>>()
                .map(Value::Array)
                .ok_or_else(wrong),
            _ => Err(wrong()),
        },
        Kind::Flag => match value {
            Yaml::Null => Ok(Value::Null),
            Yaml::Bool(flag) => Ok(Value::Bool(*flag)),
            _ => Err(wrong()),
        },
        Kind::TextMap => match value {
            Yaml::Null => Ok(Value::Null),
            Yaml::Mapping(map) => {
                let pairs = map.iter().map(|(k, v)| Some((scalar(k)?, scalar(v)?)));
                let sorted: Option<BTreeMap<String, String>> = pairs.collect();
                sorted.map(|s| serde_json::json!(s)).ok_or_else(wrong)
            }
            _ => Err(wrong()),
        },
        Kind::Raw => serde_json::to_value(value).map_err(|_| wrong()),
    }
}

/// A YAML scalar as a Go string field takes it (`sigs.k8s.io/yaml` turns numbers and booleans
/// into their text); a null is the empty string; None for a list or a map.
fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::Null => Some(String::new()),
        Yaml::String(text) => Some(text.clone()),
        Yaml::Number(number) => Some(number.to_string()),
        Yaml::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A maintainer (`name`, `email`, `url`, each left out when empty).
fn maintainer(value: &Yaml) -> Option<Value> {
    let Yaml::Mapping(map) = value else {
        return None;
    };
    let mut fields = Map::new();
    for key in ["name", "email", "url"] {
        if let Some(text) = map.get(key).map(scalar) {
            let text = sanitized(&text?);
            if !text.is_empty() {
                fields.insert(key.to_string(), Value::String(text));
            }
        }
    }
    Some(Value::Object(fields))
}

/// Go's `omitempty`: an empty string, list or map, false, null.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(flag) => !flag,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Number(_) => false,
    }
}

/// Helm's `sanitizeString`: whitespace becomes a space, unprintable characters go.
fn sanitized(text: &str) -> String {
    (text.chars())
        .filter_map(|c| match c {
            c if c.is_whitespace() => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// `Metadata.Validate`, in its order and with its words.
fn validate(metadata: &Map<String, Value>) -> Result<(), String> {
    let text = |key: &str| {
        metadata
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let invalid = |message: String| Err(format!("validation: {message}"));
    let name = text("name");
    if name.is_empty() {
        return invalid("chart.metadata.name is required".into());
    }
    if name == "." || name == ".." {
        return invalid(format!("chart.metadata.name {name:?} is not allowed"));
    }
    if name.contains('/') {
        return invalid(format!("chart.metadata.name {name:?} is invalid"));
    }
    let version = text("version");
    if version.is_empty() {
        return invalid("chart.metadata.version is required".into());
    }
    if parse_version(version).is_none() {
        return invalid(format!("chart.metadata.version {version:?} is invalid"));
    }
    if !["", "application", "library"].contains(&text("type")) {
        return invalid("chart.metadata.type must be application or library".into());
    }
    Ok(())
}

/// A version as `Masterminds/semver` (v3) `NewVersion` reads it: an optional `v`, one to three
/// numbers without leading zeros (missing ones are 0), a prerelease, build metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SemVer {
    pub numbers: [u64; 3],
    pub prerelease: Vec<String>,
}

/// A number of a version: digits, no leading zero.
fn number(text: &str) -> Option<u64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    (digits && (text == "0" || !text.starts_with('0')))
        .then(|| text.parse().ok())
        .flatten()
}

/// `version` parsed as Helm parses chart versions; None when Helm would refuse it.
pub(crate) fn parse_version(version: &str) -> Option<SemVer> {
    let rest = version.strip_prefix('v').unwrap_or(version);
    let (rest, build) = match rest.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (rest, None),
    };
    let identifier_ok =
        |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if build.is_some_and(|b| !b.split('.').all(identifier_ok)) {
        return None;
    }
    let (core, prerelease) = match rest.split_once('-') {
        Some((core, pre)) => (core, pre.split('.').map(String::from).collect()),
        None => (rest, Vec::new()),
    };
    let pre_ok = |id: &String| {
        identifier_ok(id) && (!id.bytes().all(|b| b.is_ascii_digit()) || number(id).is_some())
    };
    if !prerelease.iter().all(pre_ok) {
        return None;
    }
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 {
        return None;
    }
    let mut numbers = [0; 3];
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        *slot = number(part)?;
    }
    Some(SemVer {
        numbers,
        prerelease,
    })
}

/// Semantic version precedence of two parsed versions (build metadata ignored).
pub(crate) fn semver_cmp(a: &SemVer, b: &SemVer) -> Ordering {
    a.numbers.cmp(&b.numbers).then_with(|| {
        match (a.prerelease.is_empty(), b.prerelease.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => prerelease_cmp(&a.prerelease, &b.prerelease),
        }
    })
}

/// Prerelease precedence: identifier by identifier, numbers below words, a prefix below.
fn prerelease_cmp(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ordering = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a.len().cmp(&b.len())
}

/// The order of an index's versions of a chart: newest first, as Helm's `SortEntries` leaves
/// them; versions Helm cannot parse last.
pub(crate) fn newest_first(a: &str, b: &str) -> Ordering {
    match (parse_version(a), parse_version(b)) {
        (Some(a), Some(b)) => semver_cmp(&b, &a),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// One chart version of an index (`repo.ChartVersion`).
pub struct IndexEntry {
    /// The Chart.yaml as Helm loads it ([`chart_metadata`]).
    pub metadata: Map<String, Value>,
    pub urls: Vec<String>,
    /// RFC 3339.
    pub created: String,
    /// The hex SHA-256 of the package; None leaves `digest` out.
    pub digest: Option<String>,
}

impl IndexEntry {
    /// The entry as Go's `encoding/json` writes a `repo.ChartVersion`: the metadata inline,
    /// with `urls`, `created`, `digest`.
    pub fn to_json(&self) -> Value {
        let mut fields = self.metadata.clone();
        fields.insert("urls".into(), serde_json::json!(self.urls));
        fields.insert("created".into(), self.created.as_str().into());
        if let Some(digest) = &self.digest {
            fields.insert("digest".into(), digest.as_str().into());
        }
        Value::Object(fields)
    }

    fn name(&self) -> &str {
        self.metadata
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn version(&self) -> &str {
        (self.metadata.get("version"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// The index's `entries`: chart name -> its versions (as JSON), newest first.
pub fn index_entries(entries: &[IndexEntry]) -> BTreeMap<String, Vec<Value>> {
    let mut by_name: BTreeMap<String, Vec<&IndexEntry>> = BTreeMap::new();
    for entry in entries {
        by_name
            .entry(entry.name().to_string())
            .or_default()
            .push(entry);
    }
    (by_name.into_iter())
        .map(|(name, mut versions)| {
            versions.sort_by(|a, b| newest_first(a.version(), b.version()));
            (name, versions.iter().map(|e| e.to_json()).collect())
        })
        .collect()
}

/// An `index.yaml` as `helm repo index` (and ChartMuseum, with `server_info`) writes it:
/// `apiVersion: v1`, `entries`, `generated`, and ChartMuseum's `serverInfo: {}`; keys sorted
/// (`sigs.k8s.io/yaml`).
pub fn index_yaml(entries: &[IndexEntry], generated: &str, server_info: bool) -> String {
    let mut index = serde_json::json!({
        "apiVersion": "v1",
        "entries": index_entries(entries),
        "generated": generated,
    });
    if server_info {
        index["serverInfo"] = serde_json::json!({});
    }
    to_yaml(&index)
}

/// The time now in RFC 3339, UTC, with Go's `RFC3339Nano` fraction (trailing zeros dropped).
pub fn now_rfc3339_nano() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = &time::format_description::well_known::Rfc3339;
    now.format(format).unwrap_or_default()
}

/// A chart in a [`ChartRepository`]: its package and when it was added.
struct Held {
    chart: Chart,
    package: Vec<u8>,
    created: String,
}

/// What a repository holds and how it writes its index.
struct Holdings {
    charts: Vec<Held>,
    /// The base of absolute `urls` (None: relative file names).
    base: Option<String>,
    digests: bool,
}

/// A static chart repository: the packages and an `index.yaml` in a temporary directory,
/// served by `python3 -m http.server` on a free loopback port (killed when dropped).
pub struct ChartRepository {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
    holdings: Mutex<Holdings>,
}

impl ChartRepository {
    /// A repository holding `charts` (each `<name>-<version>.tgz` and the index), served and
    /// answering when this returns.
    pub fn serve(charts: &[Chart]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let holdings = Holdings {
            charts: Vec::new(),
            base: None,
            digests: true,
        };
        let (port, child) = start_http_server(dir.path());
        let repository = Self {
            dir,
            port,
            child,
            holdings: Mutex::new(holdings),
        };
        for chart in charts {
            repository.hold(chart);
        }
        repository.write_index();
        repository
    }

    /// The repository's URL (no trailing slash): `index.yaml` and the packages are under it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The directory served.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The path of a file of the repository (`index.yaml`, a package).
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// `chart` packaged into the repository (replacing a chart of the same name and version)
    /// and the index rewritten.
    pub fn add(&self, chart: &Chart) {
        self.hold(chart);
        self.write_index();
    }

    /// The chart `name` `version` taken out (its package deleted) and the index rewritten.
    pub fn remove(&self, name: &str, version: &str) {
        self.with(|h| {
            h.charts
                .retain(|held| !(held.chart.name == name && held.chart.version == version))
        });
        let _ = std::fs::remove_file(self.path(&format!("{name}-{version}.tgz")));
        self.write_index();
    }

    /// The index's `urls` absolute from now on (`<base>/<name>-<version>.tgz`, as `helm repo
    /// index --url <base>` writes them); the index is rewritten.
    pub fn set_absolute_urls(&self, base: &str) {
        let base = base.trim_end_matches('/').to_string();
        self.with(|h| h.base = Some(base));
        self.write_index();
    }

    /// The index rewritten without `digest` fields, and kept so by later rewrites (an index
    /// from an old or foreign tool).
    pub fn write_index_without_digests(&self) {
        self.with(|h| h.digests = false);
        self.write_index();
    }

    /// The `index.yaml` served now.
    pub fn index(&self) -> String {
        std::fs::read_to_string(self.path("index.yaml")).expect("the index")
    }

    fn with<T>(&self, f: impl FnOnce(&mut Holdings) -> T) -> T {
        let mut holdings = self.holdings.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut holdings)
    }

    /// The chart's package written and the chart held (the index not yet rewritten).
    fn hold(&self, chart: &Chart) {
        let package = chart.package();
        std::fs::write(self.path(&chart.file_name()), &package).expect("write the package");
        let held = Held {
            chart: chart.clone(),
            package,
            created: now_rfc3339_nano(),
        };
        self.with(|h| {
            h.charts
                .retain(|c| !(c.chart.name == chart.name && c.chart.version == chart.version));
            h.charts.push(held);
        });
    }

    /// `index.yaml` written from what is held, as `helm repo index` writes it.
    fn write_index(&self) {
        let index = self.with(|h| {
            let entries: Vec<IndexEntry> = (h.charts.iter())
                .map(|held| {
                    let file = held.chart.file_name();
                    let url = match &h.base {
                        Some(base) => format!("{base}/{file}"),
                        None => file,
                    };
                    IndexEntry {
                        metadata: chart_metadata(&held.chart.chart_yaml())
                            .expect("a test chart is valid"),
                        urls: vec![url],
                        created: held.created.clone(),
                        digest: h.digests.then(|| sha256_hex(&held.package)),
                    }
                })
                .collect();
            index_yaml(&entries, &now_rfc3339_nano(), false)
        });
        // Written aside and renamed: the server never serves half an index.
        let partial = self.path(".index.yaml.partial");
        std::fs::write(&partial, index).expect("write the index");
        std::fs::rename(&partial, self.path("index.yaml")).expect("put the index in place");
    }
}

impl Drop for ChartRepository {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `python3 -m http.server` serving `dir` on a free loopback port, answering HTTP when this
/// returns: its port and process. A port taken meanwhile by another process is tried again
/// with another.
fn start_http_server(dir: &Path) -> (u16, Child) {
    for _ in 0..5 {
        let port = crate::emulator::free_port();
        let mut command = Command::new("python3");
        command
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        crate::emulator::set_parent_death_signal(&mut command);
        let mut child = command.spawn().expect("python3 runs");
        if wait_until_answering(port, &mut child) {
            return (port, child);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("python3 -m http.server did not start");
}

/// Whether the server on `port` answers an HTTP request within 20 s (false when it exits).
fn wait_until_answering(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        if answers(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Whether a `HEAD /` on `port` gets an HTTP status line.
fn answers(port: u16) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"HEAD / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut start = [0u8; 5];
    stream.read_exact(&mut start).is_ok() && &start == b"HTTP/"
}

#[cfg(test)]
mod tests;
