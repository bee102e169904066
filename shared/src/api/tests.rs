//! The API's access rules on in-memory fakes: who may call which route, the throttle, and
//! authentication before the path is read. The integration tests run them through the gateway.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode};

use super::access::hash_secret;
use super::{AdminPassword, Api, ClientAddress};
use crate::model::login::LoginThrottle;
use crate::model::robot::{Access, Robot, RobotPermission};
use crate::ports::access::RobotStore;
use crate::ports::fakes::{
    FakeRegistries, MemoryAccess, MemoryLogs, MemoryQueue, MemorySchedules, MemoryStore,
};
use crate::replication::registries::CheckLimit;

/// An API over in-memory fakes, with `access`'s robots (the console's tests use it too).
pub(super) fn api_with(access: Arc<MemoryAccess>) -> Api {
    Api {
        admin: AdminPassword::new(Some("admin-password".into())),
        robots: access.clone(),
        logins: access,
        throttle: LoginThrottle {
            window_secs: 300,
            per_user: 3,
            per_address: 5,
        },
        store: Arc::new(MemoryStore::default()),
        queue: Arc::new(MemoryQueue::default()),
        logs: Arc::new(MemoryLogs::default()),
        connect: Arc::new(FakeRegistries::default()),
        schedules: Arc::new(MemorySchedules::default()),
        home_registry: None,
        check_limit: CheckLimit::default(),
        webhooks: Arc::new(crate::ports::fakes::MemoryWebhooks::default()),
        addresses: crate::model::addresses::AddressPolicy::default(),
        types: Arc::default(),
        pull: Default::default(),
    }
}

async fn call(api: &Api, method: Method, path: &str, user: &str, password: &str) -> StatusCode {
    use base64::Engine;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut request = Request::builder()
        .method(method)
        .uri(format!("/api/v2.0{path}"))
        .header("authorization", format!("Basic {credentials}"))
        .body(Bytes::from_static(b"{}"))
        .expect("request");
    request
        .extensions_mut()
        .insert(ClientAddress("203.0.113.9".parse().expect("ip")));
    api.handle(request).await.status()
}

async fn robot(access: &MemoryAccess, name: &str, grants: &[(&str, &str)]) {
    let robot = Robot {
        name: name.into(),
        permissions: vec![RobotPermission {
            kind: "system".into(),
            namespace: "/".into(),
            access: grants
                .iter()
                .map(|(resource, action)| Access {
                    resource: (*resource).into(),
                    action: (*action).into(),
                    effect: "allow".into(),
                })
                .collect(),
        }],
        ..Robot::default()
    };
    access
        .create_robot(&robot, &hash_secret("Robot-secret-1").expect("hash"))
        .await
        .expect("robot");
}

#[tokio::test]
async fn a_robot_may_call_the_routes_its_permissions_name_and_no_other() {
    let access = Arc::new(MemoryAccess::default());
    robot(&access, "reader", &[("replication-policy", "list")]).await;
    let api = api_with(access);
    let as_robot = |method, path| call(&api, method, path, "robot$reader", "Robot-secret-1");
    assert_eq!(
        as_robot(Method::GET, "/replication/policies").await,
        StatusCode::OK
    );
    assert_eq!(
        as_robot(Method::POST, "/replication/policies").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        as_robot(Method::GET, "/registries").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        as_robot(Method::GET, "/robots").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            &api,
            Method::GET,
            "/replication/policies",
            "robot$reader",
            "wrong"
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&api, Method::GET, "/robots", "admin", "admin-password").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn failed_logins_lock_the_user_until_the_window_ends_and_bad_ids_wait_for_auth() {
    let api = api_with(Arc::default());
    for _ in 0..3 {
        assert_eq!(
            call(&api, Method::GET, "/registries", "admin", "guess").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        call(&api, Method::GET, "/registries", "admin", "admin-password").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Two more names from the same address reach the address's limit of five.
    for user in ["root", "robot$x"] {
        assert_eq!(
            call(&api, Method::GET, "/registries", user, "guess").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        call(&api, Method::GET, "/registries", "someone", "guess").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let fresh = api_with(Arc::default());
    assert_eq!(
        call(&fresh, Method::DELETE, "/registries/0", "admin", "guess").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(
            &fresh,
            Method::DELETE,
            "/registries/0",
            "admin",
            "admin-password"
        )
        .await,
        StatusCode::BAD_REQUEST
    );
}

/// The admin's POST of `body`; the status and the answer.
async fn post_as_admin(api: &Api, path: &str, body: serde_json::Value) -> (StatusCode, String) {
    use base64::Engine;
    let credentials = base64::engine::general_purpose::STANDARD.encode("admin:admin-password");
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v2.0{path}"))
        .header("authorization", format!("Basic {credentials}"))
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .expect("request");
    let response = api.handle(request).await;
    let status = response.status();
    (
        status,
        String::from_utf8_lossy(response.body()).into_owned(),
    )
}

#[tokio::test]
async fn a_resource_filter_may_name_built_in_and_registered_types_only() {
    let mut api = api_with(Arc::new(MemoryAccess::default()));
    api.types = Arc::new(
        crate::model::artifact_types::ArtifactTypes::from_yaml(
            "processors:\n  - type: model\n    config_media_types: [application/x.model+json]\n",
            &|_| None,
        )
        .expect("types"),
    );
    for (name, url) in [
        ("source", "https://source.test"),
        ("destination", "https://destination.test"),
    ] {
        api.store
            .create_registry(&crate::model::Registry {
                name: name.into(),
                kind: Some(crate::model::RegistryType::DockerRegistry),
                url: url.into(),
                ..Default::default()
            })
            .await
            .expect("registry");
    }
    let policy = |name: &str, kind: &str| {
        serde_json::json!({
            "name": name, "src_registry": {"id": 1}, "dest_registry": {"id": 2},
            "filters": [{"type": "name", "value": "team/**"}, {"type": "resource", "value": kind}],
        })
    };
    let (status, answer) =
        post_as_admin(&api, "/replication/policies", policy("typo", "helm")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer.contains("filters[1].value"), "{answer}");
    assert!(
        answer.contains("model"),
        "the known types are listed: {answer}"
    );
    for (name, kind) in [
        ("models", "model"),
        ("bundles", "cnab"),
        ("charts", "CHART"),
    ] {
        let (status, answer) =
            post_as_admin(&api, "/replication/policies", policy(name, kind)).await;
        assert_eq!(status, StatusCode::CREATED, "{kind}: {answer}");
    }
}
