//! The pull endpoint over HTTP on the fakes: distribution's headers and error codes, who may
//! pull (anonymous only where public, the destination's own login, Ferry's admin and robots),
//! blobs redirected or streamed, and the Harbor routes left as they were.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};

use super::access::hash_secret;
use super::pull_state::PullState;
use super::{AdminPassword, Api};
use crate::model::login::LoginThrottle;
use crate::model::robot::{Access, Robot, RobotPermission};
use crate::model::{Credential, CredentialType, Registry, RegistryType, ReplicationPolicy};
use crate::oci::Digest;
use crate::ports::access::RobotStore;
use crate::ports::fakes::{
    FakeRegistries, MemoryAccess, MemoryLogs, MemoryQueue, MemoryRegistry, MemorySchedules,
    MemoryStore,
};
use crate::ports::store::{ExecutionStore, PolicyStore, RegistryStore};
use crate::replication::pull::PullSettings;
use crate::replication::registries::CheckLimit;

struct Fixture {
    api: Api,
    store: Arc<MemoryStore>,
    source: MemoryRegistry,
    destination: MemoryRegistry,
}

async fn fixture(auto_sync: serde_json::Value) -> Fixture {
    let store = Arc::new(MemoryStore::default());
    let registries = Arc::new(FakeRegistries::default());
    let access = Arc::new(MemoryAccess::default());
    let source = MemoryRegistry::new("source.test");
    let destination = MemoryRegistry::new("destination.test");
    for (name, registry) in [("source", &source), ("destination", &destination)] {
        let stored = store
            .create_registry(&Registry {
                name: name.into(),
                kind: Some(RegistryType::DockerRegistry),
                url: format!("https://{name}.test"),
                credential: Some(Credential {
                    kind: CredentialType::Basic,
                    access_key: "ferry".into(),
                    access_secret: Some("ferry-secret".into()),
                }),
                ..Registry::default()
            })
            .await
            .expect("registry");
        registries.add(stored.id, registry.clone());
    }
    let policy: ReplicationPolicy = serde_json::from_value(serde_json::json!({
        "name": "mirror",
        "src_registry": {"id": 1},
        "dest_registry": {"id": 2},
        "dest_namespace": "mirror",
        "dest_namespace_replace_count": 0,
        "filters": [{"type": "name", "value": "team/**"}],
        "auto_sync": auto_sync,
    }))
    .expect("policy");
    policy.validate().expect("valid");
    store.create_policy(&policy).await.expect("stored");
    let robot = Robot {
        name: "puller".into(),
        permissions: vec![RobotPermission {
            kind: "system".into(),
            namespace: "/".into(),
            access: vec![Access {
                resource: "registry".into(),
                action: "read".into(),
                effect: "allow".into(),
            }],
        }],
        ..Robot::default()
    };
    access
        .create_robot(&robot, &hash_secret("Robot-secret-1").expect("hash"))
        .await
        .expect("robot");
    let api = Api {
        admin: AdminPassword::new(Some("admin-password".into())),
        robots: access.clone(),
        logins: access,
        throttle: LoginThrottle::default(),
        store: store.clone(),
        queue: Arc::new(MemoryQueue::default()),
        logs: Arc::new(MemoryLogs::default()),
        connect: registries,
        schedules: Arc::new(MemorySchedules::default()),
        home_registry: None,
        check_limit: CheckLimit::default(),
        webhooks: Arc::new(crate::ports::fakes::MemoryWebhooks::default()),
        addresses: crate::model::addresses::AddressPolicy::default(),
        types: Arc::default(),
        pull: PullState::new(PullSettings {
            wait: std::time::Duration::from_millis(50),
            first_poll: std::time::Duration::from_millis(5),
            ..PullSettings::default()
        }),
    };
    Fixture {
        api,
        store,
        source,
        destination,
    }
}

async fn get(
    api: &Api,
    method: Method,
    path: &str,
    login: Option<(&str, &str)>,
) -> Response<Bytes> {
    let mut request = Request::builder().method(method).uri(path);
    if let Some((user, password)) = login {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request = request.header("authorization", format!("Basic {encoded}"));
    }
    api.handle(request.body(Bytes::new()).expect("request"))
        .await
}

