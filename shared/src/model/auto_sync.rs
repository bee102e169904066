//! Auto-sync on pull (Ferry's addition to Harbor's policy): a policy binds its destination
//! namespace to its source, so a pull of a name the destination lacks is replicated on demand.
//! Here: the option, its validation, and the way back from a pulled (destination) name to the
//! source name it replicates, the inverse of [`super::naming::destination_repository`].

use serde::{Deserialize, Serialize};

use super::filters::{Decoration, FilterType, Selection};
use super::naming::destination_repository;
use super::policy::ReplicationPolicy;
use super::validation::{Validated, ValidationError};
use crate::oci::{Reference, Repository};

/// The policy's `auto_sync`: all off unless set.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(default)]
pub struct AutoSync {
    /// Ferry serves the distribution pull API (`/v2/...`) for the policy's destination
    /// namespace and replicates what a pull asks for and the destination lacks.
    pub enabled: bool,
    /// Pulls of the namespace need no credentials (anonymous pulls are answered 401 otherwise).
    pub public: bool,
    /// A pull the destination registry notifies Ferry of (distribution's `pull` notification,
    /// Harbor's `PULL_ARTIFACT`) syncs the pulled tag from the source again.
    pub on_pull_event: bool,
}

impl AutoSync {
    /// Nothing set: the field is left out of answers, as policies without it were stored.
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }
}

/// Why a pulled name is not one a policy's destination holds for its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmapped {
    #[error("{0} is not under the policy's destination namespace")]
    OutsideNamespace(String),
    #[error("{0}")]
    NotInvertible(String),
    #[error("{destination} would come from {from}, whose destination is another name ({other})")]
    NoRoundTrip {
        destination: String,
        from: String,
        other: String,
    },
    #[error("{from}, the source of {destination}, is outside the policy's name filter")]
    Filtered { destination: String, from: String },
}

/// The pattern of the policy's `matches` name filter, if it has one.
fn name_pattern(policy: &ReplicationPolicy) -> Option<&str> {
    policy
        .filters
        .iter()
        .find(|f| f.kind == FilterType::Name && f.decoration() == Decoration::Matches)
        .and_then(|f| f.value.as_str())
        .filter(|p| !p.is_empty())
}

fn is_literal(component: &str) -> bool {
    !component.is_empty() && !component.contains(['*', '?', '[', '{', '\\'])
}

/// The leading source components a destination name has lost, which the name filter must
/// state literally: the first `count` ones, or for flattening (-1 under a namespace) all but
/// the last. None: nothing is lost.
fn lost_prefix(policy: &ReplicationPolicy) -> Result<Option<String>, String> {
    let namespace = policy.dest_namespace.trim_end_matches('/');
    let count = policy.dest_namespace_replace_count;
    if count == 0 || (count == -1 && namespace.is_empty()) {
        return Ok(None);
    }
    let pattern = name_pattern(policy).unwrap_or_default();
    let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let needed = if count == -1 {
        // `ns/c` from `a/b/c`: the pattern must fix `a/b` and have one last component.
        match components.split_last() {
            Some((last, _)) if !last.contains("**") => components.len() - 1,
            _ => {
                return Err(format!(
                    "dest_namespace_replace_count -1 flattens source names to their last \
                     component, so a pulled name cannot tell its source back unless the name \
                     filter fixes every other component (e.g. library/*), not {pattern:?}"
                ))
            }
        }
    } else {
        usize::from(count.unsigned_abs())
    };
    let prefix = components
        .get(..needed)
        .filter(|p| p.iter().all(|c| is_literal(c)));
    match prefix {
        Some(prefix) if count == -1 || components.len() > needed => {
            Ok((!prefix.is_empty()).then(|| prefix.join("/")))
        }
        _ => Err(format!(
            "dest_namespace_replace_count {count} strips {needed} leading components of each \
             source name, so a pulled name cannot tell its source back unless the name filter \
             names them literally (e.g. library/**), not {pattern:?}"
        )),
    }
}

/// The policy's `auto_sync` on its own terms: the flags need `enabled`, and an enabled
/// policy's destination names must lead back to one source name each.
pub fn validate_auto_sync(policy: &ReplicationPolicy) -> Validated {
    let auto = &policy.auto_sync;
    if !auto.enabled {
        if auto.public || auto.on_pull_event {
            return Err(ValidationError::new(
                "auto_sync.enabled",
                "must be true when auto_sync.public or auto_sync.on_pull_event is",
            ));
        }
        return Ok(());
    }
    lost_prefix(policy)
        .map(|_| ())
        .map_err(|reason| ValidationError::new("auto_sync.enabled", reason))
}

impl ReplicationPolicy {
    /// The source repository whose replica `destination` is under this policy, within its
    /// name filter.
    pub fn source_of(&self, destination: &Repository) -> Result<Repository, Unmapped> {
        let wanted = destination.as_str();
        let namespace = self.dest_namespace.trim_end_matches('/');
        let rest = if namespace.is_empty() {
            Some(wanted)
        } else {
            wanted
                .strip_prefix(namespace)
                .and_then(|r| r.strip_prefix('/'))
        }
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Unmapped::OutsideNamespace(wanted.to_string()))?;
        let source = match lost_prefix(self).map_err(Unmapped::NotInvertible)? {
            Some(prefix) => format!("{prefix}/{rest}"),
            None => rest.to_string(),
        };
        let other = destination_repository(namespace, self.dest_namespace_replace_count, &source)
            .map_err(|e| Unmapped::NotInvertible(e.to_string()))?;
        if other != wanted {
            return Err(Unmapped::NoRoundTrip {
                destination: wanted.to_string(),
                from: source,
                other,
            });
        }
        let source = Repository::parse(&source)
            .map_err(|e| Unmapped::NotInvertible(format!("source {source}: {}", e.reason)))?;
        let selection =
            Selection::of(&self.filters).map_err(|e| Unmapped::NotInvertible(e.to_string()))?;
        if !selection.repository(source.as_str()) {
            return Err(Unmapped::Filtered {
                destination: wanted.to_string(),
                from: source.to_string(),
            });
        }
        Ok(source)
    }

    /// Whether the tag filters let `reference` be replicated: a digest is the lister's to
    /// judge (as for webhook events).
    pub fn syncs_reference(&self, reference: &Reference) -> bool {
        match reference {
            Reference::Digest(_) => true,
            Reference::Tag(tag) => Selection::of(&self.filters).is_ok_and(|s| s.tag(tag.as_str())),
        }
    }
}

/// The policy that owns a pulled name, and the source name it maps to.
#[derive(Debug, Clone)]
pub struct Owner<'a> {
    pub policy: &'a ReplicationPolicy,
    pub source: Repository,
}

/// Of the enabled auto-sync policies, the one whose destination namespace holds `destination`
/// (within its name filter). Several: the longest `dest_namespace` (the most specific) wins,
/// then the lowest policy id, so the answer does not depend on the order policies are listed.
pub fn owner_of<'a>(
    policies: &'a [ReplicationPolicy],
    destination: &Repository,
) -> Option<Owner<'a>> {
    policies
        .iter()
        .filter(|p| p.enabled && p.auto_sync.enabled)
        .filter_map(|policy| {
            policy
                .source_of(destination)
                .ok()
                .map(|source| Owner { policy, source })
        })
        .min_by_key(|o| {
            (
                std::cmp::Reverse(o.policy.dest_namespace.trim_end_matches('/').len()),
                o.policy.id,
            )
        })
}

#[cfg(test)]
#[path = "auto_sync_tests.rs"]
mod tests;
