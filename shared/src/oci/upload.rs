//! An open blob upload session of the distribution API, as it travels in a checkpoint to the
//! next invocation.

use serde::{Deserialize, Serialize};

use super::names::Repository;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    pub repository: Repository,
    /// The absolute URL the next request goes to.
    pub location: String,
    /// `OCI-Chunk-Min-Length`: no chunk but the last may be smaller.
    pub min_chunk: u64,
}
