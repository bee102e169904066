//! Harbor as a destination: its repositories live in projects, which must exist before anything
//! is pushed into them (a plain distribution registry has no such thing). Harbor's v2.0 API:
//! `HEAD /api/v2.0/projects?project_name=` and `POST /api/v2.0/projects`.

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};

use crate::adapters::registry::transport::{Call, Transport};
use crate::model::addresses::AddressPolicy;
use crate::model::Registry;
use crate::ports::registry::{Namespaces, RegistryError, Visibility};

const PROJECTS: &str = "/api/v2.0/projects";

pub struct HarborProjects {
    t: Transport,
}

impl HarborProjects {
    pub fn new(registry: &Registry, addresses: AddressPolicy) -> Result<Self, RegistryError> {
        Ok(Self {
            t: Transport::new(registry, addresses)?,
        })
    }

    pub fn with_max_retries(self, retries: usize) -> Self {
        Self {
            t: self.t.with_retries(retries),
        }
    }
}

#[async_trait]
impl Namespaces for HarborProjects {
    async fn ensure(&self, project: &str, visibility: Visibility) -> Result<bool, RegistryError> {
        let mut head = self.t.url(PROJECTS)?;
        head.query_pairs_mut().append_pair("project_name", project);
        let exists = Call::new(Method::HEAD, head, PROJECTS, "");
        let found = self
            .t
            .send(&exists, |response| async move {
                match response.status() {
                    StatusCode::OK => Ok(true),
                    StatusCode::NOT_FOUND => Ok(false),
                    _ => Err(self.t.unexpected("HEAD", PROJECTS, response).await),
                }
            })
            .await?;
        if found {
            return Ok(false);
        }
        let body = serde_json::to_vec(&serde_json::json!({
            "project_name": project,
            "metadata": {"public": if visibility.is_public() { "true" } else { "false" }},
        }))
        .map_err(|e| self.t.invalid(format!("project {project:?}: {e}")))?;
        let create = Call::new(Method::POST, self.t.url(PROJECTS)?, PROJECTS, "")
            .header(CONTENT_TYPE, "application/json")
            .body(Bytes::from(body));
        self.t
            .send(&create, |response| async move {
                match response.status() {
                    StatusCode::CREATED => Ok(true),
                    // Created meanwhile by someone else: there it is.
                    StatusCode::CONFLICT => Ok(false),
                    _ => Err(self.t.unexpected("POST", PROJECTS, response).await),
                }
            })
            .await
    }
}
