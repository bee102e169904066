//! A policy's scope (seed 001, "Policy Scope"): `system` policies are the admin's, `namespace`
//! policies are managed under one source namespace (Harbor's project) by that namespace's
//! robots. The rules here are pure: which repositories a namespace policy may select, which
//! system policies a namespace sees (read-only), and when a namespace policy would overlap a
//! system policy.

use serde::{Deserialize, Serialize};

use super::filters::{compile_pattern, Decoration, Filter, FilterType};
use super::policy::ReplicationPolicy;
use super::validation::{Validated, ValidationError};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PolicyScope {
    /// Created by an admin (or a system robot), managed at the system level.
    #[default]
    System,
    /// Managed under one source namespace, by its namespace robots or an admin.
    Namespace,
}

impl PolicyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Namespace => "namespace",
        }
    }

    pub fn is_system(&self) -> bool {
        *self == Self::System
    }
}

/// A namespace as a repository path's first component: one component, no `/`.
pub fn validate_namespace(field: &str, namespace: &str) -> Validated {
    if namespace.is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    if namespace.contains('/') {
        return Err(ValidationError::new(
            field,
            "must be one repository path component, without '/'",
        ));
    }
    crate::oci::Repository::parse(namespace)
        .map(|_| ())
        .map_err(|e| ValidationError::new(field, e.reason))
}

/// The name filter a namespace policy without one is given: all of its namespace.
pub fn namespace_name_filter(namespace: &str) -> Filter {
    Filter {
        kind: FilterType::Name,
        value: serde_json::Value::String(format!("{namespace}/**")),
        decoration: None,
    }
}

/// Checks the scope fields: `namespace` is set exactly for a namespace policy, and such a
/// policy's name filter keeps it inside (a `matches` pattern starting with `<namespace>/`;
/// an `excludes` one would select everything else, across namespaces).
pub fn validate_scope(policy: &ReplicationPolicy) -> Validated {
    match policy.scope {
        PolicyScope::System => {
            if !policy.namespace.is_empty() {
                return Err(ValidationError::new(
                    "namespace",
                    "is only allowed with scope namespace",
                ));
            }
            Ok(())
        }
        PolicyScope::Namespace => {
            validate_namespace("namespace", &policy.namespace)?;
            let prefix = format!("{}/", policy.namespace);
            let mut named = false;
            for (i, filter) in policy.filters.iter().enumerate() {
                if filter.kind != FilterType::Name {
                    continue;
                }
                named = true;
                if filter.decoration() == Decoration::Excludes {
                    return Err(ValidationError::new(
                        format!("filters[{i}].decoration"),
                        "a namespace policy's name filter must be matches: excludes would select other namespaces",
                    ));
                }
                if !filter
                    .value
                    .as_str()
                    .is_some_and(|v| v.starts_with(&prefix))
                {
                    return Err(ValidationError::new(
                        format!("filters[{i}].value"),
                        format!("must start with {prefix:?}: a namespace policy selects only repositories of its namespace"),
                    ));
                }
            }
            if !named {
                return Err(ValidationError::new(
                    "filters",
                    format!("a namespace policy needs a name filter starting with {prefix:?}"),
                ));
            }
            Ok(())
        }
    }
}

/// Gives a namespace policy without a name filter one that selects its whole namespace; a
/// system policy is left as it is.
pub fn normalize_scope(policy: &mut ReplicationPolicy) {
    if policy.scope == PolicyScope::Namespace
        && !policy.namespace.is_empty()
        && !policy.filters.iter().any(|f| f.kind == FilterType::Name)
    {
        policy
            .filters
            .push(namespace_name_filter(&policy.namespace));
    }
}

/// Splits a pattern at its first `/` outside braces, brackets and escapes: the pattern of the
/// first path component and the rest; None when there is no such `/`.
fn split_first_component(pattern: &str) -> Option<(&str, &str)> {
    let (mut braces, mut in_brackets, mut escaped) = (0usize, false, false);
    for (at, c) in pattern.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' if !in_brackets => in_brackets = true,
            ']' if in_brackets => in_brackets = false,
            '{' if !in_brackets => braces += 1,
            '}' if !in_brackets => braces = braces.saturating_sub(1),
            '/' if !in_brackets && braces == 0 => {
                return Some((&pattern[..at], &pattern[at + 1..]))
            }
            _ => {}
        }
    }
    None
}

