//! `mirror.yaml`: the registries and policies a user declares, as regsync's users declare what
//! to mirror in one file. Secrets are never in it: a credential names the environment variable
//! that holds its secret.
//!
//! ```yaml
//! registries:
//!   - name: hub
//!     type: docker-hub
//!     url: https://hub.docker.com
//!     credential: {access_key: mirror-bot, access_secret_env: HUB_TOKEN}
//!   - name: ecr
//!     type: aws-ecr
//!     url: https://123456789012.dkr.ecr.eu-west-1.amazonaws.com
//! policies:
//!   - name: nginx
//!     source: hub
//!     destination: ecr
//!     dest_namespace: mirror
//!     filters: [{type: name, value: library/nginx}, {type: tag, value: "1.2*"}]
//!     trigger: {type: scheduled, trigger_settings: {cron: "0 0 3 * * *"}}
//! ```
//!
//! A policy's other fields are Harbor's (`override`, `deletion`, `speed`, …) and Ferry's
//! (`platforms`, `prune`, …), passed on as written.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path}: {field}: {reason}")]
    Invalid {
        path: String,
        field: String,
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub registries: Vec<RegistryDecl>,
    #[serde(default)]
    pub policies: Vec<PolicyDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryDecl {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub insecure: Option<bool>,
    #[serde(default)]
    pub credential: Option<CredentialDecl>,
    /// Ferry's registry options (`region`, `budget`, …), as the API takes them.
    #[serde(default)]
    pub options: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialDecl {
    /// `basic` (the default) or `oauth`, as Harbor has it.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub access_key: String,
    /// The environment variable holding the secret.
    pub access_secret_env: String,
}

#[derive(Debug, Deserialize)]
pub struct PolicyDecl {
    pub name: String,
    /// A registry's name (declared here or existing already); absent: the home registry.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub destination: Option<String>,
    /// Every other field, as the API's policy has it.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl Manifest {
    pub fn load(path: &str) -> Result<Self, ManifestError> {
        let unreadable = |reason: String| ManifestError::Unreadable {
            path: path.to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
        let manifest: Self =
            serde_yaml_ng::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
        manifest.check(path)?;
        Ok(manifest)
    }

    fn check(&self, path: &str) -> Result<(), ManifestError> {
        let invalid = |field: String, reason: &str| ManifestError::Invalid {
            path: path.to_string(),
            field,
            reason: reason.to_string(),
        };
        let mut names = HashSet::new();
        for (i, registry) in self.registries.iter().enumerate() {
            if !names.insert(registry.name.as_str()) {
                return Err(invalid(
                    format!("registries[{i}].name"),
                    "is declared twice",
                ));
            }
        }
        let mut names = HashSet::new();
        for (i, policy) in self.policies.iter().enumerate() {
            if !names.insert(policy.name.as_str()) {
                return Err(invalid(format!("policies[{i}].name"), "is declared twice"));
            }
            for reserved in ["id", "src_registry", "dest_registry"] {
                if policy.fields.contains_key(reserved) {
                    return Err(invalid(
                        format!("policies[{i}].{reserved}"),
                        "is not written here: name the registries with source and destination",
                    ));
                }
            }
        }
        Ok(())
    }
}

impl RegistryDecl {
    /// The secret its credential names, read from the environment.
    pub fn secret(&self) -> Result<Option<String>, String> {
        let Some(credential) = &self.credential else {
            return Ok(None);
        };
        std::env::var(&credential.access_secret_env)
            .map(Some)
            .map_err(|_| {
                format!(
                    "registry {}: the environment variable {} (its credential's secret) is not set",
                    self.name, credential.access_secret_env
                )
            })
    }

    /// What the API is to hold, as a read shows it (no secret): what apply compares.
    pub fn desired(&self) -> Value {
        let mut body = json!({"name": self.name, "type": self.kind, "url": self.url});
        if let Some(description) = &self.description {
            body["description"] = json!(description);
        }
        if let Some(insecure) = self.insecure {
            body["insecure"] = json!(insecure);
        }
        if let Some(credential) = &self.credential {
            body["credential"] = json!({
                "type": credential.kind.as_deref().unwrap_or("basic"),
                "access_key": credential.access_key,
            });
        }
        if let Some(options) = &self.options {
            body["options"] = options.clone();
        }
        body
    }

    /// The body of a create: what it is to hold, with the secret.
    pub fn create_body(&self, secret: Option<&str>) -> Value {
        let mut body = self.desired();
        if let (Some(secret), Some(credential)) = (secret, body.get_mut("credential")) {
            credential["access_secret"] = json!(secret);
        }
        body
    }

    /// The body of an update (Harbor's `RegistryUpdate`), the secret sent when given.
    pub fn update_body(&self, secret: Option<&str>) -> Value {
        let mut body = json!({"name": self.name, "url": self.url});
        if let Some(description) = &self.description {
            body["description"] = json!(description);
        }
        if let Some(insecure) = self.insecure {
            body["insecure"] = json!(insecure);
        }
        if let Some(credential) = &self.credential {
            body["credential_type"] = json!(credential.kind.as_deref().unwrap_or("basic"));
            body["access_key"] = json!(credential.access_key);
            if let Some(secret) = secret {
                body["access_secret"] = json!(secret);
            }
        }
        if let Some(options) = &self.options {
            body["options"] = options.clone();
        }
        body
    }
}

impl PolicyDecl {
    /// The policy as the API takes it, its registries named by id.
    pub fn body(&self, registry_ids: &BTreeMap<String, i64>) -> Result<Value, String> {
        let id_of = |name: &Option<String>, role: &str| -> Result<Value, String> {
            match name {
                None => Ok(Value::Null),
                Some(name) => registry_ids
                    .get(name)
                    .map(|id| json!({"id": id}))
                    .ok_or_else(|| {
                        format!(
                            "policy {}: its {role} {name:?} is neither declared nor at Ferry",
                            self.name
                        )
                    }),
            }
        };
        let mut body = Value::Object(self.fields.clone());
        body["name"] = json!(self.name);
        body["src_registry"] = id_of(&self.source, "source")?;
        body["dest_registry"] = id_of(&self.destination, "destination")?;
        Ok(body)
    }
}

/// Whether `current` already holds everything `desired` says: each field desired is there with
/// the same value (objects compared field by field, so what the server adds of its own, such
/// as defaults and times, makes no difference; lists element by element).
pub fn holds(current: &Value, desired: &Value) -> bool {
    match (current, desired) {
        (_, Value::Null) => current.is_null() || current == &json!({}) || current == &json!([]),
        (Value::Object(have), Value::Object(want)) => want
            .iter()
            .all(|(key, value)| holds(have.get(key).unwrap_or(&Value::Null), value)),
        (Value::Array(have), Value::Array(want)) => {
            have.len() == want.len() && have.iter().zip(want).all(|(h, w)| holds(h, w))
        }
        (Value::Number(have), Value::Number(want)) => have.as_f64() == want.as_f64(),
        _ => current == desired,
    }
}

/// The fields of `desired` that `current` does not hold, for a plan to show.
pub fn differences(current: &Value, desired: &Value) -> Vec<String> {
    match (current, desired) {
        (Value::Object(have), Value::Object(want)) => want
            .iter()
            .filter(|(key, value)| !holds(have.get(*key).unwrap_or(&Value::Null), value))
            .map(|(key, value)| {
                let was = have.get(key).unwrap_or(&Value::Null);
                format!("{key}: {was} -> {value}")
            })
            .collect(),
        _ => vec![format!("{current} -> {desired}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_server_adds_is_no_difference_and_a_changed_field_is() {
        let current = json!({"id": 3, "name": "p", "filters": [{"type": "name", "value": "a/**", "decoration": "matches"}],
            "trigger": {"type": "manual", "trigger_settings": {"cron": ""}}, "enabled": true, "speed": 0});
        let desired = json!({"name": "p", "filters": [{"type": "name", "value": "a/**"}], "trigger": {"type": "manual"}});
        assert!(holds(&current, &desired));
        let changed = json!({"name": "p", "filters": [{"type": "name", "value": "b/**"}]});
        assert!(!holds(&current, &changed));
        assert_eq!(differences(&current, &changed).len(), 1);
        assert!(differences(&current, &changed)[0].starts_with("filters: "));
        assert!(holds(&json!({"speed": 0}), &json!({"speed": 0.0})));
        assert!(!holds(
            &json!({"filters": [{"type": "name"}, {"type": "tag"}]}),
            &json!({"filters": [{"type": "name"}]})
        ));
    }

    #[test]
    fn a_policy_names_registries_that_exist_and_a_secret_comes_from_the_environment() {
        let manifest: Manifest = serde_yaml_ng::from_str(
            "registries:\n  - {name: a, type: docker-registry, url: 'http://a', credential: {access_key: u, access_secret_env: FERRY_CLI_TEST_UNSET}}\npolicies:\n  - {name: p, source: a, destination: b, override: true}\n",
        )
        .expect("parsed");
        let ids = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 2)]);
        let body = manifest.policies[0].body(&ids).expect("body");
        assert_eq!(body["src_registry"]["id"], 1);
        assert_eq!(body["dest_registry"]["id"], 2);
        assert_eq!(body["override"], true);
        let unknown = BTreeMap::from([("a".to_string(), 1)]);
        assert!(manifest.policies[0]
            .body(&unknown)
            .unwrap_err()
            .contains("\"b\""));
        let missing = manifest.registries[0].secret().unwrap_err();
        assert!(missing.contains("FERRY_CLI_TEST_UNSET"), "{missing}");
        assert!(manifest.registries[0].desired()["credential"]
            .get("access_secret")
            .is_none());
    }

    #[test]
    fn names_declared_twice_and_ids_written_are_refused_naming_the_field() {
        let twice: Manifest =
            serde_yaml_ng::from_str("policies:\n  - {name: p}\n  - {name: p}\n").expect("parsed");
        let error = twice.check("m.yaml").unwrap_err().to_string();
        assert!(error.contains("policies[1].name"), "{error}");
        let with_id: Manifest =
            serde_yaml_ng::from_str("policies:\n  - {name: p, src_registry: {id: 1}}\n")
                .expect("parsed");
        let error = with_id.check("m.yaml").unwrap_err().to_string();
        assert!(error.contains("policies[0].src_registry"), "{error}");
    }
}
