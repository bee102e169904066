//! The distribution API over HTTP (reqwest with rustls): anonymous, Basic, or the Bearer token
//! flow that a `WWW-Authenticate` challenge asks for, with tokens cached per scope.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::model::Registry;
use crate::ports::registry::{
    BlobStream, Mount, RawManifest, RegistryClient, RegistryError, UploadSession,
};
use crate::registry::media::{Referrer, ReferrerList, ACCEPT_MANIFESTS, OCI_INDEX};

/// Longest a manifest may be; larger answers are refused rather than buffered.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

pub struct HttpRegistryClient {
    http: reqwest::Client,
    base: url::Url,
    name: String,
    basic: Option<(String, String)>,
    /// Bearer tokens by scope.
    tokens: Mutex<HashMap<String, String>>,
    backoff: backon::ExponentialBuilder,
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

/// `Retry-After` as seconds or an HTTP date; capped so a registry cannot park a task for long.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let wait = match value.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value.trim())
            .ok()?
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(Duration::from_secs(60)))
}

/// Bytes an upload session holds, from `Range: 0-<last byte>`. Distribution answers `0-0` both
/// for nothing and for one byte, so `0-0` counts as nothing: the copy then starts a new session
/// rather than guess.
fn held_bytes(headers: &HeaderMap) -> u64 {
    headers
        .get(reqwest::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.trim_start_matches("bytes=")
                .split_once('-')
                .map(|(_, end)| end.to_string())
        })
        .and_then(|end| end.parse::<u64>().ok())
        .filter(|end| *end > 0)
        .map_or(0, |end| end + 1)
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl HttpRegistryClient {
    /// A client for `registry` (its credential, if any, already decrypted).
    pub fn new(registry: &Registry) -> Result<Self, RegistryError> {
        let base = base_url(registry)?;
        let http = http_client(registry)?;
        Ok(Self {
            http,
            name: registry.host().unwrap_or_else(|| registry.url.clone()),
            base,
            basic: basic_credential(registry),
            tokens: Mutex::new(HashMap::new()),
            backoff: backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(10))
                .with_max_times(6)
                .with_jitter(),
        })
    }
}

fn invalid_registry(registry: &Registry, what: String) -> RegistryError {
    RegistryError::Invalid {
        registry: registry.name.clone(),
        what,
    }
}

/// The registry's URL, ending in `/` so paths join under it.
pub(crate) fn base_url(registry: &Registry) -> Result<url::Url, RegistryError> {
    let mut base = url::Url::parse(&registry.url)
        .map_err(|e| invalid_registry(registry, format!("url: {e}")))?;
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    Ok(base)
}

/// The registry's Basic credential (user, secret), when it has one.
pub(crate) fn basic_credential(registry: &Registry) -> Option<(String, String)> {
    registry
        .credential
        .as_ref()
        .filter(|c| !c.access_key.is_empty())
        .map(|c| {
            (
                c.access_key.clone(),
                c.access_secret.clone().unwrap_or_default(),
            )
        })
}

/// An HTTP client with the registry's TLS settings (`insecure`, `ca_certificate`).
pub(crate) fn http_client(registry: &Registry) -> Result<reqwest::Client, RegistryError> {
    let invalid = |what: String| invalid_registry(registry, what);
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
    builder
        .build()
        .map_err(|e| invalid(format!("http client: {e}")))
}

