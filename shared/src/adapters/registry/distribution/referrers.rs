//! `/v2/<name>/referrers/<digest>`: the OCI 1.1 Referrers API, paged by `Link`.

use async_trait::async_trait;
use reqwest::header::{ACCEPT, LINK};
use reqwest::{Method, StatusCode};

use super::{pull, HttpRegistryClient};
use crate::adapters::registry::transport::Call;
use crate::oci::media::OCI_INDEX;
use crate::oci::{Digest, Referrer, ReferrerList, Repository};
use crate::ports::registry::{Referrers, RegistryError};

/// Pages followed before a registry whose `Link`s go on is cut off.
const MAX_PAGES: usize = 100;
/// The largest page body read.
const PAGE_BYTES: usize = 4 * 1024 * 1024;

#[async_trait]
impl Referrers for HttpRegistryClient {
    async fn list_referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<Option<Vec<Referrer>>, RegistryError> {
        let path = format!("/v2/{repository}/referrers/{digest}");
        let scope = pull(repository);
        let mut url = self.t.url(&path)?;
        let mut referrers = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            if !seen.insert(url.to_string()) {
                return Err(self
                    .t
                    .invalid(format!("{path}: the referrers' Link leads back to {url}")));
            }
            let call = Call::new(Method::GET, url, &path, &scope).header(ACCEPT, OCI_INDEX);
            let page = self
                .t
                .send(&call, |response| async {
                    // A registry with the API answers 200 even for an unknown digest; 404 (or
                    // 400, 405 from older servers) means there is no API.
                    match response.status() {
                        StatusCode::NOT_FOUND
                        | StatusCode::BAD_REQUEST
                        | StatusCode::METHOD_NOT_ALLOWED => return Ok(None),
                        s if !s.is_success() => {
                            return Err(self.t.unexpected("GET", &path, response).await)
                        }
                        _ => {}
                    }
                    let next = response
                        .headers()
                        .get(LINK)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_link_header::parse_with_rel(v).ok())
                        .and_then(|links| links.get("next").map(|l| l.raw_uri.clone()));
                    let page: ReferrerList = self
                        .t
                        .read_json("GET", &path, response, PAGE_BYTES, "referrers page")
                        .await?;
                    Ok(Some((page.manifests, next)))
                })
                .await?;
            let Some((page, next)) = page else {
                return Ok(None);
            };
            referrers.extend(page);
            match next {
                // Relative to the registry, or absolute (joining keeps an absolute URL).
                Some(next) => url = self.t.url(&next)?,
                None => return Ok(Some(referrers)),
            }
        }
        Err(self
            .t
            .invalid(format!("{path}: over {MAX_PAGES} pages of referrers")))
    }
}
