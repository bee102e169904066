//! What a task's copy is asked to do and what it did: the options it takes from its policy,
//! the figures it reports, and where it left off when an invocation ran out of time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::oci::{Digest, UploadSession};

/// What a transfer did, beyond the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct TransferFigures {
    pub bytes_copied: i64,
    pub blobs_copied: i64,
    pub blobs_skipped: i64,
    pub blobs_mounted: i64,
}

impl std::ops::AddAssign for TransferFigures {
    fn add_assign(&mut self, more: Self) {
        self.bytes_copied += more.bytes_copied;
        self.blobs_copied += more.blobs_copied;
        self.blobs_skipped += more.blobs_skipped;
        self.blobs_mounted += more.blobs_mounted;
    }
}

/// Copy options a task takes from its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CopyOptions {
    #[serde(rename = "override")]
    pub override_: bool,
    pub copy_by_chunk: bool,
    /// KiB/s; 0 or less is unlimited.
    pub speed: i32,
}

/// What a copy that ran out of time leaves for the next invocation: the chunked uploads under
/// way, by blob digest. Finished blobs need nothing: the destination has them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    pub uploads: BTreeMap<Digest, UploadSession>,
    /// Invocations this copy has continued into so far.
    pub continuations: u32,
}
