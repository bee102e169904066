//! `processors.yaml`: the custom types an operator registers, each with its processor.
//!
//! ```yaml
//! processors:
//!   - type: model                 # the name resource filters and tasks use
//!     config_media_types: [application/vnd.caicloud.model.config.v1alpha1+json]
//!     artifact_types: []          # OCI 1.1 artifactType values
//!     # no url: the general processor reads the config; with one, the extender is asked
//!     url: http://processor.internal:8080
//!     timeout_seconds: 5
//!     authorization_env: MODEL_PROCESSOR_AUTH   # the Authorization header, from this variable
//! ```
//!
//! The seed's own keys (`Processors`, `ProcessorUrl`, `ArtifactMediaType`, `ArtifactType`)
//! are read too.

use std::time::Duration;

use serde::Deserialize;

use super::{CustomType, HttpProcessor, Processor};
use crate::model::ResourceType;

const DEFAULT_TIMEOUT_SECONDS: u64 = 5;
const MAX_TIMEOUT_SECONDS: u64 = 60;

/// Why `processors.yaml` cannot be used; `entry` is the position in its list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessorsFileError {
    #[error("processors.yaml is not valid: {0}")]
    Syntax(String),
    #[error("processors.yaml, processors[{entry}].{field}: {reason}")]
    Entry {
        entry: usize,
        field: &'static str,
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(alias = "Processors", default)]
    processors: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(rename = "type", alias = "ArtifactType")]
    kind: String,
    #[serde(default)]
    config_media_types: Vec<String>,
    /// The seed's one media type per entry.
    #[serde(default, alias = "ArtifactMediaType")]
    media_type: Option<String>,
    #[serde(default)]
    artifact_types: Vec<String>,
    #[serde(default, alias = "ProcessorUrl")]
    url: Option<String>,
    #[serde(default)]
    timeout_seconds: Option<u64>,
    #[serde(default)]
    authorization_env: Option<String>,
}

pub(super) fn read(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<CustomType>, ProcessorsFileError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let file: File =
        serde_yaml_ng::from_str(text).map_err(|e| ProcessorsFileError::Syntax(e.to_string()))?;
    let mut types: Vec<CustomType> = Vec::new();
    for (entry, e) in file.processors.into_iter().enumerate() {
        let bad = |field, reason: String| ProcessorsFileError::Entry {
            entry,
            field,
            reason,
        };
        let name = ResourceType::named(&e.kind).map_err(|err| bad("type", err.to_string()))?;
        if ResourceType::BUILT_IN.contains(&name) {
            return Err(bad("type", format!("{name} is a built-in type")));
        }
        if types.iter().any(|t| t.name == name) {
            return Err(bad("type", format!("{name} is registered twice")));
        }
        let mut config_media_types = e.config_media_types;
        config_media_types.extend(e.media_type);
        for (field, listed) in [
            ("config_media_types", &config_media_types),
            ("artifact_types", &e.artifact_types),
        ] {
            if let Some(bad_type) = listed.iter().find(|m| !is_media_type(m)) {
                return Err(bad(field, format!("{bad_type:?} is not a media type")));
            }
        }
        if config_media_types.is_empty() && e.artifact_types.is_empty() {
            return Err(bad(
                "config_media_types",
                "a type needs a config media type or an artifact type to be told by".into(),
            ));
        }
        let processor = match e.url {
            None => Processor::General,
            Some(url) => {
                let parsed = url::Url::parse(&url)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .ok_or_else(|| bad("url", format!("{url:?} is not an http(s) URL")))?;
                let seconds = e.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
                if !(1..=MAX_TIMEOUT_SECONDS).contains(&seconds) {
                    return Err(bad(
                        "timeout_seconds",
                        format!("must be 1 to {MAX_TIMEOUT_SECONDS}, not {seconds}"),
                    ));
                }
                let authorization = match e.authorization_env {
                    None => None,
                    Some(variable) => {
                        Some(env(&variable).filter(|v| !v.is_empty()).ok_or_else(|| {
                            bad("authorization_env", format!("{variable} is not set"))
                        })?)
                    }
                };
                Processor::Http(HttpProcessor {
                    url: parsed,
                    timeout: Duration::from_secs(seconds),
                    authorization,
                })
            }
        };
        types.push(CustomType {
            name,
            config_media_types,
            artifact_types: e.artifact_types,
            processor,
        });
    }
    Ok(types)
}

/// `type/subtype`, as RFC 6838 restricts their characters.
fn is_media_type(text: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 127
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    text.split_once('/')
        .is_some_and(|(kind, subtype)| part(kind) && part(subtype))
}
