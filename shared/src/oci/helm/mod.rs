//! A Helm package (`<chart>-<version>.tgz`) as the OCI artifact `helm push` makes of it
//! (helm/helm `pkg/registry/client.go` `Push`, `util.go` `generateOCIAnnotations`): the config
//! is the chart's metadata as JSON (`chart.Metadata`, Go's field order and omissions), the
//! layers the package and its provenance (sorted by digest), the manifest carries the OCI
//! annotations Helm derives from the metadata. Bytes as Go's encoder writes them (compact, `<`,
//! `>`, `&` escaped), so the same package and time give `helm push`'s digest.
//!
//! `helm push` stamps `created` with the package file's modification time; Ferry takes the time
//! of the package's `Chart.yaml` entry, so the artifact is a function of the package's bytes
//! and a re-sync is a no-op.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::media::HELM_CONFIG;

pub use crate::oci::media::OCI_MANIFEST as MANIFEST;
pub use crate::oci::media::{HELM_CHART as CHART_LAYER, HELM_PROVENANCE as PROVENANCE_LAYER};
/// The largest `Chart.yaml` (or `requirements.yaml`) read from a package.
const METADATA_BYTES: u64 = 1024 * 1024;
/// The most a package may unpack to, as Helm's loader allows (`MaxDecompressedChartSize`).
pub const UNPACKED_BYTES: u64 = 100 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("the package is not a gzip'd tar: {0}")]
    Archive(String),
    #[error("the package has no Chart.yaml")]
    NoChart,
    #[error("its Chart.yaml is not valid: {0}")]
    Metadata(String),
    #[error("its Chart.yaml has no {0}")]
    Missing(&'static str),
    #[error("it unpacks to more than {UNPACKED_BYTES} bytes")]
    TooLarge,
}

/// A reader that refuses to give more than `left` bytes (a gzip bomb stops there).
struct Capped<R> {
    inner: R,
    left: u64,
    over: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? > 0 {
                self.over = true;
                return Err(std::io::Error::other("over the unpacked size"));
            }
            return Ok(0);
        }
        let room = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buffer.len());
        let read = self.inner.read(&mut buffer[..room])?;
        self.left -= read as u64;
        Ok(read)
    }
}

/// `chart.Maintainer`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Maintainer {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
}

/// `chart.Dependency`: `name` and `repository` are always written, as Go writes them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Dependency {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    pub repository: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub condition: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enabled: bool,
    #[serde(rename = "import-values", skip_serializing_if = "Vec::is_empty")]
    pub import_values: Vec<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alias: String,
}

/// `chart.Metadata`, in its field order, each omitted when empty as Go's `omitempty` does.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub home: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub maintainers: Vec<Maintainer>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub condition: String,
    /// A string in Helm's metadata, not a list.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tags: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub app_version: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kube_version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
}

/// What a package holds that the artifact needs.
pub struct Package {
    pub metadata: Metadata,
    /// The modification time of its `Chart.yaml`, in seconds since the epoch.
    pub chart_time: i64,
}

/// One blob of the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub media_type: &'static str,
    pub digest: String,
    pub size: u64,
}

impl Blob {
    pub fn of(media_type: &'static str, bytes: &[u8]) -> Self {
        Self {
            media_type,
            digest: sha256(bytes),
            size: bytes.len() as u64,
        }
    }
}

/// The artifact: its manifest and config bytes, and the blobs the manifest names.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub package: Blob,
    pub provenance: Option<Blob>,
}

