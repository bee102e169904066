//! The distribution pull API for the names auto-sync policies own: `GET|HEAD /v2/`,
//! `/v2/<name>/manifests/<reference>` and `/v2/<name>/blobs/<digest>`, with distribution's
//! headers and error bodies (`{"errors":[{"code":"MANIFEST_UNKNOWN",...}]}`). Everything
//! else under `/v2/` (pushes, tags, the catalog) is refused: the endpoint is read-only.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};

use super::errors::ApiError;
use super::pull_auth::Probe;
use super::{Api, ClientAddress};
use crate::model::auto_sync::{owner_of, Owner};
use crate::model::ReplicationPolicy;
use crate::oci::{Digest, Reference, Repository};
use crate::ports::registry::RegistryClient;
use crate::ports::store::collect_pages;
use crate::replication::pull::{read_blob, BlobAnswer, Pull, PullError};

pub const API_VERSION: &str = "registry/2.0";
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// A path under `/v2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullPath {
    Base,
    Manifest {
        name: String,
        reference: String,
    },
    Blob {
        name: String,
        digest: String,
    },
    /// Under `/v2/` but nothing Ferry serves.
    Other,
}

impl PullPath {
    /// The pull path `path` is, or None when it is not under `/v2`.
    pub fn of(path: &str) -> Option<Self> {
        let rest = match path.strip_prefix("/v2") {
            Some("") | Some("/") => return Some(Self::Base),
            Some(rest) => rest.strip_prefix('/')?,
            None => return None,
        };
        // A reference and a digest hold no `/`: the last marker splits.
        for (marker, manifest) in [("/manifests/", true), ("/blobs/", false)] {
            if let Some(at) = rest.rfind(marker) {
                let (name, last) = (&rest[..at], &rest[at + marker.len()..]);
                if name.is_empty() || last.is_empty() || last.contains('/') {
                    continue;
                }
                let (name, last) = (name.to_string(), last.to_string());
                return Some(if manifest {
                    Self::Manifest {
                        name,
                        reference: last,
                    }
                } else {
                    Self::Blob { name, digest: last }
                });
            }
        }
        Some(Self::Other)
    }
}

/// A manifest or blob asked for, its names checked.
enum Target {
    Manifest(Repository, Reference),
    Blob(Repository, Digest),
}

impl Target {
    fn parse(name: &str, what: Result<&str, &str>) -> Result<Self, crate::oci::NameError> {
        let repository = Repository::parse(name)?;
        Ok(match what {
            Ok(reference) => Self::Manifest(repository, Reference::parse(reference)?),
            Err(digest) => Self::Blob(repository, Digest::parse(digest)?),
        })
    }

    fn repository(&self) -> &Repository {
        match self {
            Self::Manifest(repository, _) | Self::Blob(repository, _) => repository,
        }
    }

    fn probe(&self) -> Probe<'_> {
        match self {
            Self::Manifest(repository, reference) => Probe::Manifest(repository, reference),
            Self::Blob(repository, digest) => Probe::Blob(repository, digest),
        }
    }
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message)
}

fn name_invalid(e: crate::oci::NameError) -> ApiError {
    let code = match e.what {
        "tag" => "TAG_INVALID",
        "digest" => "DIGEST_INVALID",
        _ => "NAME_INVALID",
    };
    error(StatusCode::BAD_REQUEST, code, e.to_string())
}

impl From<PullError> for ApiError {
    fn from(e: PullError) -> Self {
        let message = e.to_string();
        match e {
            PullError::ManifestUnknown(_) => {
                error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", message)
            }
            PullError::BlobUnknown { .. } => error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", message),
            PullError::NotYet { retry_after, .. } => ApiError {
                retry_after: Some(retry_after.as_secs().max(1)),
                ..error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message)
            },
            PullError::ReplicationFailed { .. } => {
                error(StatusCode::BAD_GATEWAY, "UNAVAILABLE", message)
            }
            PullError::TooLarge { .. } => error(StatusCode::BAD_GATEWAY, "UNSUPPORTED", message),
            PullError::Registry(e) if e.is_transient() => ApiError {
                retry_after: e.retry_after().map(|d| d.as_secs().max(1)),
                ..error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    e.to_string(),
                )
            },
            PullError::Registry(_) => error(StatusCode::BAD_GATEWAY, "UNAVAILABLE", message),
            PullError::Store(e) => e.into(),
            PullError::Start(_) => ApiError::internal(message),
        }
    }
}

