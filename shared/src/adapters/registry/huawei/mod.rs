//! Huawei Cloud SoftWare Repository for Container (SWR): blobs and manifests through the
//! distribution API with a temporary login; the login, listing and organisations (namespaces)
//! through SWR's API (`https://swr-api.<region>.myhuaweicloud.com/v2/manage/...`, signed with
//! the AK/SK pair, APIG's SDK-HMAC-SHA256: https://support.huaweicloud.com/intl/en-us/devg-apisign/api-sign-algorithm-004.html).
//! A push makes its repository, once its organisation exists (Ferry makes that).
//!
//! Calls: CreateSecret `POST /v2/manage/utils/secret` (https://support.huaweicloud.com/intl/en-us/api-swr/swr_02_0052.html),
//! ShowNamespace `GET /v2/manage/namespaces/{ns}` (…/swr_02_0029.html), CreateNamespace
//! `POST /v2/manage/namespaces` (…/swr_02_0026.html), ListReposDetails `GET /v2/manage/repos`
//! (…/swr_02_0034.html), ListRepositoryTags `GET /v2/manage/namespaces/{ns}/repos/{repo}/tags`
//! (…/swr_02_0035.html). Lists are bare arrays paged by `limit` and `offset`, the total in
//! `Content-Range: <offset>-<count>/<total>` (and each item's `total_range`).

mod source;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::auth::{Login, Minted};
use super::cloud::{self, Answer, ApiError, SignedApi};
use super::signing::{huawei, SigningError};
use super::transport::Transport;
use crate::model::kinds::CloudApi;
use crate::model::Registry;
use crate::ports::registry::RegistryError;

const PAGE: usize = 100;

pub struct SwrApi {
    api: SignedApi,
    region: String,
}

impl SwrApi {
    pub fn new(registry: &Registry, api: &CloudApi, t: Transport) -> Result<Self, RegistryError> {
        let key = cloud::ApiKey::of(registry, "huawei-SWR")?;
        let region = api.region.clone().ok_or_else(|| RegistryError::Invalid {
            registry: registry.name.clone(),
            what: "a huawei-SWR registry needs its region (options.region)".into(),
        })?;
        Ok(Self {
            api: SignedApi::new(t, key)?,
            region,
        })
    }

    /// One signed call; the answer as it came.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<Answer, RegistryError> {
        let shown = format!("{} {path}", method.as_str());
        let request = cloud::Request {
            method,
            path,
            query,
            headers: &[("Content-Type", "application/json")],
            body: body.map(|b| Bytes::from(b.to_string())).unwrap_or_default(),
            shown: &shown,
        };
        let signed = |r: &super::signing::Request<'_>| -> Result<_, SigningError> {
            let signed = huawei::sign(r, &self.api.key.credentials(), cloud::now())?;
            Ok(cloud::Signature::Headers(signed.additions))
        };
        self.api.send(&request, signed).await
    }

    /// SWR's error, in its new (`error_code`) or old (`errors[].errorCode`) form, or APIG's.
    fn error_of(answer: &Answer) -> ApiError {
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        let old = &body["errors"][0];
        let text = |new: &str, old_key: &str| {
            body[new]
                .as_str()
                .or_else(|| old[old_key].as_str())
                .unwrap_or_default()
                .to_string()
        };
        let code = text("error_code", "errorCode");
        ApiError {
            code: if code.is_empty() {
                answer.status.as_str().to_string()
            } else {
                code
            },
            message: text("error_msg", "errorMessage"),
        }
    }

    /// The refusal for an answer that is not a success.
    fn refusal(&self, shown: &str, answer: &Answer) -> RegistryError {
        let error = Self::error_of(answer);
        let refused = self.api.refusal("request", shown, &error, false);
        if answer.status == StatusCode::UNAUTHORIZED || error.is("APIGW.0301") {
            return self
                .api
                .t
                .invalid(format!("{refused}; check the AK and SK"));
        }
        refused
    }

    /// A JSON body of a success.
    fn json<T: serde::de::DeserializeOwned>(
        &self,
        shown: &str,
        answer: &Answer,
    ) -> Result<T, RegistryError> {
        serde_json::from_slice(&answer.body)
            .map_err(|_| self.api.unreadable(shown, answer.status, &answer.body))
    }
}

#[derive(Deserialize)]
struct DockerAuth {
    auth: String,
}

#[derive(Deserialize)]
struct Secret {
    auths: std::collections::HashMap<String, DockerAuth>,
}

/// The registry's Basic credential from CreateSecret: a temporary docker login (a day, or
/// until `X-Swr-Expireat`).
#[async_trait]
impl Login for SwrApi {
    async fn login(&self) -> Result<Minted, RegistryError> {
        let path = "/v2/manage/utils/secret";
        let answer = self
            .call(Method::POST, path, &[("projectname", &self.region)], None)
            .await?;
        let shown = "POST /v2/manage/utils/secret";
        if !answer.status.is_success() {
            return Err(self.refusal(shown, &answer));
        }
        let secret: Secret = self.json(shown, &answer)?;
        let invalid = |what: &str| self.api.t.invalid(format!("CreateSecret: {what}"));
        let auth = secret
            .auths
            .values()
            .next()
            .ok_or_else(|| invalid("no login in the answer"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.auth.trim())
            .map_err(|_| invalid("the login is not base64"))?;
        let text = String::from_utf8(decoded).map_err(|_| invalid("the login is not text"))?;
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| invalid("the login is not user:password"))?;
        let expires_at = answer.header("x-swr-expireat").and_then(|at| {
            time::OffsetDateTime::parse(at.trim(), &time::format_description::well_known::Rfc3339)
                .ok()
                .map(std::time::SystemTime::from)
        });
        Ok(Minted {
            user: user.to_string(),
            password: password.to_string(),
            expires_at,
        })
    }
}
