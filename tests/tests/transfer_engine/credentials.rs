//! Credentials stay home: a registry that hands back a token realm, an upload `Location` or a
//! referrers `Link` on another origin gets them followed (or refused) without the registry's
//! credential ever reaching that origin; one that points at the metadata service is refused
//! without a connection.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use bytes::Bytes;

use super::*;
use ferry::ports::registry::Uploads;

/// Requests a recorder saw: method, path and query, `Authorization`.
type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

/// An HTTP server on another port that records what reaches it, answering 202 to everything
/// (and a token to a token request): where a leaked credential would land.
struct Recorder {
    port: u16,
    seen: Seen,
}

impl Recorder {
    async fn start() -> Self {
        let seen = Seen::default();
        let app = axum::Router::new()
            .fallback(
                |State(seen): State<Seen>,
                 method: Method,
                 uri: Uri,
                 headers: HeaderMap| async move {
                    let authorization = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    if let Ok(mut seen) = seen.lock() {
                        seen.push((method.to_string(), uri.to_string(), authorization));
                    }
                    (
                        axum::http::StatusCode::ACCEPTED,
                        [("content-type", "application/json")],
                        r#"{"token":"recorded","manifests":[]}"#,
                    )
                },
            )
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { port, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn seen(&self) -> Vec<(String, String, Option<String>)> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

const CREDENTIALS: Option<(&str, &str)> = Some(("user", "s3cret"));

#[tokio::test(flavor = "multi_thread")]
async fn a_token_realm_on_another_plain_http_origin_gets_no_credential() {
    let registry = TestRegistry::start();
    let recorder = Recorder::start().await;
    let challenge = format!(
        r#"Bearer realm="{}",service="registry""#,
        recorder.url("/token")
    );
    let proxy = FaultProxy::start(
        &registry.url(),
        vec![fault(
            "GET",
            "/v2/",
            Action::Answer(401, vec![("www-authenticate", challenge)], Bytes::new()),
            usize::MAX,
        )],
    )
    .await;
    let refused = client(&proxy.url(), CREDENTIALS)
        .check()
        .await
        .expect_err("refused")
        .to_string();
    assert!(refused.contains(&recorder.url("/token")), "{refused}");
    assert!(recorder.seen().is_empty(), "{:?}", recorder.seen());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_location_and_a_link_elsewhere_are_followed_without_the_credential() {
    let registry = TestRegistry::start();
    let recorder = Recorder::start().await;
    let digest = Digest::parse(&digest_of(b"a subject")).expect("digest");
    let proxy = FaultProxy::start(
        &registry.url(),
        vec![
            fault(
                "POST",
                "/v2/app/blobs/uploads/",
                Action::Answer(
                    202,
                    vec![("location", recorder.url("/upload/1?_state=x"))],
                    Bytes::new(),
                ),
                usize::MAX,
            ),
            fault(
                "GET",
                "/v2/app/referrers/",
                Action::Answer(
                    200,
                    vec![
                        (
                            "content-type",
                            "application/vnd.oci.image.index.v1+json".into(),
                        ),
                        (
                            "link",
                            format!("<{}>; rel=\"next\"", recorder.url("/v2/app/referrers/next")),
                        ),
                    ],
                    Bytes::from_static(
                        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
                    ),
                ),
                usize::MAX,
            ),
            fault(
                "POST",
                "/v2/meta/blobs/uploads/",
                Action::Answer(
                    202,
                    vec![(
                        "location",
                        "http://169.254.169.254/latest/meta-data/".into(),
                    )],
                    Bytes::new(),
                ),
                usize::MAX,
            ),
        ],
    )
    .await;
    let dst = client(&proxy.url(), CREDENTIALS);
    let app = Repository::parse("app").expect("name");
    let mut session = dst.start_upload(&app).await.expect("session");
    let _ = dst
        .upload_chunk(&mut session, 0, Bytes::from_static(b"some bytes"))
        .await;
    let _ = dst.list_referrers(&app, &digest).await;
    let seen = recorder.seen();
    assert!(
        seen.iter()
            .any(|(_, path, _)| path.starts_with("/upload/1")),
        "the upload went to the Location: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(_, path, _)| path.contains("referrers/next")),
        "the Link was followed: {seen:?}"
    );
    assert!(
        seen.iter()
            .all(|(_, _, authorization)| authorization.is_none()),
        "a credential left the registry's origin: {seen:?}"
    );
    assert!(
        proxy
            .hits()
            .iter()
            .any(|hit| hit.contains("/v2/app/blobs/uploads/")),
        "the registry itself was asked"
    );

    let meta = Repository::parse("meta").expect("name");
    let refused = dst.start_upload(&meta).await;
    let refused = match refused {
        Ok(mut session) => dst
            .upload_chunk(&mut session, 0, Bytes::from_static(b"x"))
            .await
            .expect_err("refused")
            .to_string(),
        Err(e) => e.to_string(),
    };
    assert!(refused.contains("169.254.169.254"), "{refused}");
}
