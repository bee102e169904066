//! Harbor as a destination: its repositories live in projects, which must exist before anything
//! is pushed into them (a plain distribution registry has no such thing). Harbor's v2.0 API:
//! `HEAD /api/v2.0/projects?project_name=` and `POST /api/v2.0/projects`.

use async_trait::async_trait;
use reqwest::StatusCode;

use crate::model::Registry;
use crate::ports::registry::{Namespaces, RegistryError};

use super::http::{base_url, basic_credential, http_client};

pub struct HarborProjects {
    http: reqwest::Client,
    base: url::Url,
    basic: Option<(String, String)>,
    name: String,
}

impl HarborProjects {
    pub fn new(registry: &Registry) -> Result<Self, RegistryError> {
        Ok(Self {
            http: http_client(registry)?,
            base: base_url(registry)?,
            basic: basic_credential(registry),
            name: registry.host().unwrap_or_else(|| registry.url.clone()),
        })
    }

    fn request(&self, method: reqwest::Method, url: url::Url) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        match &self.basic {
            Some((user, secret)) => request.basic_auth(user, Some(secret)),
            None => request,
        }
    }

    fn failed(
        &self,
        method: &'static str,
        path: &str,
        status: StatusCode,
        body: String,
    ) -> RegistryError {
        let message = if body.is_empty() {
            status.canonical_reason().unwrap_or_default().to_string()
        } else {
            body
        };
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            RegistryError::Transient {
                registry: self.name.clone(),
                method,
                path: path.to_string(),
                message: format!("{status}: {message}"),
                retry_after: None,
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
}

#[async_trait]
impl Namespaces for HarborProjects {
    async fn ensure(&self, project: &str) -> Result<bool, RegistryError> {
        let path = "/api/v2.0/projects";
        let mut url =
            self.base
                .join(path.trim_start_matches('/'))
                .map_err(|e| RegistryError::Invalid {
                    registry: self.name.clone(),
                    what: format!("{path}: {e}"),
                })?;
        let unreachable = |method: &'static str, e: reqwest::Error| RegistryError::Transient {
            registry: self.name.clone(),
            method,
            path: path.to_string(),
            message: e.to_string(),
            retry_after: None,
        };
        let mut head = url.clone();
        head.query_pairs_mut().append_pair("project_name", project);
        let exists = self
            .request(reqwest::Method::HEAD, head)
            .send()
            .await
            .map_err(|e| unreachable("HEAD", e))?;
        match exists.status() {
            StatusCode::OK => return Ok(false),
            StatusCode::NOT_FOUND => {}
            status => return Err(self.failed("HEAD", path, status, String::new())),
        }
        url.set_query(None);
        let created = self
            .request(reqwest::Method::POST, url)
            .json(&serde_json::json!({
                "project_name": project,
                "metadata": {"public": "false"},
            }))
            .send()
            .await
            .map_err(|e| unreachable("POST", e))?;
        match created.status() {
            StatusCode::CREATED => Ok(true),
            // Created meanwhile by someone else: there it is.
            StatusCode::CONFLICT => Ok(false),
            status => {
                let body = created.text().await.unwrap_or_default();
                Err(self.failed("POST", path, status, body))
            }
        }
    }
}
