//! `/v2/<name>/blobs/uploads/`: a blob in one streamed PUT, a mount from another repository,
//! and upload sessions that take chunks or a stream and tell how much they hold.

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::{
    HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE,
};
use reqwest::{Method, Response, StatusCode};

use super::{pull, push, HttpRegistryClient};
use crate::adapters::registry::transport::Call;
use crate::oci::{Digest, Repository, UploadSession};
use crate::ports::registry::{BlobStream, Mount, RegistryError, Uploads};

const OCTET_STREAM: &str = "application/octet-stream";
/// The largest `OCI-Chunk-Min-Length` Ferry accepts: chunks are held in memory.
const MAX_CHUNK_MIN: u64 = 64 * 1024 * 1024;

fn uploads_path(repository: &Repository) -> String {
    format!("/v2/{repository}/blobs/uploads/")
}

/// Bytes an upload session holds, from `Range: 0-<last byte>`. Distribution answers `0-0` both
/// for nothing and for one byte, so `0-0` counts as nothing: the copy then starts a new session
/// rather than guess.
fn held_bytes(headers: &HeaderMap) -> u64 {
    headers
        .get(RANGE)
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

fn octet_stream() -> HeaderMap {
    HeaderMap::from_iter([(CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM))])
}

impl HttpRegistryClient {
    /// The absolute URL of an upload `Location`, relative to the request's `url`.
    fn upload_url(
        &self,
        url: &url::Url,
        path: &str,
        response: &Response,
    ) -> Result<url::Url, RegistryError> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                self.t.invalid(format!(
                    "{path} answered {} without a Location",
                    response.status()
                ))
            })?;
        url.join(location)
            .map_err(|e| self.t.invalid(format!("upload location {location:?}: {e}")))
    }

    /// The session a 202 opened: its location and `OCI-Chunk-Min-Length`.
    fn upload_session(
        &self,
        repository: &Repository,
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
        if min_chunk > MAX_CHUNK_MIN {
            return Err(self.t.invalid(format!(
                "{path}: the registry asks for chunks of at least {min_chunk} bytes \
                 (OCI-Chunk-Min-Length), over Ferry's {MAX_CHUNK_MIN} byte limit"
            )));
        }
        Ok(UploadSession {
            repository: repository.clone(),
            location: self.upload_url(url, path, response)?.to_string(),
            min_chunk,
        })
    }

    fn session_url(&self, session: &UploadSession) -> Result<url::Url, RegistryError> {
        url::Url::parse(&session.location).map_err(|e| {
            self.t
                .invalid(format!("upload location {:?}: {e}", session.location))
        })
    }

    /// Cancels a session this client opened itself and will not finish; best effort.
    async fn give_up(&self, session: &UploadSession) {
        if let Err(e) = self.cancel_upload(session).await {
            tracing::info!(error = %e, "upload session not cancelled; it expires");
        }
    }

    /// `POST` for a new session: 202 with its location.
    async fn open_session(
        &self,
        repository: &Repository,
        url: &url::Url,
        path: &str,
        scope: &str,
    ) -> Result<UploadSession, RegistryError> {
        let call = Call::new(Method::POST, url.clone(), path, scope).header(CONTENT_LENGTH, 0);
        self.t
            .send(&call, |response| async move {
                if response.status() == StatusCode::ACCEPTED {
                    self.upload_session(repository, url, path, &response)
                } else {
                    Err(self.t.unexpected("POST", path, response).await)
                }
            })
            .await
    }
}

