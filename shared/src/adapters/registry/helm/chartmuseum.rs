//! ChartMuseum's API, the write side of a chart repository (https://github.com/helm/chartmuseum#api):
//! `GET /api/charts/<name>/<version>` (one version, with its package's digest; it falls back to
//! reading the version as a range, so the answer's version is compared), `POST /api/charts`
//! (the package as the body, or `chart` and `prov` as a multipart form; `?force` overwrites),
//! `DELETE /api/charts/<name>/<version>`. A tenant of a multitenant ChartMuseum (`--depth`:
//! `https://cm/<org>/<repo>`) has its API at `/api/<org>/<repo>/charts`, one under a context path
//! (`--context-path`) at `<path>/api/charts`: the API is looked for in both, once. A repository
//! without that API (a static one) is refused before any task.

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};

use super::ChartRepository;
use crate::adapters::registry::signing::percent_encode;
use crate::adapters::registry::transport::{method_name, Call};
use crate::oci::Digest;
use crate::ports::registry::{ChartUploads, Namespaces, RegistryError, Visibility};

/// The largest API answer read.
const ANSWER_BYTES: usize = 1024 * 1024;

impl ChartRepository {
    /// ChartMuseum's charts API, found once (see the module's doc).
    async fn charts_api(&self) -> Result<url::Url, RegistryError> {
        let found = self
            .api
            .get_or_try_init(|| async {
                let mut tenant = self.base.clone();
                tenant.set_path(&format!("/api{}charts", self.base.path()));
                let context = self.t.url("api/charts")?;
                let mut candidates = vec![tenant];
                if candidates[0] != context {
                    candidates.push(context);
                }
                let mut answers = Vec::new();
                for candidate in candidates {
                    let mut probe = candidate.clone();
                    probe.set_query(Some("offset=0&limit=1"));
                    let shown = format!("GET {}", probe.path());
                    let (status, body) = self.api_call(Method::GET, probe, None).await?;
                    match status {
                        s if s.is_success() => return Ok(candidate),
                        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
                            answers.push(format!("{shown} answered {status}"));
                        }
                        _ => return Err(self.refusal(&shown, status, &body)),
                    }
                }
                Err(self.t.invalid(format!(
                    "{}: this chart repository has no ChartMuseum API, and Ferry writes charts \
                     only through it (a static repository is read-only)",
                    answers.join(", ")
                )))
            })
            .await?;
        Ok(found.clone())
    }

    /// The API's URL of one chart version.
    async fn version_url(&self, name: &str, version: &str) -> Result<url::Url, RegistryError> {
        let mut url = self.charts_api().await?;
        let path = format!(
            "{}/{}/{}",
            url.path(),
            percent_encode(name),
            percent_encode(version)
        );
        url.set_path(&path);
        Ok(url)
    }

    /// One API call: its status and body.
    async fn api_call(
        &self,
        method: Method,
        url: url::Url,
        body: Option<(String, Bytes)>,
    ) -> Result<(StatusCode, Bytes), RegistryError> {
        let shown = format!("{} {}", method.as_str(), url.path());
        let name = method_name(&method);
        let mut call = Call::new(method, url, &shown, "");
        if let Some((content_type, body)) = body {
            call = call.header(CONTENT_TYPE, content_type).body(body);
        }
        self.t
            .send(&call, |response| async {
                let status = response.status();
                let body = self
                    .t
                    .read_capped(name, &shown, response, ANSWER_BYTES, "ChartMuseum answer")
                    .await?;
                Ok((status, body))
            })
            .await
    }

    fn refusal(&self, shown: &str, status: StatusCode, body: &[u8]) -> RegistryError {
        let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let message = parsed["error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
        let hint = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                "; ChartMuseum refused the credential"
            }
            StatusCode::PAYLOAD_TOO_LARGE => "; raise ChartMuseum's --max-upload-size",
            _ => "",
        };
        self.t
            .invalid(format!("{shown} answered {status}: {message}{hint}"))
    }

    pub(super) async fn delete_chart(
        &self,
        name: &str,
        version: &str,
    ) -> Result<bool, RegistryError> {
        let url = self.version_url(name, version).await?;
        let shown = format!("DELETE {}", url.path());
        let (status, body) = self.api_call(Method::DELETE, url, None).await?;
        self.forget_index().await;
        match status {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.refusal(&shown, status, &body)),
        }
    }
}

