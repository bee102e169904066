//! Tencent Cloud Container Registry (TCR, the enterprise edition): blobs and manifests through
//! the distribution API with a temporary login; the login, listing and namespaces through TCR's
//! API 2019-09-24 (`POST https://tcr.tencentcloudapi.com/`, the action in `X-TC-Action`, signed
//! TC3-HMAC-SHA256: https://www.tencentcloud.com/document/product/1051/41101). Errors come back
//! as HTTP 200 with `Response.Error`. The instance is found by its name (the URL's first label,
//! or `options.instance`) or, for a custom domain, by its public domain.
//!
//! Calls: DescribeInstances (https://www.tencentcloud.com/document/product/1051/50703),
//! CreateInstanceToken (…/45154), DescribeNamespaces (…/50693), CreateNamespace (…/50698),
//! DescribeRepositories (…/50720), DescribeImages (…/50721).

mod source;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use super::auth::{Login, Minted};
use super::cloud::{self, ApiError, SignedApi};
use super::signing::{tencent, SigningError};
use super::transport::Transport;
use crate::model::kinds::{tcr_instance, CloudApi};
use crate::model::Registry;
use crate::ports::registry::RegistryError;

const VERSION: &str = "2019-09-24";
/// Where DescribeInstances asks with `AllRegion` when the record names no region (Harbor's
/// adapter does the same).
const LOOKUP_REGION: &str = "ap-guangzhou";
const PAGE: usize = 100;

/// The instance a registry URL names.
#[derive(Debug, Clone)]
struct Instance {
    id: String,
    region: String,
}

