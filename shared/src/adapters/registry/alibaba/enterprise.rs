//! ACR's enterprise edition: API 2018-12-01, RPC style (`POST /?Action=...`, every parameter in
//! the query with the HMAC-SHA1 `Signature`: https://www.alibabacloud.com/help/doc-detail/144946.htm).
//! Answers carry `Code` (`success`) and `IsSuccess`; a business error may come in a 2xx answer,
//! so both are read. `TotalCount` is documented as text and shown as a number: both are read.
//!
//! Calls: ListInstance (https://www.alibabacloud.com/help/doc-detail/145270.htm),
//! GetAuthorizationToken (…/145324.htm), GetNamespace (…/145288.htm), CreateNamespace
//! (…/145483.htm), ListRepository (…/145293.htm), GetRepository (…/145294.htm),
//! CreateRepository, ListRepoTag (…/145295.htm).

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::Method;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::{text, Edition, Token, PAGE};
use crate::adapters::registry::cloud::{self, numbered_pages, ApiError, SignedApi};
use crate::adapters::registry::signing::{alibaba, SigningError};
use crate::ports::registry::{RegistryError, Visibility};

const VERSION: &str = "2018-12-01";

pub struct EnterpriseApi {
    api: SignedApi,
    region: String,
    /// The instance's name or `cri-` id, as the URL or the record names it.
    named: String,
    instance: OnceCell<String>,
}

