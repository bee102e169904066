//! The webhook sender over reqwest: a short timeout, the egress address policy checked on
//! every name resolved and every redirect, as for registries.

use std::time::Duration;

use async_trait::async_trait;
use http::header::{AUTHORIZATION, CONTENT_TYPE};

use super::registry::egress;
use crate::model::addresses::AddressPolicy;
use crate::ports::notify::{SendError, WebhookRequest, WebhookSender};

/// How long one POST may take, connection included.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

pub struct HttpWebhookSender {
    addresses: AddressPolicy,
    verified: reqwest::Client,
    unverified: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
#[error("the webhook HTTP client: {0}")]
pub struct SenderBuildError(#[from] reqwest::Error);

impl HttpWebhookSender {
    pub fn new(addresses: AddressPolicy, timeout: Duration) -> Result<Self, SenderBuildError> {
        let client = |skip_verify: bool| {
            egress::guarded(reqwest::Client::builder(), addresses)
                .timeout(timeout)
                .connect_timeout(timeout)
                .danger_accept_invalid_certs(skip_verify)
                .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        Ok(Self {
            addresses,
            verified: client(false)?,
            unverified: client(true)?,
        })
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(&self, request: &WebhookRequest<'_>) -> Result<u16, SendError> {
        let url = url::Url::parse(request.address)
            .map_err(|e| SendError::Refused(format!("{}: {e}", request.address)))?;
        self.addresses
            .check_url(&url)
            .map_err(|reason| SendError::Refused(format!("{url}: {reason}")))?;
        let client = if request.skip_cert_verify {
            &self.unverified
        } else {
            &self.verified
        };
        let mut post = client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(request.body.to_vec());
        if let Some(header) = request.auth_header.filter(|h| !h.is_empty()) {
            post = post.header(AUTHORIZATION, header);
        }
        match post.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(e) => Err(match egress::refusal_in(&e) {
                Some(refusal) => SendError::Refused(refusal),
                None => SendError::Failed(describe(&e)),
            }),
        }
    }
}

fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