pub struct TcrApi {
    api: SignedApi,
    /// Its name or `tcr-` id, when the URL or the record names it.
    named: Option<String>,
    /// The registry's `host[:port]`, which is the instance's public domain.
    domain: String,
    lookup_region: String,
    instance: OnceCell<Instance>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    response: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TcrRegistry {
    registry_id: String,
    #[serde(default)]
    registry_name: String,
    #[serde(default)]
    public_domain: String,
    #[serde(default)]
    region_name: String,
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Instances {
    #[serde(default)]
    registries: Vec<TcrRegistry>,
    #[serde(default)]
    total_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InstanceToken {
    #[serde(default)]
    username: Option<String>,
    token: String,
    /// Milliseconds since the epoch.
    #[serde(default)]
    exp_time: Option<u64>,
}

impl TcrApi {
    pub fn new(registry: &Registry, api: &CloudApi, t: Transport) -> Result<Self, RegistryError> {
        let key = cloud::ApiKey::of(registry, "tencent-tcr")?;
        Ok(Self {
            api: SignedApi::new(t, key)?,
            named: (registry.options.instance.clone()).or_else(|| tcr_instance(&registry.url)),
            domain: registry.host().unwrap_or_default(),
            lookup_region: api
                .region
                .clone()
                .unwrap_or_else(|| LOOKUP_REGION.to_string()),
            instance: OnceCell::new(),
        })
    }

    /// One API call in `region`: the `Response` object of a success, or the provider's error.
    async fn call<T: DeserializeOwned>(
        &self,
        action: &str,
        region: &str,
        body: Value,
    ) -> Result<Result<T, ApiError>, RegistryError> {
        let request = cloud::Request {
            method: Method::POST,
            path: "/",
            query: &[],
            headers: &[("Content-Type", "application/json")],
            body: Bytes::from(body.to_string()),
            shown: action,
        };
        let signed = |r: &super::signing::Request<'_>| -> Result<_, SigningError> {
            let call = tencent::Action {
                service: "tcr",
                action,
                version: VERSION,
                region: Some(region),
            };
            let timestamp = cloud::now().unix_timestamp();
            let signed = tencent::sign(r, &call, &self.api.key.credentials(), timestamp)?;
            Ok(cloud::Signature::Headers(signed.additions))
        };
        let cloud::Answer {
            status,
            body: answer,
            ..
        } = self.api.send(&request, signed).await?;
        let envelope: Envelope = serde_json::from_slice(&answer)
            .map_err(|_| self.api.unreadable(action, status, &answer))?;
        if let Some(error) = envelope.response.get("Error") {
            return Ok(Err(ApiError {
                code: error["Code"].as_str().unwrap_or_default().to_string(),
                message: error["Message"].as_str().unwrap_or_default().to_string(),
            }));
        }
        if !status.is_success() {
            return Err(self.api.unreadable(action, status, &answer));
        }
        serde_json::from_value(envelope.response)
            .map(Ok)
            .map_err(|e| {
                self.api
                    .t
                    .invalid(format!("{action}: the answer is not TCR's: {e}"))
            })
    }

    /// [`Self::call`] where every provider error is a failure: busy codes may heal.
    async fn must<T: DeserializeOwned>(
        &self,
        action: &str,
        region: &str,
        body: Value,
    ) -> Result<T, RegistryError> {
        self.call(action, region, body)
            .await?
            .map_err(|e| self.refusal(action, &e))
    }

    fn refusal(&self, action: &str, error: &ApiError) -> RegistryError {
        // Only the busy and the unexplained heal; `InternalError.ErrorTcrUnauthorized` and its
        // kind say what will not change.
        let heals = error.is("RequestLimitExceeded")
            || [
                "InternalError",
                "InternalError.DbError",
                "InternalError.Unknown",
            ]
            .contains(&error.code.as_str());
        let mut refused = self.api.refusal("POST", action, error, heals);
        if error.is("AuthFailure") {
            refused = self
                .api
                .t
                .invalid(format!("{refused}; check the SecretId and SecretKey"));
        }
        refused
    }

    /// The registry's instance, found once: by name or id through `DescribeInstances` in every
    /// region, or among all of them by its public domain.
    async fn instance(&self) -> Result<&Instance, RegistryError> {
        self.instance.get_or_try_init(|| self.find_instance()).await
    }

    async fn find_instance(&self) -> Result<Instance, RegistryError> {
        let region = self.lookup_region.as_str();
        let found = cloud::numbered_pages(&self.api, PAGE, |_, read| {
            // DescribeInstances' `Offset` counts instances, not pages.
            let mut body = json!({"AllRegion": true, "Offset": read, "Limit": PAGE});
            match &self.named {
                Some(id) if id.starts_with("tcr-") => body["Registryids"] = json!([id]),
                Some(name) => {
                    body["Filters"] = json!([{"Name": "RegistryName", "Values": [name]}]);
                }
                None => {}
            }
            async move {
                let answer: Instances = self.must("DescribeInstances", region, body).await?;
                Ok(Some((answer.registries, answer.total_count)))
            }
        })
        .await?
        .unwrap_or_default();
        let wanted = found.into_iter().find(|r| match &self.named {
            Some(named) => &r.registry_id == named || &r.registry_name == named,
            None => r.public_domain.eq_ignore_ascii_case(&self.domain),
        });
        let Some(instance) = wanted else {
            let which = match &self.named {
                Some(named) => format!("named {named:?}"),
                None => format!(
                    "with the domain {} (a custom domain's instance is named in options.instance)",
                    self.domain
                ),
            };
            return Err(self.api.t.invalid(format!(
                "DescribeInstances: the account has no TCR instance {which}"
            )));
        };
        if !instance.status.is_empty() && instance.status != "Running" {
            return Err(self.api.t.invalid(format!(
                "the TCR instance {} is {}, not Running",
                instance.registry_id, instance.status
            )));
        }
        Ok(Instance {
            id: instance.registry_id,
            region: if instance.region_name.is_empty() {
                self.lookup_region.clone()
            } else {
                instance.region_name
            },
        })
    }

    /// A call about the instance: in its region, with its `RegistryId` in the body.
    async fn on_instance<T: DeserializeOwned>(
        &self,
        action: &str,
        mut body: Value,
    ) -> Result<Result<T, ApiError>, RegistryError> {
        let instance = self.instance().await?;
        body["RegistryId"] = json!(instance.id);
        self.call(action, &instance.region, body).await
    }
}

/// The registry's Basic credential from `CreateInstanceToken`: a temporary token, good for an
/// hour.
#[async_trait]
impl Login for TcrApi {
    async fn login(&self) -> Result<Minted, RegistryError> {
        let action = "CreateInstanceToken";
        let token: InstanceToken = self
            .on_instance(action, json!({"TokenType": "temp"}))
            .await?
            .map_err(|e| self.refusal(action, &e))?;
        Ok(Minted {
            user: token.username.unwrap_or_default(),
            password: token.token,
            expires_at: token
                .exp_time
                .map(|ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)),
        })
    }
}
