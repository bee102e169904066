//! What type an artifact is, told apart as Harbor's artifact type system does (seed 004): the
//! built-in types by their media types, the in-tree config schema (`harbor.artifactMetadata`
//! in an artifact's config names its type), and the custom types `processors.yaml` registers
//! by config media type or artifact type, each with a processor that reads the type's
//! `extra_attrs`. The type drives the `resource` filter and is each task's `resource_type`.

mod builtin;
mod file;
mod profile;

use std::time::Duration;

use serde_json::Value;

pub use file::ProcessorsFileError;
pub use profile::{general_metadata, profile_from_text, Addition, ArtifactProfile, Metadata};

use super::{ResourceType, ValidationError};

/// What a manifest says of its type, read once from its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestFacts {
    /// The manifest's media type (the registry's `Content-Type`, else the body's).
    pub media_type: String,
    pub config_media_type: Option<String>,
    pub config_digest: Option<String>,
    /// OCI 1.1's `artifactType`.
    pub artifact_type: Option<String>,
    pub layer_media_types: Vec<String>,
    /// An index's annotations name a CNAB runtime (`io.cnab.runtime_version`).
    pub cnab_annotations: bool,
}

impl ManifestFacts {
    pub fn read(manifest: &[u8], media_type: &str) -> Self {
        let parsed: Value = serde_json::from_slice(manifest).unwrap_or_default();
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let media_type = if media_type.is_empty() {
            text(&parsed["mediaType"]).unwrap_or_default()
        } else {
            media_type.to_string()
        };
        Self {
            media_type,
            config_media_type: text(&parsed["config"]["mediaType"]),
            config_digest: text(&parsed["config"]["digest"]),
            artifact_type: text(&parsed["artifactType"]),
            layer_media_types: parsed["layers"]
                .as_array()
                .map(|layers| {
                    layers
                        .iter()
                        .filter_map(|l| text(&l["mediaType"]))
                        .collect()
                })
                .unwrap_or_default(),
            cnab_annotations: parsed["annotations"]["io.cnab.runtime_version"].is_string(),
        }
    }
}

/// How a type reads its `extra_attrs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processor {
    /// From the config JSON, by the seed's rules: the config less its `harbor` object, and
    /// the additions `harbor.artifactMetadata.additions` lists.
    General,
    /// Posted to a processor extender, which answers them.
    Http(HttpProcessor),
}

/// A processor extender (seed 004's out-of-tree processor).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpProcessor {
    /// `{url}/abstractmetadata` is posted to.
    pub url: url::Url,
    pub timeout: Duration,
    /// The `Authorization` header's value, when the extender asks for one.
    pub authorization: Option<String>,
}

impl std::fmt::Debug for HttpProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProcessor")
            .field("url", &self.url.as_str())
            .field("timeout", &self.timeout)
            .field("authorization", &self.authorization.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A type `processors.yaml` registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomType {
    pub name: ResourceType,
    /// Config media types that make an artifact this type.
    pub config_media_types: Vec<String>,
    /// OCI 1.1 artifact types that make an artifact this type.
    pub artifact_types: Vec<String>,
    pub processor: Processor,
}

/// How a type was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypedBy {
    BuiltIn,
    /// Registered in `processors.yaml`.
    Registered,
    /// The artifact's config declares it (`harbor.artifactMetadata`).
    InTree,
}

/// An artifact's type, and the media type that tells it (`artifactType`, the config's, or
/// the one the in-tree schema gives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub resource_type: ResourceType,
    pub media_type: String,
    pub by: TypedBy,
}

/// The types Ferry knows: the built-in ones and those registered. Built once per process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactTypes {
    custom: Vec<CustomType>,
}

impl ArtifactTypes {
    /// The built-in types alone.
    pub const fn built_in() -> Self {
        Self { custom: Vec::new() }
    }

    pub fn new(custom: Vec<CustomType>) -> Self {
        Self { custom }
    }

