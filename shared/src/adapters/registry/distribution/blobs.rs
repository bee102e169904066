//! `/v2/<name>/blobs/<digest>`: whether a blob is there, and its bytes as a stream, from an
//! offset when a copy resumes.

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, LOCATION, RANGE};
use reqwest::{Method, StatusCode};

use super::{pull, HttpRegistryClient};
use crate::adapters::registry::transport::Call;
use crate::oci::{Digest, Repository};
use crate::ports::registry::{BlobAt, BlobStream, Blobs, RegistryError};

fn blob_path(repository: &Repository, digest: &Digest) -> String {
    format!("/v2/{repository}/blobs/{digest}")
}

#[async_trait]
impl Blobs for HttpRegistryClient {
    async fn blob_exists(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let path = blob_path(repository, digest);
        let scope = pull(repository);
        let call = Call::new(Method::HEAD, self.t.url(&path)?, &path, &scope);
        self.t
            .send(&call, |response| async {
                match response.status() {
                    s if s.is_success() => Ok(true),
                    StatusCode::NOT_FOUND => Ok(false),
                    _ => Err(self.t.unexpected("HEAD", &path, response).await),
                }
            })
            .await
    }

    async fn get_blob_from(
        &self,
        repository: &Repository,
        digest: &Digest,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        let path = blob_path(repository, digest);
        let scope = pull(repository);
        let mut call = Call::new(Method::GET, self.t.url(&path)?, &path, &scope).streaming();
        if offset > 0 {
            call = call.header(RANGE, format!("bytes={offset}-"));
        }
        let response = self
            .t
            .send(&call, |response| async {
                if response.status().is_success() {
                    Ok(response)
                } else {
                    Err(self.t.unexpected("GET", &path, response).await)
                }
            })
            .await?;
        // A registry that ignores Range sends the whole blob: skip what we have. One that
        // answers a range must answer the one asked for.
        let partial = response.status() == StatusCode::PARTIAL_CONTENT;
        if partial {
            let range = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let starts_at = range
                .trim_start_matches("bytes ")
                .split('-')
                .next()
                .and_then(|start| start.trim().parse::<u64>().ok());
            if starts_at != Some(offset) {
                return Err(self.t.invalid(format!(
                    "GET {path}: asked for bytes from {offset}, answered {range:?}"
                )));
            }
        }
        let skip = if offset > 0 && !partial { offset } else { 0 };
        let name = self.t.name().to_string();
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
}

impl HttpRegistryClient {
    /// A blob as a client would read it: a `3xx` redirect is handed back (a relative
    /// `Location` made absolute on the registry), never followed; else the bytes stream.
    pub(super) async fn locate(
        &self,
        repository: &Repository,
        digest: &Digest,
        head: bool,
    ) -> Result<BlobAt, RegistryError> {
        let path = blob_path(repository, digest);
        let scope = pull(repository);
        let method = if head { Method::HEAD } else { Method::GET };
        let name = if head { "HEAD" } else { "GET" };
        let call = Call::new(method, self.t.url(&path)?, &path, &scope).streaming();
        self.t
            .send_unredirected(&call, |response| async {
                let status = response.status();
                if status.is_redirection() {
                    let location = response
                        .headers()
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| {
                            self.t
                                .invalid(format!("{name} {path}: {status} without a Location"))
                        })?;
                    let location = self.t.url(location)?;
                    return Ok(BlobAt::Elsewhere {
                        location: location.to_string(),
                    });
                }
                if status == StatusCode::NOT_FOUND {
                    return Ok(BlobAt::Missing);
                }
                if !status.is_success() {
                    return Err(self.t.unexpected(name, &path, response).await);
                }
                let size = response
                    .headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                if head {
                    return Ok(BlobAt::Here { size, body: None });
                }
                let registry = self.t.name().to_string();
                let failed_path = path.clone();
                let body = response
                    .bytes_stream()
                    .map_err(move |e| RegistryError::Transient {
                        registry: registry.clone(),
                        method: "GET",
                        path: failed_path.clone(),
                        message: e.to_string(),
                        retry_after: None,
                    })
                    .boxed();
                Ok(BlobAt::Here {
                    size,
                    body: Some(body),
                })
            })
            .await
    }
}
