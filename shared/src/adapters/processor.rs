//! The processor extender client over reqwest: the entry's timeout, its `Authorization`
//! header, the egress address policy, an answer of at most 1 MiB.

use async_trait::async_trait;
use futures::StreamExt;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;

use super::registry::egress;
use crate::model::addresses::AddressPolicy;
use crate::model::artifact_types::{Addition, HttpProcessor, Metadata};
use crate::ports::processor::{MetadataRequest, ProcessorClient, ProcessorError};

const MAX_ANSWER: usize = 1024 * 1024;

pub struct HttpProcessorClient {
    client: reqwest::Client,
}

impl HttpProcessorClient {
    pub fn new(addresses: AddressPolicy) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: egress::guarded(reqwest::Client::builder(), addresses)
                .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
                .build()?,
        })
    }
}

/// The seed's `AbstractMetadataResponse`: the artifact with its `extra_attrs`, or an error.
#[derive(Deserialize)]
struct Answer {
    #[serde(default, alias = "Artifact")]
    artifact: Option<AnsweredArtifact>,
    #[serde(default, alias = "Error")]
    error: String,
}

#[derive(Deserialize)]
struct AnsweredArtifact {
    #[serde(default)]
    extra_attrs: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    additions: Vec<Addition>,
}

#[async_trait]
impl ProcessorClient for HttpProcessorClient {
    async fn abstract_metadata(
        &self,
        processor: &HttpProcessor,
        request: &MetadataRequest,
    ) -> Result<Metadata, ProcessorError> {
        let url = format!(
            "{}/abstractmetadata",
            processor.url.as_str().trim_end_matches('/')
        );
        let timed_out = || ProcessorError::TimedOut {
            url: url.clone(),
            seconds: processor.timeout.as_secs(),
        };
        let unreachable = |e: reqwest::Error| match egress::refusal_in(&e) {
            _ if e.is_timeout() => timed_out(),
            Some(reason) => ProcessorError::Unreachable {
                url: url.clone(),
                reason,
            },
            None => ProcessorError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            },
        };
        let mut post = self
            .client
            .post(&url)
            .timeout(processor.timeout)
            .header(CONTENT_TYPE, "application/json")
            .json(request);
        if let Some(authorization) = &processor.authorization {
            post = post.header(AUTHORIZATION, authorization);
        }
        let response = post.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(ProcessorError::Status { url, status });
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(piece) = stream.next().await {
            body.extend_from_slice(&piece.map_err(unreachable)?);
            if body.len() > MAX_ANSWER {
                return Err(ProcessorError::Invalid {
                    url,
                    reason: "over 1 MiB".into(),
                });
            }
        }
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| ProcessorError::Invalid {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        if !answer.error.is_empty() {
            return Err(ProcessorError::Refused {
                url,
                message: answer.error,
            });
        }
        let artifact = answer.artifact.ok_or_else(|| ProcessorError::Invalid {
            url: url.clone(),
            reason: "no artifact".into(),
        })?;
        Ok(Metadata {
            extra_attrs: artifact.extra_attrs,
            additions: artifact.additions,
        })
    }
}