    /// Reads `processors.yaml`; `env` resolves the variables it names for secrets.
    pub fn from_yaml(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ProcessorsFileError> {
        file::read(text, env).map(Self::new)
    }

    pub fn custom(&self) -> &[CustomType] {
        &self.custom
    }

    /// Every type a `resource` filter may name.
    pub fn names(&self) -> Vec<ResourceType> {
        let mut names: Vec<ResourceType> = ResourceType::BUILT_IN.to_vec();
        names.extend(self.custom.iter().map(|t| t.name.clone()));
        names
    }

    /// A type's name a filter may use: built in or registered. Types only an artifact's
    /// config declares cannot be known ahead; `artifact` selects them.
    pub fn check_filter(&self, field: &str, name: &ResourceType) -> Result<(), ValidationError> {
        if self.names().contains(name) {
            return Ok(());
        }
        let known: Vec<String> = self.names().iter().map(ToString::to_string).collect();
        Err(ValidationError::new(
            field,
            format!(
                "{name:?} is not a known artifact type; known: {} (register more in processors.yaml)",
                known.join(", ")
            ),
        ))
    }

    fn registered(&self, facts: &ManifestFacts) -> Option<(&CustomType, String)> {
        self.custom.iter().find_map(|t| {
            if let Some(a) = facts
                .artifact_type
                .as_ref()
                .filter(|a| t.artifact_types.contains(a))
            {
                return Some((t, a.clone()));
            }
            facts
                .config_media_type
                .as_ref()
                .filter(|c| t.config_media_types.contains(c))
                .map(|c| (t, c.clone()))
        })
    }

    /// Whether telling the type needs the config read: none of the rules knows it, and its
    /// config is of a media type that may carry the in-tree schema.
    pub fn needs_config(&self, facts: &ManifestFacts) -> bool {
        self.registered(facts).is_none()
            && builtin::classify(facts).is_none()
            && facts.config_digest.is_some()
            && facts
                .config_media_type
                .as_deref()
                .is_some_and(builtin::may_carry_schema)
    }

    /// The type of an artifact: a registered type first (a user's registration wins), then
    /// the built-in rules, then the in-tree schema in `config` (when it was read), else
    /// Harbor's `artifact`.
    pub fn classify(&self, facts: &ManifestFacts, config: Option<&Value>) -> Classified {
        if let Some((custom, media_type)) = self.registered(facts) {
            return Classified {
                resource_type: custom.name.clone(),
                media_type,
                by: TypedBy::Registered,
            };
        }
        let media_type = facts
            .artifact_type
            .clone()
            .or_else(|| facts.config_media_type.clone())
            .unwrap_or_else(|| facts.media_type.clone());
        if let Some(resource_type) = builtin::classify(facts) {
            return Classified {
                resource_type,
                media_type,
                by: TypedBy::BuiltIn,
            };
        }
        if let Some((name, declared)) = config.and_then(in_tree_type) {
            return Classified {
                resource_type: name,
                media_type: declared.unwrap_or(media_type),
                by: TypedBy::InTree,
            };
        }
        Classified {
            resource_type: ResourceType::ARTIFACT,
            media_type,
            by: TypedBy::BuiltIn,
        }
    }

    /// The processor that reads a type's `extra_attrs`: the registered one, the general one
    /// for types the config declares and for charts (Harbor's chart processor shows the
    /// chart's config); none for the other built-in types.
    pub fn processor(&self, classified: &Classified) -> Option<Processor> {
        match classified.by {
            TypedBy::Registered => self
                .custom
                .iter()
                .find(|t| t.name == classified.resource_type)
                .map(|t| t.processor.clone()),
            TypedBy::InTree => Some(Processor::General),
            TypedBy::BuiltIn => {
                (classified.resource_type == ResourceType::CHART).then_some(Processor::General)
            }
        }
    }
}

/// The type and media type `harbor.artifactMetadata` declares in a config.
fn in_tree_type(config: &Value) -> Option<(ResourceType, Option<String>)> {
    let metadata = &config["harbor"]["artifactMetadata"];
    let name = ResourceType::named(metadata["type"].as_str()?).ok()?;
    let media_type = metadata["mediaType"]
        .as_str()
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    Some((name, media_type))
}

#[cfg(test)]
mod tests;
