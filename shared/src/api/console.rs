//! The web console: one static page with its style sheet and script, served at `/` without
//! authentication. The page calls the API under [`super::BASE_PATH`] with the caller's own
//! credentials (HTTP Basic), as any client does; no data is in the page itself.

use bytes::Bytes;
use http::{header, HeaderValue, Method, Response, StatusCode};

const INDEX_HTML: &str = include_str!("console/index.html");
const CONSOLE_CSS: &str = include_str!("console/console.css");
const CONSOLE_JS: &str = include_str!("console/console.js");

/// Scripts, styles and calls from this origin only: no inline script or style attribute, no
/// plugin, no framing. `img-src data:` is for the empty favicon the page declares.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The console's files by path, with their content types.
fn file(path: &str) -> Option<(&'static str, &'static str)> {
    Some(match path {
        "/" | "/index.html" => (INDEX_HTML, "text/html; charset=utf-8"),
        "/console/console.css" => (CONSOLE_CSS, "text/css; charset=utf-8"),
        "/console/console.js" => (CONSOLE_JS, "text/javascript; charset=utf-8"),
        _ => return None,
    })
}

/// The console's answer to a GET (or HEAD) of one of its paths; None for anything else, which
/// the API's router answers as before.
pub(super) fn asset(method: &Method, path: &str) -> Option<Response<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let (body, content_type) = file(path)?;
    let mut response = Response::new(Bytes::from_static(body.as_bytes()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Some(response)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use http::{Method, Request, StatusCode};

    use super::super::{Api, ClientAddress};
    use super::CONTENT_SECURITY_POLICY;

    fn api() -> Api {
        crate::api::tests::api_with(Arc::default())
    }

    /// A request without credentials.
    async fn anonymous(api: &Api, method: Method, path: &str) -> http::Response<Bytes> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .body(Bytes::new())
            .expect("request");
        request
            .extensions_mut()
            .insert(ClientAddress("203.0.113.9".parse().expect("ip")));
        api.handle(request).await
    }

    fn header<'a>(response: &'a http::Response<Bytes>, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[tokio::test]
    async fn console_files_are_served_without_auth_with_their_types_and_policy() {
        let api = api();
        for (path, content_type, marker) in [
            ("/", "text/html; charset=utf-8", "<!doctype html>"),
            ("/index.html", "text/html; charset=utf-8", "<!doctype html>"),
            ("/console/console.css", "text/css; charset=utf-8", "body"),
            (
                "/console/console.js",
                "text/javascript; charset=utf-8",
                "use strict",
            ),
        ] {
            let response = anonymous(&api, Method::GET, path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&response, "content-type"), content_type, "{path}");
            assert_eq!(header(&response, "cache-control"), "no-cache", "{path}");
            assert_eq!(
                header(&response, "content-security-policy"),
                CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert_eq!(header(&response, "x-content-type-options"), "nosniff");
            assert!(!header(&response, "x-request-id").is_empty(), "{path}");
            let body = std::str::from_utf8(response.body()).expect("utf-8");
            assert!(body.contains(marker), "{path}: {marker} not in the body");
        }
        // HEAD answers the same headers without the body.
        let head = anonymous(&api, Method::HEAD, "/").await;
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(header(&head, "content-type"), "text/html; charset=utf-8");
        assert!(head.body().is_empty());
    }

    #[test]
    fn console_policy_is_strict() {
        assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'self';"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-eval"));
        // The page keeps to it: no inline script, handler or style attribute, no innerHTML.
        let html = super::INDEX_HTML;
        assert!(!html.contains("<script>"), "inline script in index.html");
        assert!(!html.contains(" onclick="), "inline handler in index.html");
        assert!(!html.contains(" style="), "inline style in index.html");
        assert!(html.contains(r#"<script src="console/console.js" defer></script>"#));
        assert!(!super::CONSOLE_JS.contains("innerHTML"));
        assert!(!super::CONSOLE_JS.contains("eval("));
    }

    #[tokio::test]
    async fn console_leaves_other_paths_to_the_router() {
        let api = api();
        // The data still needs a caller.
        let registries = anonymous(&api, Method::GET, "/api/v2.0/registries").await;
        assert_eq!(registries.status(), StatusCode::UNAUTHORIZED);
        // Only GET and HEAD of the console's exact paths are the console's.
        for path in [
            "/console/",
            "/console/other.js",
            "/index.htm",
            "/console.js",
        ] {
            let response = anonymous(&api, Method::GET, path).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let post = anonymous(&api, Method::POST, "/").await;
        assert_eq!(post.status(), StatusCode::NOT_FOUND);
        assert_eq!(header(&post, "content-security-policy"), "");
        // The public routes are as they were.
        let ping = anonymous(&api, Method::GET, "/api/v2.0/ping").await;
        assert_eq!(ping.status(), StatusCode::OK);
    }
}
