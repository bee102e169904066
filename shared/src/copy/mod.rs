//! The copy engine: one artifact from one registry to another, over the registry port only.
//!
//! - `job`: what a copy is asked to do, how it ends, what it did;
//! - `artifact`: an artifact, then what refers to it (`referrers`);
//! - `tree`: a manifest tree (an index's children first, blobs before their manifest, the tag
//!   last), byte-exact;
//! - `blob` and `upload`: blobs mounted, skipped or streamed, resumable across interruptions
//!   (`interruptions`) and invocations, their bytes checked against their digest as they go
//!   (`verify`); `throttle`: the policy's speed;
//! - `referrers`: signatures, attestations, SBOMs follow their artifact;
//! - `chart`: a Helm chart to a destination that keeps packages (ChartMuseum);
//! - `delete`: replicated deletions, never beyond what was deleted;
//! - `pool`: what a warm function keeps between copies (clients, blob slots, one upload of a
//!   blob at a time: `flights`); `locations`: where blobs were seen.

mod artifact;
mod blob;
mod chart;
pub mod delete;
mod flights;
mod interruptions;
mod job;
mod locations;
pub mod pool;
mod referrers;
mod shared_slots;
mod throttle;
mod tree;
mod upload;
mod verify;

pub use artifact::copy_artifact;
pub use job::{CopyError, CopyJob, CopyOutcome, SkipReason, StopCheck};
pub use locations::CachedLocations;
pub use pool::{BlobSlots, HeldSlots, RegistryPool};
pub use throttle::Throttle;
