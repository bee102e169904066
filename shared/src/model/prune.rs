//! Mirror mode: after a complete listing, the destination's tags within the policy's scope that
//! the source no longer has, or that the filters no longer select, are deleted, unless they are
//! more than the policy's share of what the destination holds there.

use serde::{Deserialize, Serialize};

use super::validation::{Validated, ValidationError};

/// The share of the destination one execution may delete unless `unlimited`.
pub const DEFAULT_MAX_PERCENT: u32 = 10;

/// Ferry's addition to the policy. Left out of answers while off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Prune {
    pub enabled: bool,
    /// At most this percentage of the destination's tags in scope deleted in one execution.
    pub max_percent: u32,
    /// No limit: delete whatever left the selection.
    pub unlimited: bool,
}

impl Default for Prune {
    fn default() -> Self {
        Self {
            enabled: false,
            max_percent: DEFAULT_MAX_PERCENT,
            unlimited: false,
        }
    }
}

impl Prune {
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }

    pub fn validate(&self) -> Validated {
        if !(1..=100).contains(&self.max_percent) {
            return Err(ValidationError::new(
                "prune.max_percent",
                format!("must be 1 to 100, not {}", self.max_percent),
            ));
        }
        Ok(())
    }

    /// Why `deletions` of the `held` tags in scope may not go in one execution, if they may not.
    pub fn refusal(&self, deletions: usize, held: usize) -> Option<String> {
        let over = deletions.saturating_mul(100) > held.saturating_mul(self.max_percent as usize);
        (!self.unlimited && deletions > 0 && over).then(|| {
            format!(
                "prune refused: {deletions} of the {held} tags the destination holds in scope left the selection, over the policy's limit of {}% (raise prune.max_percent or set prune.unlimited)",
                self.max_percent
            )
        })
    }
}

/// The destination's tags (with what they name) that are not among `selected`: what a prune
/// deletes, in the destination's order.
pub fn left_the_selection<'a>(
    held: &'a [String],
    selected: &std::collections::HashSet<String>,
) -> Vec<&'a String> {
    held.iter().filter(|tag| !selected.contains(*tag)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_is_a_limit_unless_unlimited() {
        let prune = Prune {
            enabled: true,
            max_percent: 25,
            unlimited: false,
        };
        assert_eq!(prune.refusal(1, 4), None, "25% is within 25%");
        assert!(prune
            .refusal(2, 4)
            .is_some_and(|r| r.contains("2 of the 4")));
        assert_eq!(prune.refusal(0, 0), None);
        assert_eq!(
            Prune {
                unlimited: true,
                ..prune
            }
            .refusal(4, 4),
            None
        );
        assert!(Prune {
            max_percent: 0,
            ..prune
        }
        .validate()
        .is_err());
        assert!(Prune::default().is_off() && !prune.is_off());
        let held: Vec<String> = ["1.0", "0.9", "dev"].map(String::from).to_vec();
        let selected = std::collections::HashSet::from(["1.0".to_string()]);
        assert_eq!(left_the_selection(&held, &selected), vec!["0.9", "dev"]);
    }
}
