//! Validation errors name the field (as it is spelt in the JSON) and the reason.

use std::fmt;

/// One rejected field: `field` is the JSON path as Harbor spells it, `reason` says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ValidationError {}

pub type Validated = Result<(), ValidationError>;

/// A required, non-blank string no longer than `max` characters.
pub(crate) fn require_text(field: &str, value: &str, max: usize) -> Validated {
    if value.trim().is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// Resource names (registries, policies) as Harbor allows them: no control characters.
pub(crate) fn require_name(field: &str, value: &str) -> Validated {
    require_text(field, value, 255)?;
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}
