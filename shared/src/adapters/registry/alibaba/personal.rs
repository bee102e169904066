//! ACR's personal edition: API 2016-06-07, ROA style (the resource in the path, `Authorization:
//! acs <AccessKeyId>:<signature>`: https://www.alibabacloud.com/help/doc-detail/72382.htm;
//! common headers: https://www.alibabacloud.com/help/doc-detail/72378.htm). Successes are
//! `{"data": ..., "requestId": ...}`; errors are non-2xx with `code` and `message`.
//!
//! Calls: GetAuthorizationToken `GET /tokens` (https://www.alibabacloud.com/help/doc-detail/72334.htm),
//! GetNamespace `GET /namespace/{ns}` (…/72392.htm), CreateNamespace `PUT /namespace`,
//! UpdateNamespace `POST /namespace/{ns}`, GetRepoList(ByNamespace) `GET /repos[/{ns}]`,
//! GetRepo `GET /repos/{ns}/{repo}`, CreateRepo `PUT /repos`, GetRepoTags
//! `GET /repos/{ns}/{repo}/tags` (…/72401.htm).

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use md5::Digest as _;
use reqwest::Method;
use serde_json::{json, Value};

use super::{text, Edition, Token, PAGE};
use crate::adapters::registry::cloud::{self, numbered_pages, ApiError, SignedApi};
use crate::adapters::registry::signing::{alibaba, SigningError};
use crate::adapters::registry::transport::method_name;
use crate::ports::registry::{RegistryError, Visibility};

const VERSION: &str = "2016-06-07";

pub struct PersonalApi {
    pub(super) api: SignedApi,
    pub(super) region: String,
}

impl PersonalApi {
    /// One call: the `data` of a success, or the provider's error.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Result<Value, ApiError>, RegistryError> {
        let shown = format!("{} {path}", method.as_str());
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body));
        let mut headers = vec![
            ("Accept", "application/json"),
            ("x-acs-version", VERSION),
            ("x-acs-region-id", self.region.as_str()),
        ];
        if !body.is_empty() {
            headers.extend([
                ("Content-Type", "application/json;charset=utf-8"),
                ("Content-MD5", md5.as_str()),
            ]);
        }
        let request = cloud::Request {
            method,
            path,
            query,
            headers: &headers,
            body,
            shown: &shown,
        };
        let signed =
            |r: &crate::adapters::registry::signing::Request<'_>| -> Result<_, SigningError> {
                let signed = alibaba::sign_roa(
                    r,
                    &self.api.key.credentials(),
                    cloud::now(),
                    &cloud::nonce(),
                )?;
                Ok(cloud::Signature::Headers(signed.additions))
            };
        let answer = self.api.send(&request, signed).await?;
        let parsed: Value = serde_json::from_slice(&answer.body)
            .map_err(|_| self.api.unreadable(&shown, answer.status, &answer.body))?;
        if answer.status.is_success() {
            return Ok(Ok(parsed["data"].clone()));
        }
        let text = |lower: &str, upper: &str| {
            parsed[lower]
                .as_str()
                .or_else(|| parsed[upper].as_str())
                .unwrap_or_default()
                .to_string()
        };
        let code = text("code", "Code");
        if code.is_empty() {
            return Err(self.api.unreadable(&shown, answer.status, &answer.body));
        }
        Ok(Err(ApiError {
            code,
            message: text("message", "Message"),
        }))
    }

    fn refusal(&self, method: &Method, shown: &str, error: &ApiError) -> RegistryError {
        super::refusal(&self.api, method_name(method), shown, error)
    }

    async fn must(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value, RegistryError> {
        let shown = format!("{} {path}", method.as_str());
        self.call(method.clone(), path, query, body)
            .await?
            .map_err(|e| self.refusal(&method, &shown, &e))
    }

    /// Every page at `path` (`Page`, `PageSize`), the items under `data.<key>`; None when the
    /// first answers `missing` (what it lists does not exist; any other code is an error).
    async fn pages(
        &self,
        path: &str,
        key: &str,
        missing: &str,
    ) -> Result<Option<Vec<Value>>, RegistryError> {
        numbered_pages(&self.api, PAGE, |number, _read| async move {
            let (page, size) = (number.to_string(), PAGE.to_string());
            let query = [("Page", page.as_str()), ("PageSize", size.as_str())];
            match self.call(Method::GET, path, &query, None).await? {
                Ok(data) => {
                    let items = data[key].as_array().cloned().unwrap_or_default();
                    Ok(Some((items, data["total"].as_u64())))
                }
                Err(e) if e.code == missing => Ok(None),
                Err(e) => Err(self.refusal(&Method::GET, &format!("GET {path}"), &e)),
            }
        })
        .await
    }
}

