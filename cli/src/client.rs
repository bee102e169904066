//! Ferry's HTTP API as the command line uses it: Harbor's v2.0 routes with HTTP Basic, JSON
//! bodies, lists read page by page, errors carrying the API's own message.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Harbor's largest page.
const PAGE_SIZE: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{method} {path}: {source}")]
    Unreachable {
        method: Method,
        path: String,
        source: reqwest::Error,
    },
    #[error("{method} {path} answered {status}: {message}")]
    Refused {
        method: Method,
        path: String,
        status: StatusCode,
        message: String,
    },
    #[error("{method} {path}: the answer is not JSON: {reason}")]
    NotJson {
        method: Method,
        path: String,
        reason: String,
    },
    #[error("{path}: created, but the answer names no id in Location")]
    NoId { path: String },
}

pub struct Api {
    /// `https://host/api/v2.0`, without a trailing slash.
    base: String,
    user: String,
    password: String,
    http: reqwest::Client,
}

/// An answer read whole (its status was a success).
pub struct Answer {
    pub location: Option<String>,
    pub body: String,
}

impl Api {
    /// `endpoint` is the deployment's URL, with or without `/api/v2.0`.
    pub fn new(endpoint: &str, user: &str, password: &str) -> Result<Self, String> {
        let endpoint = endpoint.trim_end_matches('/');
        let parsed = url::Url::parse(endpoint).map_err(|e| format!("url {endpoint:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("url {endpoint:?}: must be http or https"));
        }
        let base = if endpoint.ends_with("/api/v2.0") {
            endpoint.to_string()
        } else {
            format!("{endpoint}/api/v2.0")
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("ferry-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Self {
            base,
            user: user.to_string(),
            password: password.to_string(),
            http,
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ApiError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password));
        if let Some(body) = body {
            request = request.json(body);
        }
        let unreachable = |source| ApiError::Unreachable {
            method: method.clone(),
            path: path.to_string(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.text().await.map_err(unreachable)?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| body.chars().take(300).collect());
            return Err(ApiError::Refused {
                method,
                path: path.to_string(),
                status,
                message,
            });
        }
        Ok(Answer { location, body })
    }

    fn json(method: Method, path: &str, answer: &Answer) -> Result<Value, ApiError> {
        serde_json::from_str(&answer.body).map_err(|e| ApiError::NotJson {
            method,
            path: path.to_string(),
            reason: e.to_string(),
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        let answer = self.send(Method::GET, path, None).await?;
        Self::json(Method::GET, path, &answer)
    }

    /// The text of a route that answers text (a task's log).
    pub async fn get_text(&self, path: &str) -> Result<String, ApiError> {
        Ok(self.send(Method::GET, path, None).await?.body)
    }

    /// Every item of a list route, page by page.
    pub async fn list(&self, path: &str) -> Result<Vec<Value>, ApiError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut all = Vec::new();
        for page in 1.. {
            let paged = format!("{path}{separator}page={page}&page_size={PAGE_SIZE}");
            let items = match self.get(&paged).await? {
                Value::Array(items) => items,
                _ => Vec::new(),
            };
            let full = items.len() == PAGE_SIZE;
            all.extend(items);
            if !full {
                break;
            }
        }
        Ok(all)
    }

    /// Creates with POST; the new id, from `Location`.
    pub async fn create(&self, path: &str, body: &Value) -> Result<i64, ApiError> {
        let answer = self.send(Method::POST, path, Some(body)).await?;
        answer
            .location
            .as_deref()
            .and_then(|l| l.rsplit('/').next())
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| ApiError::NoId {
                path: path.to_string(),
            })
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<(), ApiError> {
        self.send(Method::PUT, path, Some(body)).await.map(|_| ())
    }
}
