//! A processor extender (seed 004's out-of-tree processor): Ferry posts an artifact's manifest
//! and config, the extender answers the type's `extra_attrs` and additions.

use async_trait::async_trait;
use serde::Serialize;

use crate::model::artifact_types::{HttpProcessor, Metadata};

/// What `POST {url}/abstractmetadata` carries: the seed's `AbstractMetadataRequest` (the
/// registry, the manifest as a string, the artifact) and the config, so the extender needs
/// no registry access. Ferry sends no registry credentials: `authorization` stays empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetadataRequest {
    pub registry: ProcessorRegistry,
    pub manifest: String,
    pub artifact: ProcessedArtifact,
    pub config: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessorRegistry {
    pub url: String,
    pub authorization: String,
}

/// The artifact as Harbor's model names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessedArtifact {
    pub repository_name: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub manifest_media_type: String,
    pub media_type: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Why an extender gave nothing; never fails a copy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessorError {
    #[error("{url}: no answer within {seconds} s")]
    TimedOut { url: String, seconds: u64 },
    #[error("{url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} answered what is not the seed's AbstractMetadataResponse: {reason}")]
    Invalid { url: String, reason: String },
    #[error("{url} answered the error {message:?}")]
    Refused { url: String, message: String },
}

#[async_trait]
pub trait ProcessorClient: Send + Sync {
    async fn abstract_metadata(
        &self,
        processor: &HttpProcessor,
        request: &MetadataRequest,
    ) -> Result<Metadata, ProcessorError>;
}
