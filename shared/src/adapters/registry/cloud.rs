//! What the registry APIs of Tencent Cloud, Huawei Cloud, Alibaba Cloud and Volcengine share:
//! every call is signed with the registry's API key pair (the signers in `signing`), and signed
//! anew for each attempt, since a retry must carry a fresh time and nonce; answers are read
//! whole, capped; each kind reads its provider's envelope and error codes from them.

use std::fmt;

use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};

use super::signing::{self, Additions, SigningError};
use super::transport::{method_name, Call, Transport};
use crate::model::Registry;
use crate::ports::registry::RegistryError;

/// The largest API answer read.
const ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// Pages of one listing read at most.
pub(crate) const MAX_PAGES: usize = 2000;

/// A registry's API key pair (AccessKey id and secret, SecretId and SecretKey, AK and SK).
#[derive(Clone)]
pub(crate) struct ApiKey {
    pub id: String,
    pub secret: String,
}

impl fmt::Debug for ApiKey {
    /// The secret stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey").field("id", &self.id).finish()
    }
}

impl ApiKey {
    /// The record's credential as an API key pair; refused when either half is empty.
    pub fn of(registry: &Registry, kind: &str) -> Result<Self, RegistryError> {
        let credential = registry.credential.as_ref();
        let id = credential.map(|c| c.access_key.clone()).unwrap_or_default();
        let secret = credential
            .and_then(|c| c.access_secret.clone())
            .unwrap_or_default();
        if id.is_empty() || secret.is_empty() {
            return Err(RegistryError::Invalid {
                registry: registry.name.clone(),
                what: format!(
                    "a {kind} registry needs its API key pair as credential (access_key and \
                     access_secret)"
                ),
            });
        }
        Ok(Self { id, secret })
    }

    pub fn credentials(&self) -> signing::Credentials<'_> {
        signing::Credentials {
            id: &self.id,
            secret: &self.secret,
        }
    }
}

/// Where a signer's additions go.
pub(crate) enum Signature {
    /// Headers (Authorization and the scheme's own).
    Headers(Additions),
    /// Query parameters (Alibaba's RPC style).
    Query(Additions),
}

/// The parts of one API request, as signed and as sent.
pub(crate) struct Request<'a> {
    pub method: Method,
    pub path: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Bytes,
    /// What messages call the request (the API action, or the path).
    pub shown: &'a str,
}

/// An API's answer, read whole.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// A header's value as text, when present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A provider's API over the registry transport, with the key that signs its calls.
pub(crate) struct SignedApi {
    pub t: Transport,
    pub key: ApiKey,
    /// The `Host` header as sent, hence as signed: the host, with its port when not the
    /// scheme's default.
    host: String,
}

