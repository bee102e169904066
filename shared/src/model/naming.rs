//! Destination repository names from `dest_namespace` and `dest_namespace_replace_count`,
//! with Harbor's rules.

use super::policy::ReplicationPolicy;
use super::validation::ValidationError;
use crate::oci::Repository;

impl ReplicationPolicy {
    /// Where a source repository goes at the destination, checked against the path rules.
    pub fn destination_of(&self, source: &str) -> Result<Repository, String> {
        let destination = destination_repository(
            &self.dest_namespace,
            self.dest_namespace_replace_count,
            source,
        )
        .map_err(|e| format!("{source}: {e}"))?;
        Repository::parse(&destination)
            .map_err(|e| format!("{source} -> {destination}: {}", e.reason))
    }
}

/// For source `a/b/c` into namespace `n`: -1 gives `n/c` (Harbor's legacy flattening), 0 gives
/// `n/a/b/c`, 1 gives `n/b/c`, 2 gives `n/c`; a count that would remove the whole path is an
/// error. An empty namespace removes `count` leading components (none for -1 and 0).
pub fn destination_repository(
    namespace: &str,
    replace_count: i8,
    source: &str,
) -> Result<String, ValidationError> {
    let components: Vec<&str> = source.split('/').collect();
    let kept: &[&str] = match replace_count {
        -1 if namespace.is_empty() => &components,
        -1 => &components[components.len() - 1..],
        count if count < -1 => {
            return Err(ValidationError::new(
                "dest_namespace_replace_count",
                "must be -1 or at least 0",
            ))
        }
        count => {
            let count = usize::from(count.unsigned_abs());
            if count >= components.len() {
                return Err(ValidationError::new(
                    "dest_namespace_replace_count",
                    format!(
                        "{count} would replace all {} components of {source:?}",
                        components.len()
                    ),
                ));
            }
            &components[count..]
        }
    };
    let rest = kept.join("/");
    Ok(if namespace.is_empty() {
        rest
    } else {
        format!("{}/{rest}", namespace.trim_end_matches('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::destination_repository as dest;

    #[test]
    fn harbors_worked_examples() {
        assert_eq!(dest("n", -1, "a/b/c").unwrap(), "n/c");
        assert_eq!(dest("n", 0, "a/b/c").unwrap(), "n/a/b/c");
        assert_eq!(dest("n", 1, "a/b/c").unwrap(), "n/b/c");
        assert_eq!(dest("n", 2, "a/b/c").unwrap(), "n/c");
        assert_eq!(
            dest("n", 3, "a/b/c").unwrap_err().field,
            "dest_namespace_replace_count"
        );
        assert_eq!(dest("", -1, "a/b/c").unwrap(), "a/b/c");
        assert_eq!(dest("", 0, "a/b/c").unwrap(), "a/b/c");
        assert_eq!(dest("", 1, "a/b/c").unwrap(), "b/c");
        assert_eq!(dest("x/y", 1, "a/b").unwrap(), "x/y/b");
    }
}