fn with_header(mut response: Response<Bytes>, name: &'static str, value: &str) -> Response<Bytes> {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

fn bytes_answer(
    body: Bytes,
    content_type: &str,
    digest: &Digest,
    size: Option<u64>,
) -> Response<Bytes> {
    let length = size.unwrap_or(body.len() as u64).to_string();
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let response = with_header(response, "content-type", content_type);
    let response = with_header(response, DOCKER_CONTENT_DIGEST, digest.as_str());
    with_header(response, "content-length", &length)
}

impl Api {
    /// Answers a request under `/v2`; every answer says `Docker-Distribution-API-Version`.
    pub(super) async fn answer_pull(
        &self,
        request: &Request<Bytes>,
        path: PullPath,
    ) -> Response<Bytes> {
        let mut response = match self.pull_route(request, path).await {
            Ok(response) => response,
            Err(e) => {
                if e.status.is_server_error() {
                    tracing::warn!(error = %e.message, "pull failed");
                }
                e.into_response()
            }
        };
        response.headers_mut().insert(
            "docker-distribution-api-version",
            HeaderValue::from_static(API_VERSION),
        );
        response
    }

    async fn pull_route(
        &self,
        request: &Request<Bytes>,
        path: PullPath,
    ) -> Result<Response<Bytes>, ApiError> {
        let head = request.method() == Method::HEAD;
        if !head && request.method() != Method::GET {
            return Err(error(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "Ferry's pull endpoint is read-only: push to the destination registry itself",
            ));
        }
        let address = request.extensions().get::<ClientAddress>().map(|a| a.0);
        let headers = request.headers();
        let policies = self.auto_sync_policies().await?;
        let target = match path {
            PullPath::Base => {
                self.puller(headers, address, None, Probe::Login, &policies)
                    .await?;
                return Ok(super::json(StatusCode::OK, &serde_json::json!({})));
            }
            PullPath::Other => {
                self.puller(headers, address, None, Probe::Login, &policies)
                    .await?;
                return Err(error(
                    StatusCode::NOT_FOUND,
                    "UNSUPPORTED",
                    "Ferry serves only manifests and blobs here",
                ));
            }
            PullPath::Manifest { name, reference } => Target::parse(&name, Ok(&reference)),
            PullPath::Blob { name, digest } => Target::parse(&name, Err(&digest)),
        };
        // A name that is not valid is told only to a caller who may pull.
        let target = match target {
            Ok(target) => target,
            Err(e) => {
                self.puller(headers, address, None, Probe::Login, &policies)
                    .await?;
                return Err(name_invalid(e));
            }
        };
        let repository = target.repository();
        let owner = owner_of(&policies, repository);
        let puller = self
            .puller(headers, address, owner.as_ref(), target.probe(), &policies)
            .await?;
        let Some(owner) = owner else {
            return Err(error(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                format!("{repository} is in no auto-sync policy's destination namespace (or outside its name filter)"),
            ));
        };
        let span = tracing::info_span!("pull", policy_id = owner.policy.id, repository = %repository, ?puller, execution_id = tracing::field::Empty);
        let answer = async {
            match &target {
                Target::Manifest(repository, reference) => {
                    self.serve_manifest(&owner, repository, reference).await
                }
                Target::Blob(repository, digest) => {
                    self.serve_blob(&owner, repository, digest, head).await
                }
            }
        };
        tracing::Instrument::instrument(answer, span).await
    }

    /// The enabled auto-sync policies, kept for a few seconds.
    pub(super) async fn auto_sync_policies(&self) -> Result<Arc<Vec<ReplicationPolicy>>, ApiError> {
        if let Some(policies) = self.pull.policies() {
            return Ok(policies);
        }
        let all = collect_pages(|cursor| async move {
            self.store.list_policies(cursor.as_deref(), 1000).await
        })
        .await?;
        let owning = all
            .into_iter()
            .filter(|p| p.enabled && p.auto_sync.enabled)
            .collect();
        Ok(self.pull.keep_policies(owning))
    }

    /// A client of a registry with Ferry's credential for it, kept for a few seconds.
    async fn registry_client(&self, registry_id: i64) -> Result<Arc<dyn RegistryClient>, ApiError> {
        if let Some(client) = self.pull.client(registry_id) {
            return Ok(client);
        }
        let registry = self.store.get_registry_with_secret(registry_id).await?;
        let client: Arc<dyn RegistryClient> =
            Arc::from(self.connect.client(&registry).map_err(|e| {
                ApiError::internal(format!("reaching registry {registry_id}: {e}"))
            })?);
        self.pull.keep_client(registry_id, Arc::clone(&client));
        Ok(client)
    }

    async fn serve_manifest(
        &self,
        owner: &Owner<'_>,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<Response<Bytes>, ApiError> {
        let destination = self
            .registry_client(owner.policy.dest_registry_id())
            .await?;
        let source = self.registry_client(owner.policy.src_registry_id()).await?;
        let pull = Pull {
            store: self.store.as_ref(),
            queue: self.queue.as_ref(),
            destination: destination.as_ref(),
            source: source.as_ref(),
            settings: &self.pull.settings,
        };
        let served = pull.manifest(owner, repository, reference).await?;
        if let Some(id) = served.execution_id {
            tracing::Span::current().record("execution_id", id);
            tracing::info!(execution_id = id, "served after replicating");
        }
        let manifest = served.manifest;
        let media_type = if manifest.media_type.is_empty() {
            crate::oci::media::OCI_MANIFEST
        } else {
            manifest.media_type.as_str()
        };
        Ok(bytes_answer(
            manifest.bytes.clone(),
            media_type,
            &manifest.digest,
            None,
        ))
    }

    async fn serve_blob(
        &self,
        owner: &Owner<'_>,
        repository: &Repository,
        digest: &Digest,
        head: bool,
    ) -> Result<Response<Bytes>, ApiError> {
        let destination = self
            .registry_client(owner.policy.dest_registry_id())
            .await?;
        let limit = self.pull.settings.max_stream_bytes;
        match read_blob(destination.as_ref(), limit, repository, digest, head).await? {
            BlobAnswer::Redirect(location) => {
                let mut response = Response::new(Bytes::new());
                *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                let response = with_header(response, "location", &location);
                Ok(with_header(
                    response,
                    DOCKER_CONTENT_DIGEST,
                    digest.as_str(),
                ))
            }
            BlobAnswer::Bytes { size, bytes } => Ok(bytes_answer(
                bytes,
                "application/octet-stream",
                digest,
                size,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_paths_are_told_apart() {
        assert_eq!(PullPath::of("/v2"), Some(PullPath::Base));
        assert_eq!(PullPath::of("/v2/"), Some(PullPath::Base));
        assert_eq!(PullPath::of("/v20/x"), None);
        assert_eq!(PullPath::of("/api/v2.0/ping"), None);
        assert_eq!(
            PullPath::of("/v2/a/manifests/b/manifests/v1"),
            Some(PullPath::Manifest {
                name: "a/manifests/b".into(),
                reference: "v1".into()
            })
        );
        assert_eq!(
            PullPath::of("/v2/team/app/blobs/sha256:abc"),
            Some(PullPath::Blob {
                name: "team/app".into(),
                digest: "sha256:abc".into()
            })
        );
        assert_eq!(
            PullPath::of("/v2/team/app/blobs/uploads/"),
            Some(PullPath::Other)
        );
        assert_eq!(
            PullPath::of("/v2/team/app/tags/list"),
            Some(PullPath::Other)
        );
        assert_eq!(PullPath::of("/v2/_catalog"), Some(PullPath::Other));
    }
}