/// `url`'s host as the `Host` header carries it.
fn host_header(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

impl SignedApi {
    pub fn new(t: Transport, key: ApiKey) -> Result<Self, RegistryError> {
        let host = host_header(&t.url("/")?);
        Ok(Self { t, key, host })
    }

    /// Sends `request`, signed by `sign` for each attempt, and reads the whole answer (an
    /// answer that may heal, 5xx or 429, is retried first).
    pub async fn send(
        &self,
        request: &Request<'_>,
        sign: impl Fn(&signing::Request<'_>) -> Result<Signature, SigningError>,
    ) -> Result<Answer, RegistryError> {
        let name = method_name(&request.method);
        let build = || -> Result<Call<'_>, RegistryError> {
            let signable = signing::Request {
                method: request.method.as_str(),
                host: &self.host,
                path: request.path,
                query: request.query,
                headers: request.headers,
                body: &request.body,
            };
            let signature = sign(&signable).map_err(|e| {
                self.t
                    .invalid(format!("{}: cannot sign the request: {e}", request.shown))
            })?;
            let (headers, extra) = match signature {
                Signature::Headers(headers) => (headers, Vec::new()),
                Signature::Query(parameters) => (Vec::new(), parameters),
            };
            let mut url = self.t.url(request.path)?;
            let pairs: Vec<(&str, &str)> = (request.query.iter().copied())
                .chain(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())))
                .collect();
            let query = signing::canonical_query(&pairs);
            url.set_query(Some(query.as_str()).filter(|q| !q.is_empty()));
            let mut call = Call::new(request.method.clone(), url, request.shown, "");
            let all = (request.headers.iter().copied())
                .chain(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            for (header, value) in all {
                let header = HeaderName::try_from(header)
                    .map_err(|_| self.t.invalid(format!("header {header:?} is not valid")))?;
                let mut value = HeaderValue::from_str(value).map_err(|_| {
                    self.t
                        .invalid(format!("header {header} has no valid value"))
                })?;
                value.set_sensitive(header == reqwest::header::AUTHORIZATION);
                call = call.header(header, value);
            }
            Ok(call.body(request.body.clone()))
        };
        self.t
            .send_built(build, |response| async {
                let status = response.status();
                let headers = response.headers().clone();
                let body = self
                    .t
                    .read_capped(name, request.shown, response, ANSWER_BYTES, "API answer")
                    .await?;
                Ok(Answer {
                    status,
                    headers,
                    body,
                })
            })
            .await
    }

    /// What a provider's error answer means to Ferry: a refusal naming the call, the
    /// provider's code and message (a hint for what to do where there is one), or, for codes
    /// that say the provider is busy, a failure that may heal.
    pub fn refusal(
        &self,
        method: &'static str,
        shown: &str,
        error: &ApiError,
        heals: bool,
    ) -> RegistryError {
        if heals {
            return RegistryError::Transient {
                registry: self.t.name().to_string(),
                method,
                path: shown.to_string(),
                message: format!("{}: {}", error.code, error.message),
                retry_after: None,
            };
        }
        self.t.invalid(format!(
            "{shown} refused: {}: {}",
            error.code,
            error.message.chars().take(300).collect::<String>()
        ))
    }

    /// A body that is not the provider's answer.
    pub fn unreadable(&self, shown: &str, status: StatusCode, body: &[u8]) -> RegistryError {
        self.t.invalid(format!(
            "{shown} answered {status} with what is not the API's answer: {}",
            String::from_utf8_lossy(body)
                .chars()
                .take(300)
                .collect::<String>()
        ))
    }
}

/// A provider's error: its code (`AuthFailure.SignatureFailure`, `NotFound.Namespace`,
/// `SVCSTG.SWR.4001`…) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub code: String,
    pub message: String,
}

