//! Auto-sync on pull: what a pull of a name an auto-sync policy owns gets. A manifest the
//! destination holds comes from there as its bytes; one it lacks but the source has (within
//! the policy's filters) is replicated by one execution narrowed to that artifact, however
//! many pulls ask at once, and the pull waits for it at the destination. Blobs come from the
//! destination: its redirect, or its bytes.

mod blobs;
pub mod events;

pub use blobs::{read_blob, BlobAnswer};

use std::time::Duration;

use super::start::{start_execution, StartError, Started};
use crate::messages::ArtifactEvent;
use crate::model::auto_sync::Owner;
use crate::model::{ExecutionStatus, TriggerType};
use crate::oci::{Digest, RawManifest, Reference, Repository};
use crate::ports::queue::MessageQueue;
use crate::ports::registry::{RegistryClient, RegistryError};
use crate::ports::store::{Store, StoreError};

/// How pulls wait and what they may carry.
#[derive(Debug, Clone)]
pub struct PullSettings {
    /// The longest a pull waits for a replication it asked for (below API Gateway's 29 s).
    pub wait: Duration,
    /// The first pause between looks at the destination; it grows by half each time.
    pub first_poll: Duration,
    pub max_poll: Duration,
    /// Pulls of one artifact within one window of this length share one replication; a pull
    /// after it may start another (a failed replication is tried again then).
    pub claim_window: Duration,
    /// The largest blob passed through when the destination answers bytes, not a redirect
    /// (a Lambda answer is at most 6 MB, base64 for binary).
    pub max_stream_bytes: u64,
    /// How long the policies, the destination's clients and accepted logins are kept.
    pub cache_for: Duration,
}

impl Default for PullSettings {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(20),
            first_poll: Duration::from_millis(250),
            max_poll: Duration::from_secs(2),
            claim_window: Duration::from_secs(60),
            max_stream_bytes: 4 * 1024 * 1024,
            cache_for: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{0}")]
    ManifestUnknown(String),
    #[error("blob {digest} is not at the destination in {repository}")]
    BlobUnknown { repository: String, digest: String },
    /// The replication is still running (or another pull's is): try again shortly.
    #[error("{reason}")]
    NotYet {
        reason: String,
        retry_after: Duration,
    },
    #[error("execution {execution_id} ended {status} without bringing {artifact}: {reason}")]
    ReplicationFailed {
        execution_id: i64,
        artifact: String,
        status: String,
        reason: String,
    },
    #[error("blob {digest} is {size} bytes, over the {limit} bytes Ferry passes through; a destination whose storage answers blob reads with a redirect (S3, GCS) serves any size")]
    TooLarge {
        digest: String,
        size: u64,
        limit: u64,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("starting the replication: {0}")]
    Start(String),
}

/// A manifest as served, and the execution this pull started, if it started one.
#[derive(Debug)]
pub struct Served {
    pub manifest: RawManifest,
    pub execution_id: Option<i64>,
}

/// What one pull needs: the store and queue to start an execution, both sides' clients.
pub struct Pull<'a> {
    pub store: &'a dyn Store,
    pub queue: &'a dyn MessageQueue,
    pub destination: &'a dyn RegistryClient,
    pub source: &'a dyn RegistryClient,
    pub settings: &'a PullSettings,
}

fn is_missing(error: &RegistryError) -> bool {
    matches!(error, RegistryError::Refused { status: 404, .. })
}

/// The claim pulls of one artifact share within the current window.
pub fn claim_key(
    policy_id: i64,
    source: &Repository,
    reference: &Reference,
    window: Duration,
    now: i64,
) -> String {
    let window = i64::try_from(window.as_secs().max(1)).unwrap_or(i64::MAX);
    format!(
        "pull#{policy_id}#{source}#{reference}#{}",
        now.div_euclid(window)
    )
}

