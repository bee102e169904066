//! `ferry plan` and `ferry apply`: the registries and policies of a manifest compared with what
//! the API holds, by name; what differs is created or updated (apply) or shown (plan). Nothing
//! is deleted: what the file does not name is left alone. Applying a file twice changes
//! nothing the second time.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::client::{Api, ApiError};
use crate::manifest::{differences, holds, Manifest, RegistryDecl};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{0}")]
    Declared(String),
}

/// What applying does to one declared thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create,
    /// The fields that differ, `field: was -> will be`.
    Update(Vec<String>),
    Unchanged,
}

#[derive(Debug, Clone)]
pub struct Planned {
    pub kind: &'static str,
    pub name: String,
    pub change: Change,
}

impl std::fmt::Display for Planned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.change {
            Change::Create => write!(f, "{} {}: create", self.kind, self.name),
            Change::Unchanged => write!(f, "{} {}: unchanged", self.kind, self.name),
            Change::Update(fields) => {
                write!(f, "{} {}: update", self.kind, self.name)?;
                for field in fields {
                    write!(f, "\n    {field}")?;
                }
                Ok(())
            }
        }
    }
}

/// Whether to write what differs, and whether to send every registry's secret again.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    pub write: bool,
    pub secrets: bool,
}

fn id_of(item: &Value) -> Option<i64> {
    item["id"].as_i64()
}

/// Plans (and, when `mode.write`, applies) the manifest; what each declared thing came to.
pub async fn reconcile(
    api: &Api,
    manifest: &Manifest,
    mode: Mode,
) -> Result<Vec<Planned>, ApplyError> {
    let mut done = Vec::new();
    let existing = api.list("/registries").await?;
    let mut ids: BTreeMap<String, i64> = existing
        .iter()
        .filter_map(|r| Some((r["name"].as_str()?.to_string(), id_of(r)?)))
        .collect();
    if mode.write {
        // Every secret a create (or a resend) needs is read before anything is written: a
        // variable not set stops the apply with nothing half done.
        for decl in &manifest.registries {
            if !ids.contains_key(&decl.name) || mode.secrets {
                decl.secret().map_err(ApplyError::Declared)?;
            }
        }
    }
    for decl in &manifest.registries {
        let planned = registry(api, decl, ids.get(&decl.name).copied(), mode).await?;
        if let (Some(id), true) = (planned.1, mode.write) {
            ids.insert(decl.name.clone(), id);
        }
        done.push(planned.0);
    }
    let existing = api.list("/replication/policies").await?;
    let policy_ids: BTreeMap<String, i64> = existing
        .iter()
        .filter_map(|p| Some((p["name"].as_str()?.to_string(), id_of(p)?)))
        .collect();
    for decl in &manifest.policies {
        // A registry this plan would create has no id yet: its policies are planned against
        // a stand-in, so they show as changing.
        let mut named = ids.clone();
        for r in &manifest.registries {
            named.entry(r.name.clone()).or_insert(-1);
        }
        let body = decl.body(&named).map_err(ApplyError::Declared)?;
        let change = match policy_ids.get(&decl.name) {
            None => {
                if mode.write {
                    api.create("/replication/policies", &body).await?;
                }
                Change::Create
            }
            Some(id) => {
                let path = format!("/replication/policies/{id}");
                let current = api.get(&path).await?;
                if holds(&current, &body) {
                    Change::Unchanged
                } else {
                    if mode.write {
                        let mut whole = body.clone();
                        whole["id"] = Value::from(*id);
                        api.put(&path, &whole).await?;
                    }
                    Change::Update(differences(&current, &body))
                }
            }
        };
        done.push(Planned {
            kind: "policy",
            name: decl.name.clone(),
            change,
        });
    }
    Ok(done)
}

/// One registry: planned, and applied when `mode.write`; with its id once it exists.
async fn registry(
    api: &Api,
    decl: &RegistryDecl,
    id: Option<i64>,
    mode: Mode,
) -> Result<(Planned, Option<i64>), ApplyError> {
    let planned = |change| Planned {
        kind: "registry",
        name: decl.name.clone(),
        change,
    };
    let Some(id) = id else {
        if !mode.write {
            return Ok((planned(Change::Create), None));
        }
        let secret = decl.secret().map_err(ApplyError::Declared)?;
        let id = api
            .create("/registries", &decl.create_body(secret.as_deref()))
            .await?;
        return Ok((planned(Change::Create), Some(id)));
    };
    let path = format!("/registries/{id}");
    let current = api.get(&path).await?;
    let desired = decl.desired();
    if current["type"] != desired["type"] {
        return Err(ApplyError::Declared(format!(
            "registry {}: it is of type {} at Ferry and {} in the file; a type does not change (delete the registry first)",
            decl.name, current["type"], desired["type"]
        )));
    }
    let same = holds(&current, &desired);
    if same && !mode.secrets {
        return Ok((planned(Change::Unchanged), Some(id)));
    }
    let mut fields = differences(&current, &desired);
    if mode.secrets && decl.credential.is_some() {
        fields.push("credential.access_secret: (sent again)".into());
    }
    if fields.is_empty() {
        return Ok((planned(Change::Unchanged), Some(id)));
    }
    if mode.write {
        // A new URL or key drops the stored secret (a credential goes only where it was
        // given for): it is sent with them, as when asked to.
        let resend = mode.secrets
            || current["url"] != desired["url"]
            || current["credential"]["access_key"] != desired["credential"]["access_key"];
        let secret = if resend {
            decl.secret().map_err(ApplyError::Declared)?
        } else {
            None
        };
        api.put(&path, &decl.update_body(secret.as_deref())).await?;
    }
    Ok((planned(Change::Update(fields)), Some(id)))
}
