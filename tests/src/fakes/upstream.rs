//! What the distribution registry behind a fake holds, read through its own API: the fakes'
//! provider APIs answer from it, so that a test only pushes to the registry.

use serde_json::Value;

const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// Every repository (`/v2/_catalog`).
pub async fn catalog(http: &reqwest::Client, upstream: &str) -> Result<Vec<String>, String> {
    list(http, &format!("{upstream}/v2/_catalog"), "repositories").await
}

/// Every tag of `repository` (`/v2/<name>/tags/list`); none when it is unknown.
pub async fn tags(
    http: &reqwest::Client,
    upstream: &str,
    repository: &str,
) -> Result<Vec<String>, String> {
    list(
        http,
        &format!("{upstream}/v2/{repository}/tags/list"),
        "tags",
    )
    .await
}

/// A whole list, `n` at a time from `last`.
async fn list(http: &reqwest::Client, url: &str, key: &str) -> Result<Vec<String>, String> {
    let mut all: Vec<String> = Vec::new();
    loop {
        let mut query = vec![("n", "1000".to_string())];
        if let Some(last) = all.last() {
            query.push(("last", last.clone()));
        }
        let answer = http
            .get(url)
            .query(&query)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if answer.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(all);
        }
        let body: Value = answer.json().await.map_err(|e| e.to_string())?;
        let names: Vec<String> = body[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let more = names.len() == 1000;
        all.extend(names);
        if !more {
            return Ok(all);
        }
    }
}

/// The digest of the manifest `reference` names in `repository`.
pub async fn digest(
    http: &reqwest::Client,
    upstream: &str,
    repository: &str,
    reference: &str,
) -> Result<String, String> {
    let answer = http
        .head(format!("{upstream}/v2/{repository}/manifests/{reference}"))
        .header("accept", MANIFEST_TYPES)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    answer
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .ok_or_else(|| format!("no digest for {repository}:{reference}"))
}
