//! The distribution API over HTTP (reqwest with rustls): anonymous, Basic, or the Bearer token
//! flow that a `WWW-Authenticate` challenge asks for, with tokens cached per scope.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::model::Registry;
use crate::ports::registry::{BlobStream, RawManifest, RegistryClient, RegistryError};
use crate::registry::media::ACCEPT_MANIFESTS;

/// Longest a manifest may be; larger answers are refused rather than buffered.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

pub struct HttpRegistryClient {
    http: reqwest::Client,
    base: url::Url,
    name: String,
    basic: Option<(String, String)>,
    /// Bearer tokens by scope.
    tokens: Mutex<HashMap<String, String>>,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// The parameters of a `Bearer` challenge.
fn bearer_challenge(headers: &HeaderMap) -> Option<HashMap<String, String>> {
    let value = headers.get(WWW_AUTHENTICATE)?.to_str().ok()?;
    let rest = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    let mut params = HashMap::new();
    // key="value" pairs; values may contain commas (scopes), so split on `",`.
    let re = regex::Regex::new(r#"(\w+)="([^"]*)""#).ok()?;
    for cap in re.captures_iter(rest) {
        params.insert(cap[1].to_string(), cap[2].to_string());
    }
    params.contains_key("realm").then_some(params)
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl HttpRegistryClient {
    /// A client for `registry` (its credential, if any, already decrypted).
    pub fn new(registry: &Registry) -> Result<Self, RegistryError> {
        let invalid = |what: String| RegistryError::Invalid {
            registry: registry.name.clone(),
            what,
        };
        let mut base = url::Url::parse(&registry.url).map_err(|e| invalid(format!("url: {e}")))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(registry.insecure);
        if let Some(pem) = registry.ca_certificate.as_deref().filter(|p| !p.is_empty()) {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| invalid(format!("ca_certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| invalid(format!("http client: {e}")))?;
        let basic = registry
            .credential
            .as_ref()
            .filter(|c| !c.access_key.is_empty())
            .map(|c| {
                (
                    c.access_key.clone(),
                    c.access_secret.clone().unwrap_or_default(),
                )
            });
        Ok(Self {
            http,
            name: registry.host().unwrap_or_else(|| registry.url.clone()),
            base,
            basic,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn url(&self, path: &str) -> Result<url::Url, RegistryError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| RegistryError::Invalid {
                registry: self.name.clone(),
                what: format!("path {path}: {e}"),
            })
    }

    fn transient(
        &self,
        method: &'static str,
        path: &str,
        message: impl std::fmt::Display,
    ) -> RegistryError {
        RegistryError::Transient {
            registry: self.name.clone(),
            method,
            path: path.to_string(),
            message: message.to_string(),
        }
    }

    async fn status_error(
        &self,
        method: &'static str,
        path: &str,
        response: Response,
    ) -> RegistryError {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let message: String = body.chars().take(300).collect();
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            self.transient(method, path, format!("{status}: {message}"))
        } else {
            RegistryError::Refused {
                registry: self.name.clone(),
                method,
                path: path.to_string(),
                status: status.as_u16(),
                message,
            }
        }
    }

    fn authorize(&self, request: RequestBuilder, token: Option<&str>) -> RequestBuilder {
        match (token, &self.basic) {
            (Some(token), _) => request.bearer_auth(token),
            (None, Some((user, password))) => request.basic_auth(user, Some(password)),
            (None, None) => request,
        }
    }

    async fn fetch_token(
        &self,
        challenge: &HashMap<String, String>,
        scope: &str,
    ) -> Result<String, RegistryError> {
        let realm = challenge.get("realm").cloned().unwrap_or_default();
        let mut request = self.http.get(&realm);
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = challenge.get("service") {
            query.push(("service", service));
        }
        if !scope.is_empty() {
            query.push(("scope", scope));
        }
        request = request.query(&query);
        if let Some((user, password)) = &self.basic {
            request = request.basic_auth(user, Some(password));
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transient("GET", &realm, e))?;
        if !response.status().is_success() {
            return Err(self.status_error("GET", &realm, response).await);
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|e| self.transient("GET", &realm, e))?;
        answer
            .token
            .or(answer.access_token)
            .ok_or_else(|| RegistryError::Invalid {
                registry: self.name.clone(),
                what: format!("token service {realm} answered without a token"),
            })
    }

    /// Sends a request, answering one auth challenge (Bearer with the challenge's scope, else the
    /// request's `scope`) with a fresh token. `build` makes the request anew for the retry.
    async fn send(
        &self,
        method: &'static str,
        path: &str,
        scope: &str,
        build: &(dyn Fn() -> Result<RequestBuilder, RegistryError> + Send + Sync),
    ) -> Result<Response, RegistryError> {
        let cached = self.tokens.lock().await.get(scope).cloned();
        let response = self
            .authorize(build()?, cached.as_deref())
            .send()
            .await
            .map_err(|e| self.transient(method, path, e))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(challenge) = bearer_challenge(response.headers()) else {
            return Err(self.status_error(method, path, response).await);
        };
        let scope_asked = challenge
            .get("scope")
            .cloned()
            .unwrap_or_else(|| scope.to_string());
        let token = self.fetch_token(&challenge, &scope_asked).await?;
        self.tokens
            .lock()
            .await
            .insert(scope.to_string(), token.clone());
        self.authorize(build()?, Some(&token))
            .send()
            .await
            .map_err(|e| self.transient(method, path, e))
    }

    fn pull_scope(repository: &str) -> String {
        format!("repository:{repository}:pull")
    }

    fn push_scope(repository: &str) -> String {
        format!("repository:{repository}:pull,push")
    }
}

#[async_trait]
impl RegistryClient for HttpRegistryClient {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self) -> Result<(), RegistryError> {
        let url = self.url("v2/")?;
        let response = self
            .send("GET", "/v2/", "", &|| Ok(self.http.get(url.clone())))
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.status_error("GET", "/v2/", response).await)
        }
    }

    async fn list_repositories(
        &self,
        page_size: usize,
        last: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        #[derive(serde::Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let path = "/v2/_catalog";
        let mut url = self.url(path)?;
        url.query_pairs_mut()
            .append_pair("n", &page_size.to_string());
        if let Some(last) = last {
            url.query_pairs_mut().append_pair("last", last);
        }
        let response = self
            .send("GET", path, "registry:catalog:*", &|| {
                Ok(self.http.get(url.clone()))
            })
            .await?;
        if !response.status().is_success() {
            return Err(self.status_error("GET", path, response).await);
        }
        let more = response.headers().contains_key(reqwest::header::LINK);
        let catalog: Catalog = response
            .json()
            .await
            .map_err(|e| self.transient("GET", path, e))?;
        let repositories = catalog.repositories.unwrap_or_default();
        let next = if more {
            repositories.last().cloned()
        } else {
            None
        };
        Ok((repositories, next))
    }

    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let path = format!("/v2/{repository}/tags/list");
        let mut tags = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let mut url = self.url(&path)?;
            url.query_pairs_mut().append_pair("n", "1000");
            if let Some(last) = &last {
                url.query_pairs_mut().append_pair("last", last);
            }
            let response = self
                .send("GET", &path, &Self::pull_scope(repository), &|| {
                    Ok(self.http.get(url.clone()))
                })
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                return Ok(tags);
            }
            if !response.status().is_success() {
                return Err(self.status_error("GET", &path, response).await);
            }
            let more = response.headers().contains_key(reqwest::header::LINK);
            let page: TagList = response
                .json()
                .await
                .map_err(|e| self.transient("GET", &path, e))?;
            let page = page.tags.unwrap_or_default();
            last = page.last().cloned();
            tags.extend(page);
            if !more || last.is_none() {
                return Ok(tags);
            }
        }
    }

