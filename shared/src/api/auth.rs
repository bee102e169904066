//! HTTP Basic for the admin, compared in constant time, and the registries' webhook tokens
//! derived from the same password. Where the password comes from is the wiring's concern.

use base64::Engine;
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

    /// The webhook token of a registry: an HMAC of its id under the admin password, so each
    /// registry has its own, nothing is stored, and changing the password renews them all.
    pub fn webhook_token(&self, registry_id: i64) -> Option<String> {
        use hmac::Mac;
        let secret = self.0.as_ref()?;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).ok()?;
        mac.update(format!("ferry-webhook:{registry_id}").as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }

    /// Accepts `Authorization: Bearer <the registry's webhook token>` (or the token alone, as
    /// distribution's notification headers may carry it).
    pub fn check_webhook(&self, registry_id: i64, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = self.webhook_token(registry_id) else {
            return Err(ApiError::unauthorized("no admin password is configured"));
        };
        let supplied = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim())
            .ok_or_else(|| ApiError::unauthorized("the registry's webhook token is required"))?;
        if bool::from(supplied.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(())
        } else {
            Err(ApiError::unauthorized(
                "wrong webhook token for this registry",
            ))
        }
    }

    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.0 else {
            return Err(ApiError::unauthorized("no admin password is configured"));
        };
        let supplied = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Basic ")
                    .or_else(|| v.strip_prefix("basic "))
            })
            .and_then(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
            })
            .and_then(|raw| String::from_utf8(raw).ok())
            .ok_or_else(|| ApiError::unauthorized("HTTP Basic credentials are required"))?;
        let (user, password) = supplied.split_once(':').unwrap_or((supplied.as_str(), ""));
        let user_ok = user.as_bytes().ct_eq(ADMIN_USER.as_bytes());
        let password_ok = password.as_bytes().ct_eq(expected.as_bytes());
        if bool::from(user_ok & password_ok) {
            Ok(())
        } else {
            Err(ApiError::unauthorized("wrong user name or password"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {token}").parse().expect("header"),
        );
        headers
    }

    #[test]
    fn checks_user_and_password() {
        let admin = AdminPassword::new(Some("s3cret".into()));
        assert!(admin.check(&basic("admin", "s3cret")).is_ok());
        assert!(admin.check(&basic("admin", "wrong")).is_err());
        assert!(admin.check(&basic("root", "s3cret")).is_err());
        assert!(admin.check(&HeaderMap::new()).is_err());
        assert!(AdminPassword::new(None).check(&basic("admin", "")).is_err());
    }
}