/// Whether a name pattern (a `matches` filter's value) can select a repository under
/// `<namespace>/`. Conservative: whatever cannot be ruled out is taken to select it.
fn pattern_selects_namespace(pattern: &str, namespace: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    let Some((first, _)) = split_first_component(pattern) else {
        // One component only, unless `**` (or a `/` inside braces) lets it cross into more.
        return pattern.contains("**") || pattern.contains('/');
    };
    if first.contains("**") || first.contains('/') {
        return true;
    }
    compile_pattern(first).map_or(true, |matcher| matcher.is_match(namespace))
}

/// Whether filters select any repository under `<namespace>/`: no name filter selects
/// everything; an `excludes` one selects the namespace unless it excludes exactly all of it.
pub fn selects_namespace(filters: &[Filter], namespace: &str) -> bool {
    filters
        .iter()
        .filter(|f| f.kind == FilterType::Name)
        .all(|filter| {
            let Some(pattern) = filter.value.as_str() else {
                return true;
            };
            match filter.decoration() {
                Decoration::Matches => pattern_selects_namespace(pattern, namespace),
                Decoration::Excludes => pattern != format!("{namespace}/**"),
            }
        })
}

/// Whether `policy` concerns `namespace`: a namespace policy of it, or a system policy whose
/// filters can select a repository of it.
pub fn refers_to_namespace(policy: &ReplicationPolicy, namespace: &str) -> bool {
    match policy.scope {
        PolicyScope::Namespace => policy.namespace == namespace,
        PolicyScope::System => selects_namespace(&policy.filters, namespace),
    }
}

/// The first system policy a namespace policy would overlap: the same destination registry
/// and a source selection that reaches the namespace. The destination namespace and the
/// source registry are not compared (conservative: two policies writing the same
/// repositories into one registry collide whatever their sources).
pub fn overlapping_system_policy<'a>(
    candidate: &ReplicationPolicy,
    others: &'a [ReplicationPolicy],
) -> Option<&'a ReplicationPolicy> {
    if candidate.scope != PolicyScope::Namespace {
        return None;
    }
    others.iter().find(|other| {
        other.scope == PolicyScope::System
            && other.id != candidate.id
            && other.dest_registry_id() == candidate.dest_registry_id()
            && selects_namespace(&other.filters, &candidate.namespace)
    })
}

/// What a namespace's robot may do with a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceAccess {
    /// A namespace policy of its own namespace: read, update, delete, run.
    Manage,
    /// A system policy that refers to its namespace: shown, read-only.
    ReadOnly,
    /// Anything else.
    None,
}

pub fn namespace_access(policy: &ReplicationPolicy, namespace: &str) -> NamespaceAccess {
    match policy.scope {
        PolicyScope::Namespace if policy.namespace == namespace => NamespaceAccess::Manage,
        PolicyScope::System if selects_namespace(&policy.filters, namespace) => {
            NamespaceAccess::ReadOnly
        }
        _ => NamespaceAccess::None,
    }
}

/// Why a namespace's robot may not write `policy` (a create's body or an update's), if it
/// may not: only namespace-scoped policies of its own namespace.
pub fn namespace_may_write(policy: &ReplicationPolicy, namespace: &str) -> Result<(), String> {
    match policy.scope {
        PolicyScope::System => Err(format!(
            "a robot of namespace {namespace} may write only namespace-scoped policies (scope namespace, namespace {namespace}); this one is system-scoped"
        )),
        PolicyScope::Namespace if policy.namespace != namespace => Err(format!(
            "a robot of namespace {namespace} may write only policies of namespace {namespace}, not of {:?}",
            policy.namespace
        )),
        PolicyScope::Namespace => Ok(()),
    }
}

#[cfg(test)]
#[path = "scope_tests.rs"]
mod tests;