fn header<'a>(response: &'a Response<Bytes>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn code(response: &Response<Bytes>) -> String {
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap_or_default();
    body["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

const ADMIN: Option<(&str, &str)> = Some(("admin", "admin-password"));

#[tokio::test]
async fn anonymous_pulls_are_challenged_unless_the_namespace_is_public() {
    let private = fixture(serde_json::json!({"enabled": true})).await;
    private
        .destination
        .push_image("mirror/team/app", "v1", &[b"x"]);
    for path in ["/v2/", "/v2/mirror/team/app/manifests/v1"] {
        let refused = get(&private.api, Method::GET, path, None).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(header(&refused, "www-authenticate").starts_with("Basic realm="));
        assert_eq!(
            header(&refused, "docker-distribution-api-version"),
            "registry/2.0"
        );
        assert_eq!(code(&refused), "UNAUTHORIZED");
    }
    private
        .destination
        .accept_login("ferry", "ferry-secret", None);
    private
        .destination
        .accept_login("dev", "dev-password", None);
    let wrong = get(
        &private.api,
        Method::GET,
        "/v2/mirror/team/app/manifests/v1",
        Some(("admin", "nope")),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let public = fixture(serde_json::json!({"enabled": true, "public": true})).await;
    let digest = public
        .destination
        .push_image("mirror/team/app", "v1", &[b"x"]);
    let served = get(
        &public.api,
        Method::GET,
        "/v2/mirror/team/app/manifests/v1",
        None,
    )
    .await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(header(&served, "docker-content-digest"), digest.as_str());
    assert_eq!(
        header(&served, "content-type"),
        crate::oci::media::OCI_MANIFEST
    );
    assert_eq!(Digest::sha256(served.body()), digest, "the bytes as held");
    // Anonymous still knows nothing of names no policy owns.
    let unowned = get(&public.api, Method::GET, "/v2/other/app/manifests/v1", None).await;
    assert_eq!(unowned.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_destinations_own_login_ferrys_admin_and_robots_may_pull() {
    let f = fixture(serde_json::json!({"enabled": true})).await;
    let digest = f.destination.push_image("mirror/team/app", "v1", &[b"x"]);
    f.destination.accept_login("ferry", "ferry-secret", None);
    f.destination.accept_login("dev", "dev-password", None);
    // A user of another namespace at the destination reads through Ferry no more than there.
    f.destination
        .accept_login("other", "other-password", Some("elsewhere"));
    let path = "/v2/mirror/team/app/manifests/v1";
    let other = get(&f.api, Method::GET, path, Some(("other", "other-password"))).await;
    assert_eq!(other.status(), StatusCode::FORBIDDEN, "{:?}", other.body());
    assert_eq!(code(&other), "DENIED");
    let blob = format!("/v2/mirror/team/app/blobs/{}", Digest::sha256(b"x"));
    let other_blob = get(
        &f.api,
        Method::GET,
        &blob,
        Some(("other", "other-password")),
    )
    .await;
    assert_eq!(other_blob.status(), StatusCode::FORBIDDEN);
    let dev_blob = get(&f.api, Method::GET, &blob, Some(("dev", "dev-password"))).await;
    assert_eq!(dev_blob.status(), StatusCode::OK);
    assert_eq!(dev_blob.body().as_ref(), b"x");
    for login in [
        ADMIN,
        Some(("robot$puller", "Robot-secret-1")),
        Some(("dev", "dev-password")),
    ] {
        let served = get(&f.api, Method::GET, path, login).await;
        assert_eq!(
            served.status(),
            StatusCode::OK,
            "{login:?}: {:?}",
            served.body()
        );
        assert_eq!(header(&served, "docker-content-digest"), digest.as_str());
    }
    let refused = get(&f.api, Method::GET, path, Some(("dev", "wrong"))).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let base = get(&f.api, Method::GET, "/v2/", Some(("dev", "dev-password"))).await;
    assert_eq!(base.status(), StatusCode::OK);
    assert_eq!(base.body().as_ref(), b"{}");
    // HEAD: the headers, no body.
    let head = get(&f.api, Method::HEAD, path, ADMIN).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.body().is_empty());
    let length: usize = header(&head, "content-length").parse().expect("length");
    assert!(length > 0);
    // Harbor's routes are untouched.
    let ping = get(&f.api, Method::GET, "/api/v2.0/ping", None).await;
    assert_eq!(ping.status(), StatusCode::OK);
}

#[tokio::test]
async fn names_filters_and_pushes_answer_distributions_errors() {
    let f = fixture(serde_json::json!({"enabled": true})).await;
    let unowned = get(
        &f.api,
        Method::GET,
        "/v2/mirror/other/app/manifests/v1",
        ADMIN,
    )
    .await;
    assert_eq!(unowned.status(), StatusCode::NOT_FOUND);
    assert_eq!(code(&unowned), "NAME_UNKNOWN");
    let absent = get(
        &f.api,
        Method::GET,
        "/v2/mirror/team/app/manifests/v1",
        ADMIN,
    )
    .await;
    assert_eq!(absent.status(), StatusCode::NOT_FOUND);
    assert_eq!(code(&absent), "MANIFEST_UNKNOWN");
    let invalid = get(&f.api, Method::GET, "/v2/Mirror/App/manifests/v1", ADMIN).await;
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(&invalid), "NAME_INVALID");
    let bad_digest = get(
        &f.api,
        Method::GET,
        "/v2/mirror/team/app/blobs/sha256:nothex",
        ADMIN,
    )
    .await;
    assert_eq!(code(&bad_digest), "DIGEST_INVALID");
    let push = get(
        &f.api,
        Method::PUT,
        "/v2/mirror/team/app/manifests/v1",
        ADMIN,
    )
    .await;
    assert_eq!(push.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(code(&push), "UNSUPPORTED");
    assert!(f
        .store
        .list_executions(None, None, 10)
        .await
        .expect("list")
        .items
        .is_empty());
}

#[tokio::test]
async fn a_missing_manifest_not_arriving_in_time_is_503_with_retry_after() {
    let f = fixture(serde_json::json!({"enabled": true})).await;
    f.source.push_image("team/app", "v1", &[b"x"]);
    let slow = get(
        &f.api,
        Method::GET,
        "/v2/mirror/team/app/manifests/v1",
        ADMIN,
    )
    .await;
    assert_eq!(slow.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(!header(&slow, "retry-after").is_empty());
    let executions = f
        .store
        .list_executions(None, None, 10)
        .await
        .expect("list")
        .items;
    assert_eq!(
        executions.len(),
        1,
        "the replication was started and left running"
    );
}

#[tokio::test]
async fn blobs_redirect_where_the_destination_does_and_stream_otherwise() {
    let f = fixture(serde_json::json!({"enabled": true})).await;
    let layer = b"layer bytes".as_slice();
    f.destination.push_image("mirror/team/app", "v1", &[layer]);
    let digest = Digest::sha256(layer);
    let path = format!("/v2/mirror/team/app/blobs/{digest}");
    let streamed = get(&f.api, Method::GET, &path, ADMIN).await;
    assert_eq!(streamed.status(), StatusCode::OK);
    assert_eq!(streamed.body().as_ref(), layer);
    assert_eq!(header(&streamed, "docker-content-digest"), digest.as_str());
    assert_eq!(header(&streamed, "content-length"), layer.len().to_string());
    f.destination.redirect_blobs("https://bucket.storage.test");
    let redirected = get(&f.api, Method::GET, &path, ADMIN).await;
    assert_eq!(redirected.status(), StatusCode::TEMPORARY_REDIRECT);
    assert!(header(&redirected, "location").starts_with("https://bucket.storage.test/"));
    assert!(redirected.body().is_empty(), "no bytes through Ferry");
    let unknown = get(
        &f.api,
        Method::GET,
        &format!("/v2/mirror/team/app/blobs/{}", Digest::sha256(b"no")),
        ADMIN,
    )
    .await;
    assert_eq!(code(&unknown), "BLOB_UNKNOWN");
    // Blobs only for names a policy owns.
    let unowned = get(
        &f.api,
        Method::GET,
        &format!("/v2/elsewhere/app/blobs/{digest}"),
        ADMIN,
    )
    .await;
    assert_eq!(code(&unowned), "NAME_UNKNOWN");
}
