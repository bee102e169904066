//! A registry kind's own JSON API (Harbor's, Docker Hub's, GitHub's, Google's) over the
//! registry transport: every call carries the API's own `Authorization`, pages are followed by
//! `Link: <...>; rel="next"` or a JSON `next`, and never off the API's origin, where that
//! authorization must not go.

use reqwest::header::{HeaderValue, AUTHORIZATION, LINK};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::transport::{Call, Transport};
use crate::ports::registry::RegistryError;

/// The largest page read.
const PAGE_BYTES: usize = 8 * 1024 * 1024;
/// Pages followed in one listing before Ferry stops reading an endless list.
pub(crate) const MAX_PAGES: usize = 2000;

pub(crate) struct JsonApi {
    pub t: Transport,
    /// The API's credential header, sent with every call.
    authorization: Option<(reqwest::header::HeaderName, HeaderValue)>,
}

/// One page: its body, the URL of the next when a `Link` names one, and its headers (some
/// APIs say where the next page starts in their own: `X-Next-Page`, `X-Next-Page-Start`).
pub(crate) struct Page<T> {
    pub body: T,
    pub next: Option<String>,
    pub headers: reqwest::header::HeaderMap,
}

impl<T> Page<T> {
    /// A header's value as text, when present and not empty.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }
}

impl JsonApi {
    pub fn new(t: Transport) -> Self {
        Self {
            t,
            authorization: None,
        }
    }

    /// Calls carry `value` as their `Authorization` (`Bearer ...`, `Basic ...`).
    pub fn authorized(self, value: &str) -> Result<Self, RegistryError> {
        self.with_header(AUTHORIZATION, value)
    }

    /// Calls carry `value` as their credential header `name` (GitLab's `PRIVATE-TOKEN`).
    pub fn with_header(
        mut self,
        name: reqwest::header::HeaderName,
        value: &str,
    ) -> Result<Self, RegistryError> {
        let mut header = HeaderValue::from_str(value).map_err(|_| {
            self.t
                .invalid("the API credential is not a valid header".into())
        })?;
        header.set_sensitive(true);
        self.authorization = Some((name, header));
        Ok(self)
    }

    pub fn set_authorization(&mut self, header: HeaderValue) {
        self.authorization = Some((AUTHORIZATION, header));
    }

    fn call<'a>(&self, method: Method, url: url::Url, path: &'a str) -> Call<'a> {
        let call = Call::new(method, url, path, "");
        match &self.authorization {
            Some((name, value)) => call.header(name.clone(), value.clone()),
            None => call,
        }
    }

    /// `path` (under the API's base, or a next-page URL on its origin): None when it answers 404.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<Page<T>>, RegistryError> {
        let url = self.t.url(path)?;
        let base = self.t.url("/")?;
        if url.origin() != base.origin() {
            return Err(self.t.invalid(format!(
                "the API points to {url}, off its origin {}; Ferry does not follow it there",
                base.origin().ascii_serialization()
            )));
        }
        let shown = url.path().to_string();
        let call = self.call(Method::GET, url, &shown);
        self.t
            .send(&call, |response| async {
                if response.status() == StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                if !response.status().is_success() {
                    return Err(self.t.unexpected("GET", &shown, response).await);
                }
                let next = next_link(response.headers());
                let headers = response.headers().clone();
                let body = self
                    .t
                    .read_json("GET", &shown, response, PAGE_BYTES, "API answer")
                    .await?;
                Ok(Some(Page {
                    body,
                    next,
                    headers,
                }))
            })
            .await
    }

    /// Every page from `first` on, `split` telling each page's items and where the next one is;
    /// None when the first answers 404.
    pub async fn all<B, T>(
        &self,
        first: String,
        split: impl Fn(Page<B>) -> (Vec<T>, Option<String>),
    ) -> Result<Option<Vec<T>>, RegistryError>
    where
        B: DeserializeOwned,
    {
        let mut items = Vec::new();
        let mut next = Some(first);
        for _ in 0..MAX_PAGES {
            let Some(path) = next.take() else {
                return Ok(Some(items));
            };
            let Some(page) = self.get::<B>(&path).await? else {
                return Ok(if items.is_empty() { None } else { Some(items) });
            };
            let (found, following) = split(page);
            let empty = found.is_empty();
            items.extend(found);
            next = following.filter(|_| !empty);
        }
        Err(self.t.invalid(format!(
            "over {MAX_PAGES} pages; Ferry stops reading an endless list"
        )))
    }

    /// A request with a JSON body (`POST`, `HEAD` without one): the status and the body read.
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, bytes::Bytes), RegistryError> {
        let url = self.t.url(path)?;
        let shown = url.path().to_string();
        let mut call = self.call(method.clone(), url, &shown);
        if let Some(body) = body {
            call = call
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes::Bytes::from(body.to_string()));
        }
        let name = super::transport::method_name(&method);
        self.t
            .send(&call, |response| async {
                let status = response.status();
                let body = self
                    .t
                    .read_capped(name, &shown, response, PAGE_BYTES, "API answer")
                    .await?;
                Ok((status, body))
            })
            .await
    }
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find(|part| part.contains("rel=\"next\"") || part.contains("rel=next"))
        .and_then(|part| {
            let start = part.find('<')? + 1;
            let end = part.find('>')?;
            (start < end).then(|| part[start..end].to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_page_among_links() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            LINK,
            HeaderValue::from_static(
                r#"</api/v2.0/projects?page=1&page_size=2>; rel="prev" , </api/v2.0/projects?page=3&page_size=2>; rel="next""#,
            ),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("/api/v2.0/projects?page=3&page_size=2")
        );
        headers.insert(
            LINK,
            HeaderValue::from_static(r#"<https://api.github.com/x?page=9>; rel="last""#),
        );
        assert_eq!(next_link(&headers), None);
    }
}