impl Artifact {
    /// The manifest's annotations.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let manifest: Value = serde_json::from_slice(&self.manifest).unwrap_or_default();
        serde_json::from_value(manifest["annotations"].clone()).unwrap_or_default()
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Opens a package: its `<chart>/Chart.yaml` (and an old chart's `requirements.yaml`), reading
/// no further than it must and never past [`UNPACKED_BYTES`]. It reads synchronously: call it
/// off the async executor.
pub fn open(bytes: &[u8]) -> Result<Package, PackageError> {
    let mut capped = Capped {
        inner: flate2::read::GzDecoder::new(bytes),
        left: UNPACKED_BYTES,
        over: false,
    };
    let found = read_metadata(&mut capped);
    if capped.over {
        return Err(PackageError::TooLarge);
    }
    let (chart, requirements) = found?;
    let (chart, chart_time) = chart.ok_or(PackageError::NoChart)?;
    let mut metadata = parse_metadata(&chart)?;
    if metadata.dependencies.is_empty() {
        if let Some((text, _)) = requirements {
            metadata.dependencies = parse_value(&text)?
                .get("dependencies")
                .map(dependencies)
                .unwrap_or_default();
        }
    }
    for (field, value) in [("name", &metadata.name), ("version", &metadata.version)] {
        if value.is_empty() {
            return Err(PackageError::Missing(field));
        }
    }
    Ok(Package {
        metadata,
        chart_time,
    })
}

/// A file's text and its modification time.
type Found = Option<(String, i64)>;

/// `Chart.yaml` and `requirements.yaml` from the archive (the reading stops when both are found).
fn read_metadata(reader: &mut impl Read) -> Result<(Found, Found), PackageError> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| PackageError::Archive(e.to_string()))?;
    let (mut chart, mut requirements): (Found, Found) = (None, None);
    for entry in entries {
        let mut entry = entry.map_err(|e| PackageError::Archive(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| PackageError::Archive(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        // The top directory is the chart's: `<chart>/Chart.yaml`.
        let inner = path
            .split_once('/')
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let wanted = match inner {
            "Chart.yaml" => &mut chart,
            "requirements.yaml" => &mut requirements,
            _ => continue,
        };
        let time = entry.header().mtime().unwrap_or_default() as i64;
        let mut text = String::new();
        entry
            .by_ref()
            .take(METADATA_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| PackageError::Archive(e.to_string()))?;
        *wanted = Some((text.trim_start_matches('\u{feff}').to_string(), time));
        if chart.is_some() && requirements.is_some() {
            break;
        }
    }
    Ok((chart, requirements))
}

fn parse_value(text: &str) -> Result<Value, PackageError> {
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| PackageError::Metadata(e.to_string()))?;
    serde_json::to_value(yaml).map_err(|e| PackageError::Metadata(e.to_string()))
}

/// A scalar as Helm's YAML reader makes a string of it: numbers and booleans become text
/// (sigs.k8s.io/yaml: `strconv.FormatFloat(v, 'g', -1, 32)` for a float, so `appVersion: 1.10`
/// reads `"1.1"`).
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => go_float32(n.as_f64().unwrap_or_default()),
        _ => String::new(),
    }
}

