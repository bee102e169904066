//! What the pull endpoint keeps between requests of a warm function, each for
//! [`PullSettings::cache_for`]: the auto-sync policies, a client per registry, and the logins
//! a destination accepted (by a hash of registry, repository, user and password; never the
//! password).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use sha2::Digest as _;

use crate::model::ReplicationPolicy;
use crate::ports::registry::RegistryClient;
use crate::replication::pull::PullSettings;

/// Accepted logins kept at most; past it, the expired ones go (and all, if none has).
const MAX_LOGINS: usize = 1024;

type Clients = HashMap<i64, (Instant, Arc<dyn RegistryClient>)>;

#[derive(Default)]
pub struct PullState {
    pub settings: PullSettings,
    policies: Mutex<Option<(Instant, Arc<Vec<ReplicationPolicy>>)>>,
    clients: Mutex<Clients>,
    logins: Mutex<HashMap<[u8; 32], Instant>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The hash a login is remembered by, with what it was checked for (a repository, or none).
fn login_key(registry_id: i64, scope: &str, user: &str, password: &str) -> [u8; 32] {
    let mut hash = sha2::Sha256::new();
    hash.update(registry_id.to_be_bytes());
    hash.update(scope.as_bytes());
    hash.update([0]);
    hash.update(user.as_bytes());
    hash.update([0]);
    hash.update(password.as_bytes());
    hash.finalize().into()
}

impl PullState {
    pub fn new(settings: PullSettings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    fn fresh(&self, since: Instant) -> bool {
        since.elapsed() < self.settings.cache_for
    }

    pub(super) fn policies(&self) -> Option<Arc<Vec<ReplicationPolicy>>> {
        lock(&self.policies)
            .as_ref()
            .filter(|(at, _)| self.fresh(*at))
            .map(|(_, policies)| Arc::clone(policies))
    }

    pub(super) fn keep_policies(
        &self,
        policies: Vec<ReplicationPolicy>,
    ) -> Arc<Vec<ReplicationPolicy>> {
        let policies = Arc::new(policies);
        *lock(&self.policies) = Some((Instant::now(), Arc::clone(&policies)));
        policies
    }

    pub(super) fn client(&self, registry_id: i64) -> Option<Arc<dyn RegistryClient>> {
        lock(&self.clients)
            .get(&registry_id)
            .filter(|(at, _)| self.fresh(*at))
            .map(|(_, client)| Arc::clone(client))
    }

    pub(super) fn keep_client(&self, registry_id: i64, client: Arc<dyn RegistryClient>) {
        lock(&self.clients).insert(registry_id, (Instant::now(), client));
    }

    pub(super) fn accepted(
        &self,
        registry_id: i64,
        scope: &str,
        user: &str,
        password: &str,
    ) -> bool {
        lock(&self.logins)
            .get(&login_key(registry_id, scope, user, password))
            .is_some_and(|at| self.fresh(*at))
    }

    pub(super) fn accept(&self, registry_id: i64, scope: &str, user: &str, password: &str) {
        let mut logins = lock(&self.logins);
        if logins.len() >= MAX_LOGINS {
            let keep = self.settings.cache_for;
            logins.retain(|_, at| at.elapsed() < keep);
            if logins.len() >= MAX_LOGINS {
                logins.clear();
            }
        }
        logins.insert(
            login_key(registry_id, scope, user, password),
            Instant::now(),
        );
    }
}
