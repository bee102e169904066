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
    authorization: Option<HeaderValue>,
}

/// One page: its body, and the URL of the next when there is one.
pub(crate) struct Page<T> {
    pub body: T,
    pub next: Option<String>,
}

impl JsonApi {
    pub fn new(t: Transport) -> Self {
        Self {
            t,
            authorization: None,
        }
    }

    /// Calls carry `value` as their `Authorization` (`Bearer ...`, `Basic ...`).
    pub fn authorized(mut self, value: &str) -> Result<Self, RegistryError> {
        let mut header = HeaderValue::from_str(value).map_err(|_| {
            self.t
                .invalid("the API credential is not a valid header".into())
        })?;
        header.set_sensitive(true);
        self.authorization = Some(header);
        Ok(self)
    }

    pub fn set_authorization(&mut self, header: HeaderValue) {
        self.authorization = Some(header);
    }

    fn call<'a>(&self, method: Method, url: url::Url, path: &'a str) -> Call<'a> {
        let call = Call::new(method, url, path, "");
        match &self.authorization {
            Some(value) => call.header(AUTHORIZATION, value.clone()),
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
                let body = self
                    .t
                    .read_json("GET", &shown, response, PAGE_BYTES, "API answer")
                    .await?;
                Ok(Some(Page { body, next }))
            })
            .await
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