/// A number ACR may write as text.
fn count_of(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

impl EnterpriseApi {
    pub fn new(api: SignedApi, region: String, named: String) -> Self {
        Self {
            api,
            region,
            named,
            instance: OnceCell::new(),
        }
    }

    /// One call with `parameters` besides the common ones: the answer, or the provider's error.
    async fn call(
        &self,
        action: &str,
        parameters: &[(&str, &str)],
    ) -> Result<Result<Value, ApiError>, RegistryError> {
        let mut query = vec![
            ("Action", action),
            ("Version", VERSION),
            ("Format", "JSON"),
            ("RegionId", self.region.as_str()),
        ];
        query.extend_from_slice(parameters);
        let request = cloud::Request {
            method: Method::POST,
            path: "/",
            query: &query,
            headers: &[("Content-Type", "application/x-www-form-urlencoded")],
            body: Bytes::new(),
            shown: action,
        };
        let signed =
            |r: &crate::adapters::registry::signing::Request<'_>| -> Result<_, SigningError> {
                let signed = alibaba::sign_rpc(
                    r.method,
                    r.query,
                    &self.api.key.credentials(),
                    cloud::now(),
                    &cloud::nonce(),
                )?;
                Ok(cloud::Signature::Query(signed.additions))
            };
        let answer = self.api.send(&request, signed).await?;
        let parsed: Value = serde_json::from_slice(&answer.body)
            .map_err(|_| self.api.unreadable(action, answer.status, &answer.body))?;
        let code = text(&parsed, "Code");
        let failed = parsed["IsSuccess"].as_bool() == Some(false)
            || parsed["IsSuccess"].as_str() == Some("false")
            || (!code.is_empty() && !code.eq_ignore_ascii_case("success"));
        if failed || !answer.status.is_success() {
            if code.is_empty() {
                return Err(self.api.unreadable(action, answer.status, &answer.body));
            }
            return Ok(Err(ApiError {
                code,
                message: text(&parsed, "Message"),
            }));
        }
        Ok(Ok(parsed))
    }

    fn refusal(&self, action: &str, error: &ApiError) -> RegistryError {
        super::refusal(&self.api, "POST", action, error)
    }

    async fn must(
        &self,
        action: &str,
        parameters: &[(&str, &str)],
    ) -> Result<Value, RegistryError> {
        self.call(action, parameters)
            .await?
            .map_err(|e| self.refusal(action, &e))
    }

    /// The instance id: the one named, or the one of that name (`ListInstance`).
    async fn instance(&self) -> Result<&str, RegistryError> {
        let id = self
            .instance
            .get_or_try_init(|| async {
                if self.named.starts_with("cri-") {
                    return Ok(self.named.clone());
                }
                let named = [("InstanceName", self.named.as_str())];
                let instances = self.pages("ListInstance", &named, "Instances", "").await?;
                instances
                    .unwrap_or_default()
                    .iter()
                    .find(|i| text(i, "InstanceName") == self.named)
                    .map(|i| text(i, "InstanceId"))
                    .ok_or_else(|| {
                        self.api.t.invalid(format!(
                            "ListInstance: the account has no ACR enterprise instance named {:?} in {}",
                            self.named, self.region
                        ))
                    })
            })
            .await?;
        Ok(id.as_str())
    }

    /// Every page of `action` (`PageNo`, `PageSize`), the items under `key`; None when the first
    /// answers `missing` (what it lists does not exist; any other code is an error).
    async fn pages(
        &self,
        action: &str,
        parameters: &[(&str, &str)],
        key: &str,
        missing: &str,
    ) -> Result<Option<Vec<Value>>, RegistryError> {
        numbered_pages(&self.api, PAGE, |number, _read| async move {
            let (page, size) = (number.to_string(), PAGE.to_string());
            let mut all = parameters.to_vec();
            all.extend([("PageNo", page.as_str()), ("PageSize", size.as_str())]);
            match self.call(action, &all).await? {
                Ok(answer) => {
                    let items = answer[key].as_array().cloned().unwrap_or_default();
                    Ok(Some((items, count_of(&answer["TotalCount"]))))
                }
                Err(e) if e.code == missing => Ok(None),
                Err(e) => Err(self.refusal(action, &e)),
            }
        })
        .await
    }

    /// `action` about the instance with `parameters`.
    async fn on_instance(
        &self,
        action: &str,
        parameters: &[(&str, &str)],
    ) -> Result<Result<Value, ApiError>, RegistryError> {
        let instance = self.instance().await?.to_string();
        let mut all = vec![("InstanceId", instance.as_str())];
        all.extend_from_slice(parameters);
        self.call(action, &all).await
    }

    /// The repository's id (ListRepoTag takes ids); None when it does not exist.
    async fn repository_id(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, RegistryError> {
        let action = "GetRepository";
        let parameters = [("RepoNamespaceName", namespace), ("RepoName", name)];
        match self.on_instance(action, &parameters).await? {
            Ok(answer) => Ok(Some(text(&answer, "RepoId"))),
            Err(e) if e.code == "REPO_NOT_EXIST" => Ok(None),
            Err(e) => Err(self.refusal(action, &e)),
        }
    }
}

#[async_trait]
impl Edition for EnterpriseApi {
    fn api(&self) -> &SignedApi {
        &self.api
    }

    async fn token(&self) -> Result<Token, RegistryError> {
        let instance = self.instance().await?.to_string();
        let answer = self
            .must("GetAuthorizationToken", &[("InstanceId", &instance)])
            .await?;
        Ok(Token {
            user: text(&answer, "TempUsername"),
            password: text(&answer, "AuthorizationToken"),
            expires_ms: count_of(&answer["ExpireTime"]),
        })
    }

    async fn repositories(
        &self,
        within: Option<&str>,
    ) -> Result<Vec<(String, String)>, RegistryError> {
        let instance = self.instance().await?.to_string();
        let mut parameters = vec![("InstanceId", instance.as_str()), ("RepoStatus", "NORMAL")];
        if let Some(namespace) = within {
            parameters.push(("RepoNamespaceName", namespace));
        }
        let repositories = self
            .pages(
                "ListRepository",
                &parameters,
                "Repositories",
                "NAMESPACE_NOT_EXIST",
            )
            .await?
            .unwrap_or_default();
        Ok(repositories
            .iter()
            .map(|r| (text(r, "RepoNamespaceName"), text(r, "RepoName")))
            .collect())
    }

    async fn tags(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Vec<(String, String)>>, RegistryError> {
        let Some(id) = self.repository_id(namespace, name).await? else {
            return Ok(None);
        };
        let instance = self.instance().await?.to_string();
        let parameters = [("InstanceId", instance.as_str()), ("RepoId", id.as_str())];
        let images = (self.pages("ListRepoTag", &parameters, "Images", "REPO_NOT_EXIST")).await?;
        Ok(images.map(|images| {
            images
                .iter()
                .map(|i| (text(i, "Tag"), text(i, "Digest")))
                .collect()
        }))
    }

    async fn namespace(&self, namespace: &str) -> Result<Option<bool>, RegistryError> {
        let action = "GetNamespace";
        match self
            .on_instance(action, &[("NamespaceName", namespace)])
            .await?
        {
            Ok(answer) => {
                let auto = &answer["AutoCreateRepo"];
                Ok(Some(
                    auto.as_bool().unwrap_or(auto.as_str() == Some("true")),
                ))
            }
            Err(e) if e.code == "NAMESPACE_NOT_EXIST" => Ok(None),
            Err(e) => Err(self.refusal(action, &e)),
        }
    }

    async fn create_namespace(
        &self,
        namespace: &str,
        visibility: Visibility,
    ) -> Result<(), RegistryError> {
        let kind = if visibility.is_public() {
            "PUBLIC"
        } else {
            "PRIVATE"
        };
        let parameters = [
            ("NamespaceName", namespace),
            ("AutoCreateRepo", "true"),
            ("DefaultRepoType", kind),
        ];
        match self.on_instance("CreateNamespace", &parameters).await? {
            Ok(_) => Ok(()),
            Err(e) if e.code.contains("ALREADY_EXIST") => Ok(()),
            Err(e) => Err(self.api.t.invalid(format!(
                "ACR has no namespace {namespace:?} and could not create it ({}: {}): create \
                 it, or allow cr:CreateNamespace",
                e.code, e.message
            ))),
        }
    }

    async fn repository_exists(&self, namespace: &str, name: &str) -> Result<bool, RegistryError> {
        Ok(self.repository_id(namespace, name).await?.is_some())
    }

    async fn create_repository(
        &self,
        namespace: &str,
        name: &str,
        visibility: Visibility,
    ) -> Result<(), RegistryError> {
        let kind = if visibility.is_public() {
            "PUBLIC"
        } else {
            "PRIVATE"
        };
        let parameters = [
            ("RepoNamespaceName", namespace),
            ("RepoName", name),
            ("RepoType", kind),
            ("Summary", "replicated by Ferry"),
        ];
        match self.on_instance("CreateRepository", &parameters).await? {
            Ok(_) => Ok(()),
            Err(e) if e.code.contains("ALREADY_EXIST") => Ok(()),
            Err(e) => Err(self.refusal("CreateRepository", &e)),
        }
    }
}