impl HttpRegistryClient {
    /// Retries of a failed request that may heal (default 6, with backoff up to 10 s).
    pub fn with_max_retries(mut self, retries: usize) -> Self {
        self.backoff = self.backoff.with_max_times(retries);
        self
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
            retry_after: None,
        }
    }

    /// Runs a request again while it fails in a way that may heal: exponential backoff with
    /// jitter, or the registry's own `Retry-After` when it gives one.
    async fn retrying<T, F, Fut>(&self, operation: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, RegistryError>>,
    {
        use backon::Retryable;
        operation
            .retry(self.backoff)
            .when(RegistryError::is_transient)
            .adjust(|error: &RegistryError, delay: Option<Duration>| {
                delay.map(|d| error.retry_after().unwrap_or(d))
            })
            .notify(|error: &RegistryError, delay: Duration| {
                tracing::warn!(error = %error, ?delay, "retrying");
            })
            .await
    }

    async fn status_error(
        &self,
        method: &'static str,
        path: &str,
        response: Response,
    ) -> RegistryError {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.text().await.unwrap_or_default();
        let message: String = body.chars().take(300).collect();
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            RegistryError::Transient {
                registry: self.name.clone(),
                method,
                path: path.to_string(),
                message: format!("{status}: {message}"),
                retry_after,
            }
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
        // Several scopes (a mount needs pull on its source too) go as several parameters.
        for one in scope.split(' ').filter(|s| !s.is_empty()) {
            query.push(("scope", one));
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
        // What the challenge asks for, and what this request needs besides.
        let mut scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
        if let Some(asked) = challenge.get("scope") {
            if !scopes.contains(&asked.as_str()) {
                scopes.push(asked);
            }
        }
        let scope_asked = scopes.join(" ");
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

/// One attempt of each request; the trait methods below add the retries.
impl HttpRegistryClient {
    async fn check_once(&self) -> Result<(), RegistryError> {
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

    async fn list_repositories_once(
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

    async fn list_tags_once(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
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

    async fn list_referrers_once(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<Vec<Referrer>>, RegistryError> {
        let path = format!("/v2/{repository}/referrers/{digest}");
        let mut url = self.url(&path)?;
        let mut referrers = Vec::new();
        // Pages follow the `Link` header; a registry that loops is cut off.
        for _ in 0..100 {
            let response = self
                .send("GET", &path, &Self::pull_scope(repository), &|| {
                    Ok(self.http.get(url.clone()).header(ACCEPT, OCI_INDEX))
                })
                .await?;
            let status = response.status();
            // A registry with the API answers 200 even for an unknown digest; 404 (or 400, 405
            // from older servers) means there is no API.
            if matches!(
                status,
                StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST | StatusCode::METHOD_NOT_ALLOWED
            ) {
                return Ok(None);
            }
            if !status.is_success() {
                return Err(self.status_error("GET", &path, response).await);
            }
            let next = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_link_header::parse_with_rel(v).ok())
                .and_then(|links| links.get("next").map(|l| l.raw_uri.clone()));
            let page: ReferrerList = response
                .json()
                .await
                .map_err(|e| self.transient("GET", &path, e))?;
            referrers.extend(page.manifests);
            match next {
                // Relative to the registry, or absolute (joining keeps an absolute URL).
                Some(next) => url = self.url(&next)?,
                None => return Ok(Some(referrers)),
            }
        }
        Err(RegistryError::Invalid {
            registry: self.name.clone(),
            what: format!("{path}: over 100 pages of referrers"),
        })
    }

    async fn head_manifest_once(
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

    async fn get_manifest_once(
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

    async fn put_manifest_once(
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

    async fn delete_manifest_once(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let url = self.url(&path)?;
        // Deleting asks for the `delete` action (Harbor, Docker Hub); plain registries take push.
        let scope = format!("repository:{repository}:delete,pull,push");
        let response = self
            .send("DELETE", &path, &scope, &|| {
                Ok(self.http.delete(url.clone()))
            })
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(false),
            status if status.is_success() => Ok(true),
            _ => Err(self.status_error("DELETE", &path, response).await),
        }
    }

    async fn blob_exists_once(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<bool, RegistryError> {
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

    async fn get_blob_from_once(
        &self,
        repository: &str,
        digest: &str,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let url = self.url(&path)?;
        let response = self
            .send("GET", &path, &Self::pull_scope(repository), &|| {
                let request = self.http.get(url.clone());
                Ok(if offset > 0 {
                    request.header(reqwest::header::RANGE, format!("bytes={offset}-"))
                } else {
                    request
                })
            })
            .await?;
        if !response.status().is_success() {
            return Err(self.status_error("GET", &path, response).await);
        }
        // A registry that ignores Range sends the whole blob: skip what we have.
        let skip = if offset > 0 && response.status() != StatusCode::PARTIAL_CONTENT {
            offset
        } else {
            0
        };
        let name = self.name.clone();
        let stream = response
            .bytes_stream()
            .map_err(move |e| RegistryError::Transient {
                registry: name.clone(),
                method: "GET",
                path: path.clone(),
                message: e.to_string(),
                retry_after: None,
            });
        if skip == 0 {
            return Ok(stream.boxed());
        }
        let mut remaining = skip;
        Ok(stream
            .try_filter_map(move |mut chunk| {
                let drop = remaining.min(chunk.len() as u64);
                remaining -= drop;
                let rest = chunk.split_off(drop as usize);
                futures::future::ready(Ok((!rest.is_empty()).then_some(rest)))
            })
            .boxed())
    }

    /// The absolute URL of an upload `Location`.
    fn upload_url(
        &self,
        base: &url::Url,
        path: &str,
        response: &Response,
    ) -> Result<url::Url, RegistryError> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Invalid {
                registry: self.name.clone(),
                what: format!("{path} answered {} without a Location", response.status()),
            })?;
        base.join(location).map_err(|e| RegistryError::Invalid {
            registry: self.name.clone(),
            what: format!("upload location {location:?}: {e}"),
        })
    }

    async fn mount_blob_once(
        &self,
        repository: &str,
        digest: &str,
        from: &str,
    ) -> Result<Mount, RegistryError> {
        let path = format!("/v2/{repository}/blobs/uploads/");
        let mut url = self.url(&path)?;
        url.query_pairs_mut()
            .append_pair("mount", digest)
            .append_pair("from", from);
        // The token must allow pulling from the source repository too, or the mount is refused.
        let scope = format!(
            "{} {}",
            Self::push_scope(repository),
            Self::pull_scope(from)
        );
        let response = self
            .send("POST", &path, &scope, &|| {
                Ok(self.http.post(url.clone()).header(CONTENT_LENGTH, "0"))
            })
            .await?;
        match response.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            // Not mounted: the registry opened an upload session instead.
            StatusCode::ACCEPTED => Ok(Mount::NotMounted(
                self.upload_session(repository, &url, &path, &response)?,
            )),
            _ => Err(self.status_error("POST", &path, response).await),
        }
    }

    async fn start_upload_once(&self, repository: &str) -> Result<UploadSession, RegistryError> {
        let path = format!("/v2/{repository}/blobs/uploads/");
        let url = self.url(&path)?;
        let response = self
            .send("POST", &path, &Self::push_scope(repository), &|| {
                Ok(self.http.post(url.clone()).header(CONTENT_LENGTH, "0"))
            })
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.status_error("POST", &path, response).await);
        }
        self.upload_session(repository, &url, &path, &response)
    }

    /// The session a 202 opened: its location and `OCI-Chunk-Min-Length`.
    fn upload_session(
        &self,
        repository: &str,
        url: &url::Url,
        path: &str,
        response: &Response,
    ) -> Result<UploadSession, RegistryError> {
        let min_chunk = response
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(UploadSession {
            repository: repository.to_string(),
            location: self.upload_url(url, path, response)?.to_string(),
            min_chunk,
        })
    }

    fn session_url(&self, session: &UploadSession) -> Result<url::Url, RegistryError> {
        url::Url::parse(&session.location).map_err(|e| RegistryError::Invalid {
            registry: self.name.clone(),
            what: format!("upload location {:?}: {e}", session.location),
        })
    }

    async fn upload_offset_once(&self, session: &UploadSession) -> Result<u64, RegistryError> {
        let url = self.session_url(session)?;
        let path = url.path().to_string();
        let response = self
            .send(
                "GET",
                &path,
                &Self::push_scope(&session.repository),
                &|| Ok(self.http.get(url.clone())),
            )
            .await?;
        if !response.status().is_success() {
            return Err(self.status_error("GET", &path, response).await);
        }
        Ok(held_bytes(response.headers()))
    }

    async fn upload_chunk_once(
        &self,
        session: &mut UploadSession,
        offset: u64,
        chunk: Bytes,
    ) -> Result<(), RegistryError> {
        let url = self.session_url(session)?;
        let path = url.path().to_string();
        let end = offset + chunk.len() as u64 - 1;
        let response = self
            .send(
                "PATCH",
                &path,
                &Self::push_scope(&session.repository),
                &|| {
                    Ok(self
                        .http
                        .patch(url.clone())
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header(reqwest::header::CONTENT_RANGE, format!("{offset}-{end}"))
                        .header(CONTENT_LENGTH, chunk.len())
                        .body(chunk.clone()))
                },
            )
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.status_error("PATCH", &path, response).await);
        }
        session.location = self.upload_url(&url, &path, &response)?.to_string();
        Ok(())
    }

    async fn upload_stream_once(
        &self,
        session: &mut UploadSession,
        body: BlobStream,
    ) -> Result<u64, RegistryError> {
        let url = self.session_url(session)?;
        let path = url.path().to_string();
        let token = self
            .tokens
            .lock()
            .await
            .get(&Self::push_scope(&session.repository))
            .cloned();
        // The body streams once, so this request is not replayed on a challenge: the token the
        // session's POST obtained is used as it is.
        let request = self
            .http
            .patch(url.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body));
        let response = self
            .authorize(request, token.as_deref())
            .send()
            .await
            .map_err(|e| self.transient("PATCH", &path, e))?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.status_error("PATCH", &path, response).await);
        }
        let held = held_bytes(response.headers());
        session.location = self.upload_url(&url, &path, &response)?.to_string();
        Ok(held)
    }

    async fn finish_upload_once(
        &self,
        session: &UploadSession,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let mut url = self.session_url(session)?;
        let path = url.path().to_string();
        url.query_pairs_mut().append_pair("digest", digest);
        let response = self
            .send(
                "PUT",
                &path,
                &Self::push_scope(&session.repository),
                &|| Ok(self.http.put(url.clone()).header(CONTENT_LENGTH, "0")),
            )
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(self.status_error("PUT", &path, response).await);
        }
        Ok(())
    }

    async fn put_blob_once(
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

#[async_trait]
impl RegistryClient for HttpRegistryClient {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self) -> Result<(), RegistryError> {
        self.retrying(|| self.check_once()).await
    }

    async fn list_repositories(
        &self,
        page_size: usize,
        last: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        self.retrying(|| self.list_repositories_once(page_size, last))
            .await
    }

    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        self.retrying(|| self.list_tags_once(repository)).await
    }

    async fn list_referrers(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<Vec<Referrer>>, RegistryError> {
        self.retrying(|| self.list_referrers_once(repository, digest))
            .await
    }

    async fn head_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(String, String)>, RegistryError> {
        self.retrying(|| self.head_manifest_once(repository, reference))
            .await
    }

    async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<RawManifest, RegistryError> {
        self.retrying(|| self.get_manifest_once(repository, reference))
            .await
    }

    async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        manifest: &RawManifest,
    ) -> Result<(), RegistryError> {
        self.retrying(|| self.put_manifest_once(repository, reference, manifest))
            .await
    }

    async fn delete_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<bool, RegistryError> {
        self.retrying(|| self.delete_manifest_once(repository, reference))
            .await
    }

    async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool, RegistryError> {
        self.retrying(|| self.blob_exists_once(repository, digest))
            .await
    }

    async fn get_blob_from(
        &self,
        repository: &str,
        digest: &str,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        self.retrying(|| self.get_blob_from_once(repository, digest, offset))
            .await
    }

    /// Not retried here: the body streams once. The copy retries the whole blob.
    async fn put_blob(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        body: BlobStream,
    ) -> Result<(), RegistryError> {
        self.put_blob_once(repository, digest, size, body).await
    }

    async fn start_upload(&self, repository: &str) -> Result<UploadSession, RegistryError> {
        self.retrying(|| self.start_upload_once(repository)).await
    }

    async fn mount_blob(
        &self,
        repository: &str,
        digest: &str,
        from: &str,
    ) -> Result<Mount, RegistryError> {
        self.retrying(|| self.mount_blob_once(repository, digest, from))
            .await
    }

    /// Not retried here: a chunk that failed may have landed in part, so the copy asks
    /// [`Self::upload_offset`] where to go on.
    async fn upload_chunk(
        &self,
        session: &mut UploadSession,
        offset: u64,
        chunk: Bytes,
    ) -> Result<(), RegistryError> {
        self.upload_chunk_once(session, offset, chunk).await
    }

    async fn upload_offset(&self, session: &UploadSession) -> Result<u64, RegistryError> {
        self.retrying(|| self.upload_offset_once(session)).await
    }

    /// Not retried here: the body is gone once sent. The copy resumes from the offset held.
    async fn upload_stream(
        &self,
        session: &mut UploadSession,
        body: BlobStream,
    ) -> Result<u64, RegistryError> {
        self.upload_stream_once(session, body).await
    }

    async fn finish_upload(
        &self,
        session: &UploadSession,
        digest: &str,
    ) -> Result<(), RegistryError> {
        self.retrying(|| self.finish_upload_once(session, digest))
            .await
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
