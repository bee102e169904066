//! Who is calling and whether they may: HTTP Basic as the admin or as a robot
//! (`robot$<name>:<secret>`), checked after the failed-login throttle and before anything the
//! route does. A robot holds exactly the permissions it was given, per route.

use std::net::IpAddr;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use http::{header, HeaderMap};
use time::OffsetDateTime;

use super::errors::ApiError;
use super::routes::Route;
use super::Api;
use crate::model::robot::{Robot, ROBOT_PREFIX};

/// The caller's address, as the gateway saw it (API Gateway's `sourceIp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// Who is calling, once authenticated: what the policy and execution handlers need to know
/// to confine a project robot to its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Admin,
    /// A robot of level `system`: its permissions, on the whole service.
    SystemRobot,
    /// A robot of level `project`: its permissions, on one source namespace's policies.
    NamespaceRobot {
        namespace: String,
    },
}

impl Caller {
    /// The namespace the caller is confined to; None for the admin and system robots.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Self::NamespaceRobot { namespace } => Some(namespace),
            Self::Admin | Self::SystemRobot => None,
        }
    }
}

/// Why a caller is turned away: wrong credentials count as a failed login, a robot without
/// the permission does not.
enum Denied {
    Credentials(String),
    Permission(String),
}

/// User and password of an `Authorization: Basic` header.
pub(super) fn basic_of(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':').unwrap_or((text.as_str(), ""));
    Some((user.to_string(), password.to_string()))
}

/// The PHC string of a robot secret's Argon2id hash, with a random salt.
pub fn hash_secret(secret: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| ApiError::internal(format!("the system's random generator failed: {e}")))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| ApiError::internal(format!("encoding a salt: {e}")))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::internal(format!("hashing a secret: {e}")))
}

/// Whether `secret` is the one `hash` was made from (an unreadable hash matches nothing).
pub fn secret_matches(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok()
    })
}

impl Api {
    /// Lets the request through, or answers 401 (no or wrong credentials, counted), 403 (a
    /// robot without the route's permission) or 429 (too many failures of this user or from
    /// this address in the current window, whatever the credentials).
    pub(super) async fn authenticate(
        &self,
        route: &Route,
        headers: &HeaderMap,
        address: Option<IpAddr>,
    ) -> Result<Caller, ApiError> {
        let (user, password) = basic_of(headers)
            .ok_or_else(|| ApiError::unauthorized("HTTP Basic credentials are required"))?;
        let now = OffsetDateTime::now_utc();
        let keys = self.throttle.keys(&user, address, now.unix_timestamp());
        let counts = self.logins.failures(&keys.keys).await?;
        if let Some(wait) = self.throttle.wait(&keys, &counts, now.unix_timestamp()) {
            return Err(ApiError::too_many_logins(wait));
        }
        match self.caller_may(route, &user, &password, now).await? {
            Ok(caller) => Ok(caller),
            Err(Denied::Permission(message)) => Err(ApiError::forbidden(message)),
            Err(Denied::Credentials(message)) => {
                // Kept a minute past the window, then DynamoDB's TTL removes it.
                self.logins
                    .record_failure(&keys.keys, keys.window_end + 60)
                    .await?;
                Err(ApiError::unauthorized(message))
            }
        }
    }

    async fn caller_may(
        &self,
        route: &Route,
        user: &str,
        password: &str,
        now: OffsetDateTime,
    ) -> Result<Result<Caller, Denied>, ApiError> {
        let Some(name) = user.strip_prefix(ROBOT_PREFIX) else {
            return Ok(if self.admin.matches(user, password) {
                Ok(Caller::Admin)
            } else {
                Err(Denied::Credentials("wrong user name or password".into()))
            });
        };
        let wrong = || Denied::Credentials("wrong user name or password".into());
        let Some((robot, hash)) = self.robots.robot_by_name(name).await? else {
            return Ok(Err(wrong()));
        };
        // Argon2 is slow on purpose; it runs off the async threads.
        let secret = password.to_string();
        let matches = tokio::task::spawn_blocking(move || secret_matches(&secret, &hash))
            .await
            .unwrap_or(false);
        if !matches {
            return Ok(Err(wrong()));
        }
        if !robot.active(now) {
            return Ok(Err(Denied::Credentials(format!(
                "{user} is disabled or expired"
            ))));
        }
        Ok(robot_may(&robot, route).map(|()| match robot.namespace() {
            Some(namespace) => Caller::NamespaceRobot {
                namespace: namespace.to_string(),
            },
            None => Caller::SystemRobot,
        }))
    }
}

/// A robot may call a route its permissions name; the robot routes are the admin's alone.
fn robot_may(robot: &Robot, route: &Route) -> Result<(), Denied> {
    match route.endpoint.robot_permission() {
        Some((resource, action)) if robot.allows(resource, action) => Ok(()),
        Some((resource, action)) => Err(Denied::Permission(format!(
            "{ROBOT_PREFIX}{} lacks the permission {} {} that {} {} needs",
            robot.name,
            resource.as_str(),
            action.as_str(),
            route.method,
            route.path
        ))),
        None => Err(Denied::Permission(format!(
            "{} {} is the admin's alone",
            route.method, route.path
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hashed_with_a_salt_and_verified() {
        let hash = hash_secret("Secret123").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("Secret123"));
        assert_ne!(hash, hash_secret("Secret123").expect("again"), "salted");
        assert!(secret_matches("Secret123", &hash));
        assert!(!secret_matches("Secret124", &hash));
        assert!(!secret_matches("Secret123", "not a hash"));
    }
}