impl ApiError {
    /// Whether the code is `prefix` or one of its sub-codes (`ResourceNotFound.TcrResourceNotFound`).
    pub fn is(&self, prefix: &str) -> bool {
        self.code == prefix
            || self
                .code
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

/// The pages of a listing: `page(n, read)` answers the items of page `n` (from 1; `read` items
/// came before it, for APIs paged by offset) and the total the API reports, or None when what is
/// listed does not exist. Reading stops at the total, or, where the API reports none, at a page
/// shorter than `size` (a server may answer fewer than asked: with a total, a short page is not
/// the end); always at an empty page, and after [`MAX_PAGES`] (an endless list is refused). None
/// when the first page is.
pub(crate) async fn numbered_pages<T, F, Fut>(
    api: &SignedApi,
    size: usize,
    page: F,
) -> Result<Option<Vec<T>>, RegistryError>
where
    F: Fn(usize, usize) -> Fut,
    Fut: std::future::Future<Output = Result<Option<(Vec<T>, Option<u64>)>, RegistryError>>,
{
    let mut all = Vec::new();
    for number in 1..=MAX_PAGES {
        let Some((items, total)) = page(number, all.len()).await? else {
            return Ok((number > 1).then_some(all));
        };
        let (empty, short) = (items.is_empty(), items.len() < size);
        all.extend(items);
        let done = match total {
            Some(total) => empty || all.len() as u64 >= total,
            None => empty || short,
        };
        if done {
            return Ok(Some(all));
        }
    }
    Err(api.t.invalid(format!(
        "over {MAX_PAGES} pages; Ferry stops reading an endless list"
    )))
}

/// `time` now, for a signature.
pub(crate) fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// A fresh nonce for a signature that takes one.
pub(crate) fn nonce() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_with_their_sub_codes_only() {
        let error = ApiError {
            code: "ResourceNotFound.TcrResourceNotFound".into(),
            message: String::new(),
        };
        assert!(error.is("ResourceNotFound"));
        assert!(!error.is("Resource"));
        assert!(error.is("ResourceNotFound.TcrResourceNotFound"));
    }

    fn api() -> SignedApi {
        let registry = Registry {
            name: "r".into(),
            url: "http://127.0.0.1:1".into(),
            ..Registry::default()
        };
        let policy = crate::model::addresses::AddressPolicy::allowing_private(true);
        let t = Transport::new(&registry, policy).expect("transport");
        let key = ApiKey {
            id: "id".into(),
            secret: "secret".into(),
        };
        SignedApi::new(t, key).expect("api")
    }

    /// A list of `total` items served `cap` at a time (a server's own page size under the one
    /// asked), reporting its total or not; the calls it took.
    async fn listed(total: usize, cap: usize, report: bool) -> (Option<Vec<usize>>, usize) {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let all = numbered_pages(&api(), 100, |number, read| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            assert_eq!(read, (number - 1) * cap, "what came before page {number}");
            let items: Vec<usize> = (read..total.min(read + cap)).collect();
            async move { Ok(Some((items, report.then_some(total as u64)))) }
        })
        .await
        .expect("listed");
        (all, calls.into_inner())
    }

    #[tokio::test]
    async fn pages_end_at_the_total_or_at_a_short_page_when_there_is_none() {
        let (all, calls) = listed(5, 2, true).await;
        assert_eq!(
            all,
            Some(vec![0, 1, 2, 3, 4]),
            "short pages are not the end"
        );
        assert_eq!(calls, 3);
        let (all, calls) = listed(5, 2, false).await;
        assert_eq!(
            all,
            Some(vec![0, 1]),
            "without a total, a short page is the end"
        );
        assert_eq!(calls, 1);
        let (all, calls) = listed(0, 2, true).await;
        assert_eq!(all, Some(vec![]));
        assert_eq!(calls, 1);
        let (all, _) = listed(250, 100, false).await;
        assert_eq!(all.map(|a| a.len()), Some(250));
    }

    #[tokio::test]
    async fn a_listing_not_found_and_an_endless_one() {
        let missing: Option<Vec<u8>> = numbered_pages(&api(), 10, |_, _| async { Ok(None) })
            .await
            .expect("none");
        assert_eq!(missing, None, "the first page not found: nothing to list");
        let gone_later = numbered_pages(&api(), 1, |number, _| async move {
            Ok((number == 1).then(|| (vec![1u8], None)))
        })
        .await
        .expect("some");
        assert_eq!(
            gone_later,
            Some(vec![1]),
            "a later page not found ends the list"
        );
        let endless = numbered_pages(&api(), 1, |_, _| async { Ok(Some((vec![0u8], None))) }).await;
        let error = endless.expect_err("endless").to_string();
        assert!(error.contains("endless list"), "{error}");
    }

    #[test]
    fn the_host_header_keeps_only_a_port_the_scheme_does_not_imply() {
        let url = |s: &str| url::Url::parse(s).expect("url");
        assert_eq!(
            host_header(&url("https://tcr.tencentcloudapi.com/")),
            "tcr.tencentcloudapi.com"
        );
        assert_eq!(host_header(&url("https://a.example:443/")), "a.example");
        assert_eq!(
            host_header(&url("http://127.0.0.1:5000/")),
            "127.0.0.1:5000"
        );
    }
}
