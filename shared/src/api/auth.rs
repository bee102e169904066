//! HTTP Basic for the admin, compared in constant time, and the registries' webhook tokens:
//! random secrets, one per registry, stored sealed. Where the password comes from is the
//! wiring's concern.

use http::{header, HeaderMap};
use subtle::ConstantTimeEq;

use super::errors::ApiError;

pub const ADMIN_USER: &str = "admin";

#[derive(Clone)]
pub struct AdminPassword(Option<String>);

impl std::fmt::Debug for AdminPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "AdminPassword(set)"
        } else {
            "AdminPassword(unset)"
        })
    }
}

impl AdminPassword {
    pub fn new(password: Option<String>) -> Self {
        Self(password.filter(|p| !p.is_empty()))
    }

    /// Whether `user` and `password` are the admin's, compared in constant time.
    pub fn matches(&self, user: &str, password: &str) -> bool {
        let Some(expected) = &self.0 else {
            return false;
        };
        let user_ok = same_secret(user, ADMIN_USER);
        let password_ok = same_secret(password, expected);
        user_ok & password_ok
    }
}

/// Bytes of randomness in a webhook token (shown as hex).
const TOKEN_BYTES: usize = 32;

/// A new random secret: 32 bytes from the system's generator, as hex.
pub fn new_secret() -> Result<String, ApiError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::internal(format!("the system's random generator failed: {e}")))?;
    Ok(hex::encode(bytes))
}

/// Equal in constant time whatever the lengths: both sides are hashed first, so neither the
/// comparison nor an early length check tells how much of a guess was right.
pub fn same_secret(supplied: &str, expected: &str) -> bool {
    use sha2::Digest;
    let supplied = sha2::Sha256::digest(supplied.as_bytes());
    let expected = sha2::Sha256::digest(expected.as_bytes());
    bool::from(supplied.as_slice().ct_eq(expected.as_slice()))
}

/// Accepts `Authorization: Bearer <the registry's webhook token>` (or the token alone, as
/// distribution's notification headers may carry it); `expected` is None until one is issued.
pub fn check_webhook(expected: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let supplied = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim())
        .ok_or_else(|| ApiError::unauthorized("the registry's webhook token is required"))?;
    match expected {
        Some(expected) if same_secret(supplied, expected) => Ok(()),
        _ => Err(ApiError::unauthorized(
            "wrong webhook token for this registry (POST /registries/{id}/webhook issues one)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_user_and_password() {
        let admin = AdminPassword::new(Some("s3cret".into()));
        assert!(admin.matches("admin", "s3cret"));
        assert!(!admin.matches("admin", "wrong"));
        assert!(!admin.matches("admin", "s3cret2"));
        assert!(!admin.matches("root", "s3cret"));
        assert!(!AdminPassword::new(None).matches("admin", ""));
    }

    #[test]
    fn webhook_tokens_are_random_and_compared_whole() {
        let token = new_secret().expect("token");
        assert_eq!(token.len(), 64);
        assert_ne!(token, new_secret().expect("another"));
        let bearer = |t: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                format!("Bearer {t}").parse().expect("header"),
            );
            headers
        };
        assert!(check_webhook(Some(&token), &bearer(&token)).is_ok());
        assert!(check_webhook(Some(&token), &bearer(&token[..63])).is_err());
        assert!(check_webhook(Some(&token), &bearer(&format!("{token}0"))).is_err());
        assert!(check_webhook(Some(&token), &bearer("")).is_err());
        assert!(check_webhook(None, &bearer(&token)).is_err());
        assert!(check_webhook(Some(&token), &HeaderMap::new()).is_err());
    }
}