#[async_trait]
impl Uploads for HttpRegistryClient {
    /// Not retried as a whole: the body streams once. The copy retries the whole blob.
    async fn put_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        size: u64,
        body: BlobStream,
    ) -> Result<(), RegistryError> {
        let path = uploads_path(repository);
        let scope = push(repository);
        let session = self
            .open_session(repository, &self.t.url(&path)?, &path, &scope)
            .await?;
        let mut upload = self.session_url(&session)?;
        upload
            .query_pairs_mut()
            .append_pair("digest", digest.as_str());
        let mut headers = octet_stream();
        headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
        let sent = self
            .t
            .send_once(
                Method::PUT,
                upload,
                &path,
                &scope,
                headers,
                reqwest::Body::wrap_stream(body),
            )
            .await;
        let error = match sent {
            Ok(response) if response.status() == StatusCode::CREATED => return Ok(()),
            Ok(response) => self.t.unexpected("PUT", &path, response).await,
            Err(e) => e,
        };
        // Nothing was committed: the session this call opened goes too.
        self.give_up(&session).await;
        Err(error)
    }

    async fn mount_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        from: &Repository,
    ) -> Result<Mount, RegistryError> {
        let path = uploads_path(repository);
        let mut url = self.t.url(&path)?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from.as_str());
        // The token must allow pulling from the source repository too, or the mount is refused.
        let scope = format!("{} {}", push(repository), pull(from));
        let call = Call::new(Method::POST, url.clone(), &path, &scope).header(CONTENT_LENGTH, 0);
        self.t
            .send(&call, |response| async {
                match response.status() {
                    StatusCode::CREATED => Ok(Mount::Mounted),
                    // Not mounted: the registry opened an upload session instead.
                    StatusCode::ACCEPTED => Ok(Mount::NotMounted(
                        self.upload_session(repository, &url, &path, &response)?,
                    )),
                    _ => Err(self.t.unexpected("POST", &path, response).await),
                }
            })
            .await
    }

    async fn start_upload(&self, repository: &Repository) -> Result<UploadSession, RegistryError> {
        let path = uploads_path(repository);
        self.open_session(repository, &self.t.url(&path)?, &path, &push(repository))
            .await
    }

    /// Not retried here: a chunk that failed may have landed in part, so the copy asks
    /// [`Uploads::upload_offset`] where to go on.
    async fn upload_chunk(
        &self,
        session: &mut UploadSession,
        offset: u64,
        chunk: Bytes,
    ) -> Result<(), RegistryError> {
        let url = self.session_url(session)?;
        let path = url.path().to_string();
        let end = offset + chunk.len() as u64 - 1;
        let scope = push(&session.repository);
        let call = Call::new(Method::PATCH, url.clone(), &path, &scope)
            .header(CONTENT_TYPE, OCTET_STREAM)
            .header(CONTENT_RANGE, format!("{offset}-{end}"))
            .header(CONTENT_LENGTH, chunk.len())
            .body(chunk);
        let response = self.t.attempt(&call).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.t.unexpected("PATCH", &path, response).await);
        }
        session.location = self.upload_url(&url, &path, &response)?.to_string();
        Ok(())
    }

    /// Not retried here: the body is gone once sent. The copy resumes from the offset held.
    async fn upload_stream(
        &self,
        session: &mut UploadSession,
        body: BlobStream,
    ) -> Result<u64, RegistryError> {
        let url = self.session_url(session)?;
        let path = url.path().to_string();
        let response = self
            .t
            .send_once(
                Method::PATCH,
                url.clone(),
                &path,
                &push(&session.repository),
                octet_stream(),
                reqwest::Body::wrap_stream(body),
            )
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.t.unexpected("PATCH", &path, response).await);
        }
        let held = held_bytes(response.headers());
        session.location = self.upload_url(&url, &path, &response)?.to_string();
        Ok(held)
    }

    async fn upload_offset(&self, session: &UploadSession) -> Result<u64, RegistryError> {
        let url = self.session_url(session)?;
        let path = url.path().to_string();
        let scope = push(&session.repository);
        let call = Call::new(Method::GET, url, &path, &scope);
        self.t
            .send(&call, |response| async {
                if response.status().is_success() {
                    Ok(held_bytes(response.headers()))
                } else {
                    Err(self.t.unexpected("GET", &path, response).await)
                }
            })
            .await
    }

    async fn finish_upload(
        &self,
        session: &UploadSession,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let mut url = self.session_url(session)?;
        let path = url.path().to_string();
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let scope = push(&session.repository);
        let call = Call::new(Method::PUT, url, &path, &scope).header(CONTENT_LENGTH, 0);
        self.t
            .send(&call, |response| async {
                if response.status() == StatusCode::CREATED {
                    Ok(())
                } else {
                    Err(self.t.unexpected("PUT", &path, response).await)
                }
            })
            .await
    }

    async fn cancel_upload(&self, session: &UploadSession) -> Result<(), RegistryError> {
        let url = self.session_url(session)?;
        let path = url.path().to_string();
        let scope = push(&session.repository);
        let call = Call::new(Method::DELETE, url, &path, &scope);
        self.t
            .send(&call, |response| async {
                match response.status() {
                    // Gone already (finished, expired or cancelled): as good.
                    s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
                    _ => Err(self.t.unexpected("DELETE", &path, response).await),
                }
            })
            .await
    }
}
