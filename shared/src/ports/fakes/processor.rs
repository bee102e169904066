//! A processor extender in memory: it records what it was asked and answers what it is told.

use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::model::artifact_types::{HttpProcessor, Metadata};
use crate::ports::processor::{MetadataRequest, ProcessorClient, ProcessorError};

pub struct RecordingProcessors {
    answer: Mutex<Result<Metadata, ProcessorError>>,
    requests: Mutex<Vec<(String, MetadataRequest)>>,
}

impl Default for RecordingProcessors {
    fn default() -> Self {
        Self {
            answer: Mutex::new(Ok(Metadata::default())),
            requests: Mutex::default(),
        }
    }
}

impl RecordingProcessors {
    pub fn answer(&self, answer: Result<Metadata, ProcessorError>) {
        *lock(&self.answer) = answer;
    }

    /// The extenders' URLs and what was posted to them, in order.
    pub fn requests(&self) -> Vec<(String, MetadataRequest)> {
        lock(&self.requests).clone()
    }
}

#[async_trait]
impl ProcessorClient for RecordingProcessors {
    async fn abstract_metadata(
        &self,
        processor: &HttpProcessor,
        request: &MetadataRequest,
    ) -> Result<Metadata, ProcessorError> {
        lock(&self.requests).push((processor.url.to_string(), request.clone()));
        lock(&self.answer).clone()
    }
}
