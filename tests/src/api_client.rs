//! A small client for Ferry's API as Harbor's clients use it: HTTP Basic as admin, JSON bodies.

use reqwest::{Method, Response};
use serde_json::Value;

pub struct ApiClient {
    pub base: String,
    http: reqwest::Client,
    user: String,
    password: String,
}

/// A response read whole: status, headers, body as JSON when it is JSON.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    }

    /// The error message of a Harbor error body.
    pub fn error(&self) -> String {
        let body = self.json();
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The id at the end of `Location`.
    pub fn created_id(&self) -> i64 {
        assert_eq!(self.status, 201, "expected 201: {}", self.text);
        let location = self.header("location");
        location
            .rsplit('/')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no id in {location:?}"))
    }
}

impl ApiClient {
    pub fn new(base: &str, password: &str) -> Self {
        Self::as_user(base, "admin", password)
    }

    /// A client that logs in as `user` (a robot: `robot$name`).
    pub fn as_user(base: &str, user: &str, password: &str) -> Self {
        Self {
            base: base.to_string(),
            http: reqwest::Client::new(),
            user: user.to_string(),
            password: password.to_string(),
        }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<&str>) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        read(request.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::POST, path, Some(&body.to_string())).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::PUT, path, Some(&body.to_string())).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::PATCH, path, Some(&body.to_string()))
            .await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None).await
    }
}

pub async fn read(response: Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    Answer {
        status,
        headers,
        text,
    }
}
