//! Who may pull through Ferry: the admin, Ferry's robots with `registry` `read` (a project
//! robot only its namespace's names), or a login the destination registry itself accepts for
//! what is asked (the same read of the same repository, made at the destination with that
//! login, and only there: a destination user reads through Ferry only what it may read there;
//! a success is remembered by a hash for a few seconds). Anonymous pulls only of a policy's `public` namespace. Failures count towards the
//! same failed-login throttle as the API's.

use std::net::IpAddr;

use http::HeaderMap;
use time::OffsetDateTime;

use super::errors::ApiError;
use super::Api;
use crate::model::auto_sync::Owner;
use crate::model::robot::{RobotAction, RobotResource, ROBOT_PREFIX};
use crate::model::{Credential, CredentialType, Registry, ReplicationPolicy};
use crate::oci::{Digest, Reference, Repository};
use crate::ports::registry::{RegistryClient, RegistryError};

/// What a destination's login is checked with: the read the pull asks for, at the destination.
#[derive(Debug, Clone, Copy)]
pub enum Probe<'a> {
    /// `GET /v2/`: the login alone.
    Login,
    Manifest(&'a Repository, &'a Reference),
    Blob(&'a Repository, &'a Digest),
}

impl Probe<'_> {
    fn scope(&self) -> &str {
        match self {
            Self::Login => "",
            Self::Manifest(repository, _) | Self::Blob(repository, _) => repository.as_str(),
        }
    }

    /// Whether the registry lets the login make the read: answered (found or not), not refused.
    async fn allowed(&self, client: &dyn RegistryClient) -> Result<(), RegistryError> {
        match self {
            Self::Login => client.check().await,
            Self::Manifest(repository, reference) => client
                .head_manifest(repository, reference)
                .await
                .map(|_| ()),
            Self::Blob(repository, digest) => {
                client.blob_exists(repository, digest).await.map(|_| ())
            }
        }
    }
}

/// Who is pulling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Puller {
    Anonymous,
    Admin,
    /// A robot of Ferry's; a project robot's namespace.
    Robot {
        namespace: Option<String>,
    },
    /// A login the destination registry accepted.
    RegistryLogin {
        registry_id: i64,
    },
}

/// What a destination said of a login and a read.
enum Verdict {
    Reads,
    /// 401: not a login it knows.
    Wrong,
    /// 403: a login it knows, without this read.
    Denied,
}

fn denied(message: String) -> ApiError {
    ApiError::new(http::StatusCode::FORBIDDEN, "DENIED", message)
}

