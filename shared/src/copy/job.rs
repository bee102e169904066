//! A copy job: where an artifact comes from and goes, with the task's options; what can end
//! it; and what it did.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::pool::BlobSlots;
use super::throttle::Throttle;
use crate::model::{Checkpoint, CopyOptions, TransferFigures};
use crate::oci::{Digest, NameError, Platform, PlatformError, RawManifest, Reference, Repository};
use crate::ports::registry::{BlobLocations, RegistryClient, RegistryError};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A name from a manifest, a referrer list or the task that is not valid.
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("{0}")]
    Unsupported(String),
    #[error("stopped: the execution was stopped")]
    Stopped,
    /// The invocation's time is nearly up; the copy goes on from `Checkpoint`.
    #[error("out of time in this invocation; {} uploads to resume", .0.uploads.len())]
    OutOfTime(Checkpoint),
    /// A registry's shared budget could not be read (the store failed): may heal.
    #[error("{0}")]
    Budget(String),
}

impl CopyError {
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Registry(e) => e.is_transient(),
            Self::Budget(_) => true,
            _ => false,
        }
    }
}

impl From<super::shared_slots::SlotError> for CopyError {
    fn from(e: super::shared_slots::SlotError) -> Self {
        match e {
            super::shared_slots::SlotError::OutOfTime => Self::OutOfTime(Checkpoint::default()),
            super::shared_slots::SlotError::Unreadable(reason) => Self::Budget(reason),
        }
    }
}

impl From<PlatformError> for CopyError {
    fn from(e: PlatformError) -> Self {
        Self::Unsupported(e.to_string())
    }
}

/// Whether the copy should stop now (its execution was stopped).
pub type StopCheck = dyn Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync;

/// Where an artifact comes from and where it goes.
#[derive(Clone, Copy)]
pub struct CopyJob<'a> {
    pub src: &'a dyn RegistryClient,
    pub src_repository: &'a Repository,
    pub src_reference: &'a Reference,
    pub dst: &'a dyn RegistryClient,
    pub dst_repository: &'a Repository,
    /// The tag to write, or the digest when the artifact is copied by digest.
    pub dst_reference: &'a Reference,
    pub options: CopyOptions,
    /// Asked between blobs and between chunks: true ends the copy with [`CopyError::Stopped`].
    pub stop: Option<&'a StopCheck>,
    /// Where the destination registry (`dst_registry_id`) holds blobs already, to mount from.
    pub locations: Option<&'a dyn BlobLocations>,
    pub dst_registry_id: i64,
    /// Source and destination are one registry: blobs mount from the source repository.
    pub same_registry: bool,
    /// When to stop and leave a checkpoint (the invocation's deadline less a margin).
    pub deadline: Option<Instant>,
    /// Uploads an earlier invocation left, to go on with.
    pub resume: Option<&'a Checkpoint>,
    /// Platforms to keep in a multi-arch index; empty keeps all.
    pub platforms: &'a [Platform],
    /// The bound on blob copies at the two registries, shared with other copies; None for none.
    pub slots: Option<&'a BlobSlots>,
}

impl CopyJob<'_> {
    pub(super) fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    pub(super) async fn check_stop(&self) -> Result<(), CopyError> {
        match self.stop {
            Some(stop) if stop().await => Err(CopyError::Stopped),
            _ => Ok(()),
        }
    }
}

/// Why nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The destination holds the same digest under the reference.
    SameDigest,
    /// The destination holds another digest and the policy does not override.
    HeldOtherwise { held: Digest },
    /// A deletion found nothing to delete.
    NotAtDestination { location: String },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SameDigest => f.write_str("the destination has the same digest"),
            Self::HeldOtherwise { held } => {
                write!(f, "the destination holds {held} and override is off")
            }
            Self::NotAtDestination { location } => {
                write!(f, "{location} is not at the destination")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOutcome {
    Copied {
        digest: Digest,
        figures: TransferFigures,
        /// The manifest written, as read (none for a chart package or a deletion).
        manifest: Option<RawManifest>,
        /// The source index `digest` was filtered from, when platforms were dropped.
        filtered_from: Option<Digest>,
    },
    /// Nothing was written; `digest` is the artifact's where it is known.
    Skipped {
        digest: Option<Digest>,
        reason: SkipReason,
    },
}

/// What one artifact's copy counts as its blobs go, shared by the blobs copied at once.
#[derive(Default)]
pub(super) struct Counters {
    bytes: AtomicI64,
    copied: AtomicI64,
    skipped: AtomicI64,
    mounted: AtomicI64,
    pub(super) throttle: Option<Arc<Throttle>>,
}

impl Counters {
    pub(super) fn with_speed(speed_kib: i32) -> Self {
        Self {
            throttle: Throttle::new(speed_kib),
            ..Self::default()
        }
    }

    pub(super) fn copied(&self, bytes: u64) {
        self.copied.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(i64::try_from(bytes).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    pub(super) fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn mounted(&self) {
        self.mounted.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn figures(&self) -> TransferFigures {
        TransferFigures {
            bytes_copied: self.bytes.load(Ordering::Relaxed),
            blobs_copied: self.copied.load(Ordering::Relaxed),
            blobs_skipped: self.skipped.load(Ordering::Relaxed),
            blobs_mounted: self.mounted.load(Ordering::Relaxed),
        }
    }
}
