//! Volcengine Container Registry (CR): blobs and manifests through the distribution API with a
//! temporary login; the login, listing, namespaces and repositories through CR's OpenAPI
//! 2022-05-12 (`POST https://open.volcengineapi.com/?Action=<action>&Version=2022-05-12`,
//! JSON bodies, signed HMAC-SHA256 for the region and service `cr`:
//! https://www.volcengine.com/docs/6369/67269). Errors are 4xx with
//! `ResponseMetadata.Error`. The registry name and region come from the URL
//! (`<registry>-<region>.cr.volces.com`), else from `options.instance` and `options.region`.
//!
//! Calls: GetAuthorizationToken (https://www.volcengine.com/docs/6420/113753), ListNamespaces,
//! CreateNamespace, ListRepositories (…/113784), CreateRepository (…/113782), ListTags (…/113786).

mod source;

pub use source::VolcNamespaces;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{Login, Minted};
use super::cloud::{self, ApiError, SignedApi};
use super::signing::{volcengine, SigningError};
use super::transport::Transport;
use crate::model::kinds::{volcengine_endpoint, CloudApi};
use crate::model::Registry;
use crate::ports::registry::RegistryError;

const VERSION: &str = "2022-05-12";
const PAGE: usize = 100;

pub struct VolcApi {
    api: SignedApi,
    /// The CR instance's name, which every call carries as `Registry`.
    registry: String,
    region: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    #[serde(default)]
    response_metadata: Value,
    #[serde(default)]
    result: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AuthorizationToken {
    token: String,
    username: String,
    /// RFC 3339.
    #[serde(default)]
    expire_time: Option<String>,
}

impl VolcApi {
    pub fn new(registry: &Registry, api: &CloudApi, t: Transport) -> Result<Self, RegistryError> {
        let key = cloud::ApiKey::of(registry, "volcengine-cr")?;
        let from_url = volcengine_endpoint(&registry.url);
        let name = from_url
            .as_ref()
            .map(|(name, _)| name.clone())
            .or_else(|| registry.options.instance.clone());
        let missing = |what: &str| RegistryError::Invalid {
            registry: registry.name.clone(),
            what: format!("a volcengine-cr registry needs its {what}"),
        };
        Ok(Self {
            api: SignedApi::new(t, key)?,
            registry: name.ok_or_else(|| missing("registry name (options.instance)"))?,
            region: api
                .region
                .clone()
                .ok_or_else(|| missing("region (options.region)"))?,
        })
    }

    /// One call: the `Result` of a success, or the provider's error.
    async fn call<T: DeserializeOwned>(
        &self,
        action: &str,
        mut body: Value,
    ) -> Result<Result<T, ApiError>, RegistryError> {
        body["Registry"] = json!(self.registry);
        let body = Bytes::from(body.to_string());
        let body_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
        let query = [("Action", action), ("Version", VERSION)];
        let headers = [
            ("Content-Type", "application/json"),
            ("X-Content-Sha256", body_hash.as_str()),
        ];
        let request = cloud::Request {
            method: Method::POST,
            path: "/",
            query: &query,
            headers: &headers,
            body,
            shown: action,
        };
        let scope = volcengine::Scope {
            region: &self.region,
            service: "cr",
        };
        let signed = |r: &super::signing::Request<'_>| -> Result<_, SigningError> {
            let signed = volcengine::sign(r, &scope, &self.api.key.credentials(), cloud::now())?;
            Ok(cloud::Signature::Headers(signed.additions))
        };
        let cloud::Answer {
            status,
            body: answer,
            ..
        } = self.api.send(&request, signed).await?;
        let envelope: Envelope = serde_json::from_slice(&answer)
            .map_err(|_| self.api.unreadable(action, status, &answer))?;
        let error = &envelope.response_metadata["Error"];
        if let Some(code) = error["Code"].as_str().filter(|c| !c.is_empty()) {
            return Ok(Err(ApiError {
                code: code.to_string(),
                message: error["Message"].as_str().unwrap_or_default().to_string(),
            }));
        }
        if !status.is_success() {
            return Err(self.api.unreadable(action, status, &answer));
        }
        let result = envelope.result.unwrap_or(Value::Null);
        serde_json::from_value(result).map(Ok).map_err(|e| {
            self.api
                .t
                .invalid(format!("{action}: the answer is not CR's: {e}"))
        })
    }

    async fn must<T: DeserializeOwned>(
        &self,
        action: &str,
        body: Value,
    ) -> Result<T, RegistryError> {
        self.call(action, body)
            .await?
            .map_err(|e| self.refusal(action, &e))
    }

    fn refusal(&self, action: &str, error: &ApiError) -> RegistryError {
        let heals = error.is("InternalError") || error.code.contains("Throttling");
        let refused = self.api.refusal("POST", action, error, heals);
        let credential = [
            "SignatureDoesNotMatch",
            "InvalidAccessKey",
            "InvalidTimestamp",
        ]
        .iter()
        .any(|c| error.is(c));
        if credential {
            return self.api.t.invalid(format!(
                "{refused}; check the Access Key ID and Secret Access Key"
            ));
        }
        refused
    }
}

/// The registry's Basic credential from `GetAuthorizationToken`: temporary, good for an hour.
#[async_trait]
impl Login for VolcApi {
    async fn login(&self) -> Result<Minted, RegistryError> {
        let token: AuthorizationToken = self.must("GetAuthorizationToken", json!({})).await?;
        let expires_at = token.expire_time.as_deref().and_then(|at| {
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(std::time::SystemTime::from)
        });
        Ok(Minted {
            user: token.username,
            password: token.token,
            expires_at,
        })
    }
}
