//! The copy engine: one artifact from one registry to another, over the registry port only.
//!
//! - `job`: what a copy is asked to do, how it ends, what it did;
//! - `artifact`: an artifact, then what refers to it (`referrers`);
//! - `tree`: a manifest tree (an index's children first, blobs before their manifest, the tag
//!   last), byte-exact;
//! - `blob` and `upload`: blobs mounted, skipped or streamed, resumable across interruptions
//!   (`interruptions`) and invocations; `throttle`: the policy's speed;
//! - `referrers`: signatures, attestations, SBOMs follow their artifact;
//! - `delete`: replicated deletions, never beyond what was deleted;
//! - `pool`: what a warm function keeps between copies (clients, blob slots, blob locations).

mod artifact;
mod blob;
pub mod delete;
mod interruptions;
mod job;
pub mod pool;
mod referrers;
mod throttle;
mod tree;
mod upload;

pub use artifact::copy_artifact;
pub use job::{CopyError, CopyJob, CopyOutcome, SkipReason, StopCheck};
pub use pool::{BlobSlots, CachedLocations, RegistryPool};
pub use throttle::Throttle;