/// When a claim made now may be forgotten: its window is over by then, with a margin.
pub fn claim_expiry(window: Duration) -> i64 {
    let window = i64::try_from(window.as_secs()).unwrap_or(i64::MAX / 4);
    now_secs()
        .saturating_add(window.saturating_mul(2))
        .saturating_add(3600)
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Pull<'_> {
    /// The manifest `reference` of `destination`, a name `owner` holds: from the destination,
    /// or replicated from the source first.
    pub async fn manifest(
        &self,
        owner: &Owner<'_>,
        destination: &Repository,
        reference: &Reference,
    ) -> Result<Served, PullError> {
        if let Some(manifest) = self.held(destination, reference).await? {
            return Ok(Served {
                manifest,
                execution_id: self.refresh(owner, reference).await,
            });
        }
        let policy = owner.policy;
        let artifact = format!("{}:{reference}", owner.source);
        let by_digest_alone = reference.digest().is_some()
            && !crate::model::Selection::of(&policy.filters).is_ok_and(|s| s.selects_digests());
        if by_digest_alone {
            // A digest has no tag for the policy's tag filters (or kind, labels) to judge.
            return Err(PullError::ManifestUnknown(format!(
                "{destination}@{reference} is not at the destination, and policy {} selects by tag (its filters judge tags, kinds or labels): pull a tag of {} first, its digests follow",
                policy.id, owner.source
            )));
        }
        if !policy.syncs_reference(reference) {
            return Err(PullError::ManifestUnknown(format!(
                "{destination}:{reference} is not at the destination, and {artifact} is outside the tag filter of policy {} ({:?})",
                policy.id, policy.name
            )));
        }
        if self
            .source
            .head_manifest(&owner.source, reference)
            .await?
            .is_none()
        {
            return Err(PullError::ManifestUnknown(format!(
                "{destination}:{reference} is not at the destination, nor {artifact} at the source registry {}",
                self.source.name()
            )));
        }
        let execution_id = self.replicate(owner, reference).await?;
        self.wait_for(destination, reference, &artifact, execution_id)
            .await
            .map(|manifest| Served {
                manifest,
                execution_id,
            })
    }

    /// With `on_pull_event`, a pull of a tag the destination holds syncs it from the source
    /// (once per window), as a pull notified by the destination would; the pull is served as
    /// it is either way, so a failure to start is only logged.
    async fn refresh(&self, owner: &Owner<'_>, reference: &Reference) -> Option<i64> {
        let policy = owner.policy;
        if !policy.auto_sync.on_pull_event
            || reference.digest().is_some()
            || !policy.syncs_reference(reference)
        {
            return None;
        }
        events::sync_once_per_window(
            self.store,
            self.queue,
            owner,
            reference,
            self.settings.claim_window,
            None,
        )
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, policy_id = policy.id, "sync on pull not started");
            None
        })
    }

    async fn held(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<Option<RawManifest>, PullError> {
        match self.destination.get_manifest(repository, reference).await {
            Ok(manifest) => Ok(Some(manifest)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts the policy's execution for the one artifact, unless another pull of it did in
    /// this window: the execution's id when this pull started it.
    async fn replicate(
        &self,
        owner: &Owner<'_>,
        reference: &Reference,
    ) -> Result<Option<i64>, PullError> {
        let policy = owner.policy;
        let key = claim_key(
            policy.id,
            &owner.source,
            reference,
            self.settings.claim_window,
            now_secs(),
        );
        if !self
            .store
            .claim_once_until(&key, claim_expiry(self.settings.claim_window))
            .await?
        {
            return Ok(None);
        }
        let event = ArtifactEvent {
            repository: owner.source.to_string(),
            reference: reference.to_string(),
            deleted: false,
        };
        let started = start_execution(
            self.store,
            self.queue,
            policy.id,
            TriggerType::EventBased,
            None,
            Some(&event),
        )
        .await;
        if started.is_err() {
            // A later pull may try again.
            if let Err(e) = self.store.release_claim(&key).await {
                tracing::warn!(error = %e, key, "claim not released");
            }
        }
        match started {
            Ok(Started::Running(execution)) => {
                tracing::info!(
                    execution_id = execution.id,
                    policy_id = policy.id,
                    artifact = %format!("{}:{reference}", owner.source),
                    "replicating on pull"
                );
                Ok(Some(execution.id))
            }
            Ok(Started::Skipped(execution)) => Err(PullError::NotYet {
                reason: format!(
                    "policy {} runs one execution at a time and one is running (execution {} was skipped); pull again later",
                    policy.id, execution.id
                ),
                retry_after: self.settings.claim_window,
            }),
            Ok(Started::Duplicate) => Ok(None),
            Err(StartError::Store(e)) => Err(e.into()),
            Err(e) => Err(PullError::Start(e.to_string())),
        }
    }

    /// Looks at the destination with growing pauses until the manifest is there, the
    /// execution this pull started has ended without it, or the wait is over.
    async fn wait_for(
        &self,
        destination: &Repository,
        reference: &Reference,
        artifact: &str,
        execution_id: Option<i64>,
    ) -> Result<RawManifest, PullError> {
        let deadline = tokio::time::Instant::now() + self.settings.wait;
        let mut pause = self.settings.first_poll;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::time::sleep(pause.min(left)).await;
            if let Some(manifest) = self.held(destination, reference).await? {
                return Ok(manifest);
            }
            if let Some(id) = execution_id {
                let execution = self.store.get_execution(id).await?;
                if execution.status.is_final() {
                    // It may have landed between the two looks.
                    if let Some(manifest) = self.held(destination, reference).await? {
                        return Ok(manifest);
                    }
                    if execution.status == ExecutionStatus::Succeed {
                        return Err(PullError::ManifestUnknown(format!(
                            "execution {id} ended without copying {artifact}: the policy's label or resource filters leave it out"
                        )));
                    }
                    return Err(PullError::ReplicationFailed {
                        execution_id: id,
                        artifact: artifact.to_string(),
                        status: format!("{:?}", execution.status),
                        reason: execution.status_text,
                    });
                }
            }
            if tokio::time::Instant::now() >= deadline {
                let by = execution_id.map_or_else(
                    || "the replication another pull started".to_string(),
                    |id| format!("execution {id}"),
                );
                return Err(PullError::NotYet {
                    reason: format!(
                        "{artifact} is being replicated to {destination} by {by}, which has not finished within {} s; pull again shortly",
                        self.settings.wait.as_secs()
                    ),
                    retry_after: Duration::from_secs(5),
                });
            }
            pause = (pause + pause / 2).min(self.settings.max_poll);
        }
    }

    /// A blob of `repository` at the destination, as [`read_blob`] reads it.
    pub async fn blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        head: bool,
    ) -> Result<BlobAnswer, PullError> {
        read_blob(
            self.destination,
            self.settings.max_stream_bytes,
            repository,
            digest,
            head,
        )
        .await
    }
}