/// Go's `FormatFloat(v, 'g', -1, 32)`: the shortest digits of the float32, in exponent form
/// when the exponent is below -4 or at least 6 (`1.234567e+06`, `1e-05`).
fn go_float32(value: f64) -> String {
    let single = value as f32;
    let scientific = format!("{single:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return single.to_string();
    };
    let exponent: i32 = exponent.parse().unwrap_or_default();
    if (-4..6).contains(&exponent) {
        return single.to_string();
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

/// [`scalar`], cleaned as Helm's `sanitizeString` cleans the fields it validates: white space
/// becomes a space, what does not print is dropped.
fn clean(value: &Value) -> String {
    scalar(value)
        .chars()
        .filter_map(|c| match c {
            c if c.is_whitespace() => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

fn cleaned(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().map(clean).collect())
        .unwrap_or_default()
}

/// `key` of an object, matched as Go's JSON decoder matches field names (any case).
fn field<'a>(object: &'a Value, key: &str) -> &'a Value {
    object
        .as_object()
        .and_then(|map| {
            map.get(key).or_else(|| {
                map.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            })
        })
        .unwrap_or(&Value::Null)
}

fn dependencies(value: &Value) -> Vec<Dependency> {
    let Some(list) = value.as_array() else {
        return Vec::new();
    };
    list.iter()
        .map(|d| Dependency {
            name: clean(field(d, "name")),
            version: clean(field(d, "version")),
            repository: clean(field(d, "repository")),
            condition: clean(field(d, "condition")),
            tags: cleaned(field(d, "tags")),
            enabled: field(d, "enabled").as_bool().unwrap_or(false),
            import_values: field(d, "import-values")
                .as_array()
                .cloned()
                .unwrap_or_default(),
            alias: scalar(field(d, "alias")),
        })
        .collect()
}

/// `Chart.yaml` as Helm's loader reads it into `chart.Metadata`.
pub fn parse_metadata(chart: &str) -> Result<Metadata, PackageError> {
    let value = parse_value(chart)?;
    if !value.is_object() {
        return Err(PackageError::Metadata("it is not a mapping".into()));
    }
    let get = |key: &str| field(&value, key);
    let maintainers = get("maintainers")
        .as_array()
        .map(|list| {
            list.iter()
                .map(|m| Maintainer {
                    name: clean(field(m, "name")),
                    email: clean(field(m, "email")),
                    url: clean(field(m, "url")),
                })
                .collect()
        })
        .unwrap_or_default();
    let annotations = get("annotations")
        .as_object()
        .map(|map| map.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
        .unwrap_or_default();
    let api_version = match scalar(get("apiVersion")) {
        // Helm 2 took charts without one.
        v if v.is_empty() => "v1".to_string(),
        v => v,
    };
    Ok(Metadata {
        name: clean(get("name")),
        home: clean(get("home")),
        sources: cleaned(get("sources")),
        version: scalar(get("version")),
        description: clean(get("description")),
        keywords: cleaned(get("keywords")),
        maintainers,
        icon: clean(get("icon")),
        api_version,
        condition: clean(get("condition")),
        tags: clean(get("tags")),
        app_version: clean(get("appVersion")),
        deprecated: get("deprecated").as_bool().unwrap_or(false),
        annotations,
        kube_version: clean(get("kubeVersion")),
        dependencies: dependencies(get("dependencies")),
        kind: scalar(get("type")),
    })
}

/// JSON as Go's `encoding/json` writes it: compact, with `<`, `>`, `&`, U+2028 and U+2029
/// escaped (they occur only inside strings, so the bytes can be escaped as a whole).
fn go_json(value: &impl Serialize) -> Vec<u8> {
    let text = serde_json::to_string(value).unwrap_or_default();
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
        .into_bytes()
}

/// The manifest's annotations, as `generateOCIAnnotations` derives them.
fn annotations(metadata: &Metadata, created: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut add = |key: &str, value: &str| {
        if !value.trim().is_empty() {
            out.insert(format!("org.opencontainers.image.{key}"), value.to_string());
        }
    };
    add("description", &metadata.description);
    add("title", &metadata.name);
    add("version", &metadata.version);
    add("url", &metadata.home);
    add("created", created);
    if let Some(source) = metadata.sources.first() {
        add("source", source);
    }
    let authors = metadata
        .maintainers
        .iter()
        .map(|m| match (m.name.is_empty(), m.email.is_empty()) {
            (_, true) => m.name.clone(),
            (true, false) => format!(" ({})", m.email),
            (false, false) => format!("{} ({})", m.name, m.email),
        })
        .collect::<Vec<_>>()
        .join(", ");
    add("authors", &authors);
    // The chart's own annotations follow, but never over the title or the version.
    for (key, value) in &metadata.annotations {
        let fixed = [
            "org.opencontainers.image.title",
            "org.opencontainers.image.version",
        ];
        if !fixed.contains(&key.as_str()) {
            out.insert(key.clone(), value.clone());
        }
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    schema_version: u32,
    config: Descriptor<'a>,
    layers: Vec<Descriptor<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// `seconds` since the epoch as RFC 3339 in UTC, whole seconds (`1977-09-02T22:04:05Z`).
pub fn rfc3339(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// The artifact of `metadata`'s package (`package`, its bytes' blob) and provenance, created at
/// `created`.
pub fn artifact(
    metadata: &Metadata,
    package: Blob,
    provenance: Option<Blob>,
    created: &str,
) -> Artifact {
    let config = go_json(metadata);
    let config_blob = Blob::of(HELM_CONFIG, &config);
    let mut layers: Vec<&Blob> = std::iter::once(&package)
        .chain(provenance.as_ref())
        .collect();
    layers.sort_by(|a, b| a.digest.cmp(&b.digest));
    let manifest = go_json(&Manifest {
        schema_version: 2,
        config: Descriptor {
            media_type: config_blob.media_type,
            digest: &config_blob.digest,
            size: config_blob.size,
        },
        layers: layers
            .iter()
            .map(|b| Descriptor {
                media_type: b.media_type,
                digest: &b.digest,
                size: b.size,
            })
            .collect(),
        annotations: annotations(metadata, created),
    });
    Artifact {
        manifest,
        config,
        package,
        provenance,
    }
}

#[cfg(test)]
mod tests;
