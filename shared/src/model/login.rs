//! How failed logins are throttled: counted per user name and per client address in fixed
//! windows; once either count reaches its limit, every login under it (right or wrong) gets
//! 429 until the window ends, so a guesser gets a bounded number of tries per window.

use std::net::IpAddr;
use std::time::Duration;

use sha2::Digest;

/// Limits per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    pub window_secs: i64,
    /// Failures of one user name, from anywhere.
    pub per_user: u32,
    /// Failures from one client address, whatever names it tries.
    pub per_address: u32,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            window_secs: 300,
            per_user: 10,
            per_address: 30,
        }
    }
}

/// The counters a login touches, in the window `now` falls in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginKeys {
    /// The user's counter, then the address's when the address is known.
    pub keys: Vec<String>,
    /// When the window ends (Unix seconds).
    pub window_end: i64,
}

impl LoginThrottle {
    /// The counters of `user` from `address` at `now` (Unix seconds). User names are hashed: a
    /// counter key holds no name an attacker typed.
    pub fn keys(&self, user: &str, address: Option<IpAddr>, now: i64) -> LoginKeys {
        let window = self.window_secs.max(1);
        let start = now - now.rem_euclid(window);
        let user = hex::encode(&sha2::Sha256::digest(user.as_bytes())[..16]);
        let mut keys = vec![format!("login-fail#user#{user}#{start}")];
        if let Some(address) = address {
            keys.push(format!("login-fail#addr#{address}#{start}"));
        }
        LoginKeys {
            keys,
            window_end: start + window,
        }
    }

    /// How long to wait when the counts (in [`LoginKeys::keys`] order) reach a limit.
    pub fn wait(&self, keys: &LoginKeys, counts: &[u32], now: i64) -> Option<Duration> {
        let limits = [self.per_user, self.per_address];
        let over = counts
            .iter()
            .zip(limits)
            .any(|(count, limit)| *count >= limit);
        over.then(|| {
            Duration::from_secs(u64::try_from((keys.window_end - now).max(1)).unwrap_or(1))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_or_an_address_over_its_limit_waits_until_the_window_ends() {
        let throttle = LoginThrottle::default();
        let address: IpAddr = "203.0.113.7".parse().expect("ip");
        let keys = throttle.keys("admin", Some(address), 1_000_010);
        assert_eq!(keys.keys.len(), 2);
        assert!(!keys.keys[0].contains("admin"), "names are hashed");
        assert_eq!(keys.window_end, 1_000_200);
        assert_eq!(throttle.wait(&keys, &[9, 0], 1_000_010), None);
        assert_eq!(
            throttle.wait(&keys, &[10, 0], 1_000_010),
            Some(Duration::from_secs(190))
        );
        assert_eq!(
            throttle.wait(&keys, &[0, 30], 1_000_199),
            Some(Duration::from_secs(1))
        );
        let next = throttle.keys("admin", Some(address), 1_000_200);
        assert_ne!(next.keys, keys.keys, "a new window counts afresh");
        assert_eq!(throttle.keys("admin", None, 0).keys.len(), 1);
    }
}