    async fn head_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(String, String)>, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let url = self.url(&path)?;
        let response = self
            .send("HEAD", &path, &Self::pull_scope(repository), &|| {
                Ok(self.http.head(url.clone()).header(ACCEPT, ACCEPT_MANIFESTS))
            })
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(self.status_error("HEAD", &path, response).await);
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match header("docker-content-digest") {
            Some(digest) => Ok(Some((digest, header("content-type").unwrap_or_default()))),
            // Without the digest header the only exact answer is the manifest itself.
            None => {
                let manifest = self.get_manifest(repository, reference).await?;
                Ok(Some((manifest.digest, manifest.media_type)))
            }
        }
    }

    async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<RawManifest, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let url = self.url(&path)?;
        let response = self
            .send("GET", &path, &Self::pull_scope(repository), &|| {
                Ok(self.http.get(url.clone()).header(ACCEPT, ACCEPT_MANIFESTS))
            })
            .await?;
        if !response.status().is_success() {
            return Err(self.status_error("GET", &path, response).await);
        }
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transient("GET", &path, e))?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(RegistryError::Invalid {
                registry: self.name.clone(),
                what: format!(
                    "{path}: manifest of {} bytes is over the 4 MiB limit",
                    bytes.len()
                ),
            });
        }
        let digest = sha256_digest(&bytes);
        if reference.starts_with("sha256:") && reference != digest {
            return Err(RegistryError::Invalid {
                registry: self.name.clone(),
                what: format!("{path}: served bytes hash to {digest}"),
            });
        }
        // Fall back to the manifest's own mediaType when the server sends a generic type.
        let media_type = if media_type.is_empty() || media_type == "application/json" {
            serde_json::from_slice::<crate::registry::media::ManifestRefs>(&bytes)
                .ok()
                .and_then(|m| m.media_type)
                .unwrap_or(media_type)
        } else {
            media_type
        };
        Ok(RawManifest {
            media_type,
            digest,
            bytes,
        })
    }

    async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        manifest: &RawManifest,
    ) -> Result<(), RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let url = self.url(&path)?;
        let response = self
            .send("PUT", &path, &Self::push_scope(repository), &|| {
                Ok(self
                    .http
                    .put(url.clone())
                    .header(CONTENT_TYPE, manifest.media_type.as_str())
                    .body(manifest.bytes.clone()))
            })
            .await?;
        if !response.status().is_success() {
            return Err(self.status_error("PUT", &path, response).await);
        }
        Ok(())
    }

    async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool, RegistryError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let url = self.url(&path)?;
        let response = self
            .send("HEAD", &path, &Self::pull_scope(repository), &|| {
                Ok(self.http.head(url.clone()))
            })
            .await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.status_error("HEAD", &path, response).await),
        }
    }

    async fn get_blob(&self, repository: &str, digest: &str) -> Result<BlobStream, RegistryError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let url = self.url(&path)?;
        let response = self
            .send("GET", &path, &Self::pull_scope(repository), &|| {
                Ok(self.http.get(url.clone()))
            })
            .await?;
        if !response.status().is_success() {
            return Err(self.status_error("GET", &path, response).await);
        }
        let name = self.name.clone();
        Ok(response
            .bytes_stream()
            .map_err(move |e| RegistryError::Transient {
                registry: name.clone(),
                method: "GET",
                path: path.clone(),
                message: e.to_string(),
            })
            .boxed())
    }

    async fn put_blob(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        body: BlobStream,
    ) -> Result<(), RegistryError> {
        let path = format!("/v2/{repository}/blobs/uploads/");
        let url = self.url(&path)?;
        let scope = Self::push_scope(repository);
        let response = self
            .send("POST", &path, &scope, &|| {
                Ok(self.http.post(url.clone()).header(CONTENT_LENGTH, "0"))
            })
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.status_error("POST", &path, response).await);
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Invalid {
                registry: self.name.clone(),
                what: format!("POST {path} answered 202 without a Location"),
            })?;
        let mut upload = url.join(location).map_err(|e| RegistryError::Invalid {
            registry: self.name.clone(),
            what: format!("upload location {location:?}: {e}"),
        })?;
        upload.query_pairs_mut().append_pair("digest", digest);
        let token = self.tokens.lock().await.get(&scope).cloned();
        // The body streams once, so this request is not replayed on a challenge: the token the
        // POST obtained is used as it is.
        let request = self
            .http
            .request(Method::PUT, upload)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )
            .header(CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(body));
        let response = self
            .authorize(request, token.as_deref())
            .send()
            .await
            .map_err(|e| self.transient("PUT", &path, e))?;
        if response.status() != StatusCode::CREATED {
            return Err(self.status_error("PUT", &path, response).await);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges_with_commas_in_scope() {
        let mut headers = HeaderMap::new();
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
            ),
        );
        let params = bearer_challenge(&headers).expect("bearer");
        assert_eq!(params["realm"], "https://auth.example/token");
        assert_eq!(params["service"], "registry.example");
        assert_eq!(params["scope"], "repository:a/b:pull,push");
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="x""#),
        );
        assert!(bearer_challenge(&headers).is_none());
    }
}