/// A multipart form of the package (`chart`) and provenance (`prov`), as `curl -F` sends them.
fn form(name: &str, version: &str, package: Bytes, provenance: Bytes) -> (String, Bytes) {
    let boundary = format!("ferry-{}", uuid::Uuid::new_v4().simple());
    let mut body = BytesMut::new();
    let file = format!("{name}-{version}.tgz");
    for (field, filename, bytes) in [
        ("chart", file.clone(), package),
        ("prov", format!("{file}.prov"), provenance),
    ] {
        body.put_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; \
                 filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.put_slice(&bytes);
        body.put_slice(b"\r\n");
    }
    body.put_slice(format!("--{boundary}--\r\n").as_bytes());
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.freeze(),
    )
}

#[async_trait]
impl ChartUploads for ChartRepository {
    async fn held_package(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        let url = self.version_url(name, version).await?;
        let shown = format!("GET {}", url.path());
        let (status, body) = self.api_call(Method::GET, url, None).await?;
        match status {
            StatusCode::NOT_FOUND => return Ok(None),
            s if !s.is_success() => return Err(self.refusal(&shown, status, &body)),
            _ => {}
        }
        let held: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        // ChartMuseum answers the newest version in range when there is no exact one.
        if held["version"].as_str() != Some(version) {
            return Ok(None);
        }
        let hex = held["digest"].as_str().unwrap_or_default();
        let hex = hex.strip_prefix("sha256:").unwrap_or(hex);
        Digest::parse(&format!("sha256:{hex}"))
            .map(Some)
            .map_err(|e| self.t.invalid(format!("{shown}: the package digest {e}")))
    }

    /// Whether the index names a provenance file beside the version's package.
    async fn held_provenance(&self, name: &str, version: &str) -> Result<bool, RegistryError> {
        self.forget_index().await;
        let read = self.index().await?;
        let Some(entry) = read
            .index
            .versions(name)
            .iter()
            .find(|e| e.version == version)
        else {
            return Ok(false);
        };
        let key = self.key_of(entry, &read)?;
        let prov = format!("{}.prov", self.package_url(entry)?);
        let prov = url::Url::parse(&prov).map_err(|e| self.t.invalid(format!("{prov}: {e}")))?;
        Ok(self.package(&prov, &key, "provenance").await?.is_some())
    }

    async fn upload_chart(
        &self,
        name: &str,
        version: &str,
        package: Bytes,
        provenance: Option<Bytes>,
        replace: bool,
    ) -> Result<(), RegistryError> {
        let mut url = self.charts_api().await?;
        if replace {
            url.set_query(Some("force"));
        }
        let shown = format!("POST {}", url.path());
        let body = match provenance {
            Some(provenance) => form(name, version, package, provenance),
            None => ("application/gzip".to_string(), package),
        };
        let (status, answer) = self.api_call(Method::POST, url, Some(body)).await?;
        // The index ChartMuseum serves changes with the upload.
        self.forget_index().await;
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::CONFLICT => Err(self.t.invalid(format!(
                "{shown}: ChartMuseum already holds {name} {version} (uploaded meanwhile); \
                 it is compared again on the next run"
            ))),
            _ => Err(self.refusal(&shown, status, &answer)),
        }
    }
}

/// Before any task: the destination must have ChartMuseum's API, with the credential accepted.
#[async_trait]
impl Namespaces for ChartRepository {
    /// One check for the whole repository, whatever the chart.
    fn namespace_of(&self, _repository: &str) -> Option<String> {
        Some("charts".to_string())
    }

    async fn ensure(
        &self,
        _namespace: &str,
        _visibility: Visibility,
    ) -> Result<bool, RegistryError> {
        self.charts_api().await.map(|_| false)
    }
}