/// The destination registries a login may be checked at: the owner's, or, for a request
/// naming no policy's name (`GET /v2/`), every auto-sync policy's, lowest id first.
fn registries_to_ask(owner: Option<&Owner<'_>>, policies: &[ReplicationPolicy]) -> Vec<i64> {
    let mut ids: Vec<i64> = match owner {
        Some(owner) => vec![owner.policy.dest_registry_id()],
        None => policies
            .iter()
            .map(ReplicationPolicy::dest_registry_id)
            .collect(),
    };
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl Api {
    /// The puller, or 401 (no, or wrong, credentials; the challenge asks for Basic), 403 (a
    /// robot without the permission or outside its namespace) or 429 (too many failures).
    pub(super) async fn puller(
        &self,
        headers: &HeaderMap,
        address: Option<IpAddr>,
        owner: Option<&Owner<'_>>,
        probe: Probe<'_>,
        policies: &[ReplicationPolicy],
    ) -> Result<Puller, ApiError> {
        if headers.get(http::header::AUTHORIZATION).is_none() {
            if owner.is_some_and(|o| o.policy.auto_sync.public) {
                return Ok(Puller::Anonymous);
            }
            return Err(ApiError::unauthorized(
                "credentials are required to pull here (the namespace is not public)",
            ));
        }
        let (user, password) = super::access::basic_of(headers).ok_or_else(|| {
            ApiError::unauthorized("only HTTP Basic credentials are accepted here")
        })?;
        let now = OffsetDateTime::now_utc();
        let keys = self.throttle.keys(&user, address, now.unix_timestamp());
        let counts = self.logins.failures(&keys.keys).await?;
        if let Some(wait) = self.throttle.wait(&keys, &counts, now.unix_timestamp()) {
            return Err(ApiError::too_many_logins(wait));
        }
        if let Some(puller) = self.ferry_puller(&user, &password, now).await? {
            if let (
                Puller::Robot {
                    namespace: Some(namespace),
                },
                Some(owner),
            ) = (&puller, owner)
            {
                if owner.source.namespace() != namespace {
                    return Err(denied(format!(
                        "{user} is a robot of namespace {namespace}; this name replicates {}",
                        owner.source
                    )));
                }
            }
            return Ok(puller);
        }
        let mut denied_by = None;
        for registry_id in registries_to_ask(owner, policies) {
            match self
                .registry_accepts(registry_id, probe, &user, &password)
                .await?
            {
                Verdict::Reads => return Ok(Puller::RegistryLogin { registry_id }),
                Verdict::Denied => denied_by = Some(registry_id),
                Verdict::Wrong => {}
            }
        }
        if let Some(registry_id) = denied_by {
            // A login the destination knows, without the right to this read: not a failure.
            return Err(denied(format!(
                "destination registry {registry_id} does not let {user} read {}",
                probe.scope()
            )));
        }
        self.logins
            .record_failure(&keys.keys, keys.window_end + 60)
            .await?;
        Err(ApiError::unauthorized(
            "wrong user name or password (neither Ferry's nor the destination registry's)",
        ))
    }

    /// The admin, or an active robot of Ferry's with `registry` `read`; None when the login
    /// is neither (it may still be the destination's).
    async fn ferry_puller(
        &self,
        user: &str,
        password: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Puller>, ApiError> {
        if self.admin.matches(user, password) {
            return Ok(Some(Puller::Admin));
        }
        let Some(name) = user.strip_prefix(ROBOT_PREFIX) else {
            return Ok(None);
        };
        let Some((robot, hash)) = self.robots.robot_by_name(name).await? else {
            return Ok(None);
        };
        let secret = password.to_string();
        let matches =
            tokio::task::spawn_blocking(move || super::access::secret_matches(&secret, &hash))
                .await
                .unwrap_or(false);
        if !matches || !robot.active(now) {
            return Ok(None);
        }
        if !robot.allows(RobotResource::Registry, RobotAction::Read) {
            return Err(denied(format!(
                "{user} lacks the permission registry read that pulling needs"
            )));
        }
        Ok(Some(Puller::Robot {
            namespace: robot.namespace().map(str::to_string),
        }))
    }

    /// Whether the destination registry lets this login make the probe's read (its token
    /// exchange with the login, where it asks for one), remembered for a few seconds.
    async fn registry_accepts(
        &self,
        registry_id: i64,
        probe: Probe<'_>,
        user: &str,
        password: &str,
    ) -> Result<Verdict, ApiError> {
        let scope = probe.scope();
        if self.pull.accepted(registry_id, scope, user, password) {
            return Ok(Verdict::Reads);
        }
        let registry = self.store.get_registry_with_secret(registry_id).await?;
        let as_user = Registry {
            credential: Some(Credential {
                kind: CredentialType::Basic,
                access_key: user.to_string(),
                access_secret: Some(password.to_string()),
            }),
            ..registry
        };
        let client = self
            .connect
            .client(&as_user)
            .map_err(|e| ApiError::internal(format!("reaching the destination: {e}")))?;
        match probe.allowed(client.as_ref()).await {
            Ok(()) => {
                self.pull.accept(registry_id, scope, user, password);
                Ok(Verdict::Reads)
            }
            Err(RegistryError::Refused { status: 401, .. }) => Ok(Verdict::Wrong),
            Err(RegistryError::Refused { status: 403, .. }) => Ok(Verdict::Denied),
            Err(e) => Err(ApiError::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                format!("the destination registry could not check the login: {e}"),
            )),
        }
    }
}