#[async_trait]
impl Edition for PersonalApi {
    fn api(&self) -> &SignedApi {
        &self.api
    }

    async fn token(&self) -> Result<Token, RegistryError> {
        let data = self.must(Method::GET, "/tokens", &[], None).await?;
        Ok(Token {
            user: text(&data, "tempUserName"),
            password: text(&data, "authorizationToken"),
            expires_ms: data["expireDate"].as_u64(),
        })
    }

    async fn repositories(
        &self,
        within: Option<&str>,
    ) -> Result<Vec<(String, String)>, RegistryError> {
        let path = match within {
            Some(namespace) => format!("/repos/{}", namespace),
            None => "/repos".to_string(),
        };
        let repos = (self.pages(&path, "repos", "NAMESPACE_NOT_EXIST").await?).unwrap_or_default();
        Ok(repos
            .iter()
            .map(|r| (text(r, "repoNamespace"), text(r, "repoName")))
            .collect())
    }

    async fn tags(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Vec<(String, String)>>, RegistryError> {
        let path = format!("/repos/{}/{}/tags", namespace, name);
        Ok(self
            .pages(&path, "tags", "REPO_NOT_EXIST")
            .await?
            .map(|tags| {
                tags.iter()
                    .map(|t| (text(t, "tag"), text(t, "digest")))
                    .collect()
            }))
    }

    async fn namespace(&self, namespace: &str) -> Result<Option<bool>, RegistryError> {
        let path = format!("/namespace/{}", namespace);
        match self.call(Method::GET, &path, &[], None).await? {
            Ok(data) => Ok(Some(
                data["namespace"]["autoCreate"].as_bool().unwrap_or(false),
            )),
            Err(e) if e.code == "NAMESPACE_NOT_EXIST" => Ok(None),
            Err(e) => Err(self.refusal(&Method::GET, &format!("GET {path}"), &e)),
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
        let body = json!({"Namespace": {"Namespace": namespace}});
        match self
            .call(Method::PUT, "/namespace", &[], Some(body))
            .await?
        {
            Ok(_) => {}
            Err(e) if e.code.contains("ALREADY_EXIST") => {}
            Err(e) => {
                return Err(self.api.t.invalid(format!(
                    "ACR has no namespace {namespace:?} and could not create it ({}: {}): \
                     create it in the console",
                    e.code, e.message
                )))
            }
        }
        // Repositories pushed into it are created by the push, as the console's default is.
        let path = format!("/namespace/{}", namespace);
        let body = json!({"Namespace": {"AutoCreate": true, "DefaultVisibility": kind}});
        self.must(Method::POST, &path, &[], Some(body)).await?;
        Ok(())
    }

    async fn repository_exists(&self, namespace: &str, name: &str) -> Result<bool, RegistryError> {
        let path = format!("/repos/{}/{}", namespace, name);
        match self.call(Method::GET, &path, &[], None).await? {
            Ok(_) => Ok(true),
            Err(e) if e.code == "REPO_NOT_EXIST" => Ok(false),
            Err(e) => Err(self.refusal(&Method::GET, &format!("GET {path}"), &e)),
        }
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
        let body = json!({"Repo": {"RepoNamespace": namespace, "RepoName": name,
            "Summary": "replicated by Ferry", "Detail": "", "RepoType": kind}});
        match self.call(Method::PUT, "/repos", &[], Some(body)).await? {
            Ok(_) => Ok(()),
            Err(e) if e.code.contains("ALREADY_EXIST") => Ok(()),
            Err(e) => Err(self.refusal(&Method::PUT, "PUT /repos", &e)),
        }
    }
}
