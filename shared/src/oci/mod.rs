//! The OCI vocabulary: validated names, media types, manifests as raw bytes and what they
//! reference, referrers, platforms, upload sessions, and Helm packages as the OCI artifacts
//! `helm push` makes of them. It knows nothing of Ferry's domain.
//!
//! oci-client gives the media type names and oci-spec the digest grammar; Ferry reads
//! manifests itself, leniently (an index and an image through one shape) and as raw bytes, so
//! that a digest is never recomputed from re-serialised JSON.

pub mod helm;
pub mod manifest;
pub mod media;
pub mod names;
pub mod platforms;
pub mod referrers;
pub mod upload;

pub use manifest::{Descriptor, ManifestRefs, RawManifest, Referrer, ReferrerList};
pub use names::{Digest, NameError, Reference, Repository, Tag};
pub use platforms::{filter_platforms, Platform, PlatformError};
pub use upload::UploadSession;
