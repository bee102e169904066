//! The API's trust boundaries: which registry URLs are stored, webhook tokens, robot accounts
//! and their permissions, failed-login throttling, and authentication before anything else.

use super::*;
use reqwest::Method;

fn registry_at(name: &str, url: &str) -> Value {
    json!({"name": name, "type": "docker-registry", "url": url})
}

async fn registry_count(api: &ApiClient) -> usize {
    api.get("/registries?page_size=100")
        .await
        .json()
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_urls_with_user_information_or_refused_addresses_are_not_stored() {
    let registry = TestRegistry::start();
    let (_stack, api) = start().await;
    let port = registry
        .url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let cases = [
        (
            format!("http://user:pass@127.0.0.1:{port}"),
            "user name or password",
        ),
        (
            format!("http://user@127.0.0.1:{port}"),
            "user name or password",
        ),
        ("http://169.254.169.254".to_string(), "link-local"),
        ("http://[fe80::1]:5000".to_string(), "link-local"),
        ("http://100.100.100.200".to_string(), "metadata"),
        ("http://[fd00:ec2::254]".to_string(), "metadata"),
        ("http://0.0.0.0:5000".to_string(), "not a host"),
    ];
    for (url, reason) in cases {
        let refused = api.post("/registries", &registry_at("bad", &url)).await;
        assert_eq!(refused.status, 400, "{url}: {}", refused.text);
        let message = refused.error();
        assert!(message.starts_with("url"), "{url}: {message}");
        assert!(message.contains(reason), "{url}: {message}");
        assert!(
            !message.contains("pass@"),
            "the secret is not echoed: {message}"
        );
    }
    assert_eq!(registry_count(&api).await, 0, "nothing was stored");
    // The same for a check and an update.
    let ping = api
        .post(
            "/registries/ping",
            &json!({"type": "docker-registry", "url": "http://169.254.169.254"}),
        )
        .await;
    assert_eq!(ping.status, 400, "{}", ping.text);
    let id = api
        .post("/registries", &registry_at("good", &registry.url()))
        .await
        .created_id();
    let moved = api
        .put(
            &format!("/registries/{id}"),
            &json!({"url": format!("http://u:p@127.0.0.1:{port}")}),
        )
        .await;
    assert_eq!(moved.status, 400, "{}", moved.text);
    let stored = api.get(&format!("/registries/{id}")).await.json();
    assert_eq!(stored["url"], registry.url());
    // Harbor's schema has an object here, not null.
    assert_eq!(stored["credential"]["access_key"], "");
    assert!(stored["credential"].is_object(), "{stored}");
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_registries_need_the_deployment_setting_and_failed_logins_are_throttled() {
    let registry = TestRegistry::start();
    let stack = LocalStack::start(
        "strict",
        LocalStackOptions {
            parameters: &[("AllowPrivateRegistryAddresses", "false")],
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let refused = api
        .post("/registries", &registry_at("local", &registry.url()))
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.error().contains("FERRY_ALLOW_PRIVATE_ADDRESSES"),
        "{}",
        refused.error()
    );
    // A name is checked once resolved, when the connection is made: DNS cannot take a name
    // around the rule.
    let by_name = registry.url().replace("127.0.0.1", "localhost");
    let refused = api
        .post("/registries", &registry_at("named", &by_name))
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.error().contains("resolves to"),
        "{}",
        refused.error()
    );
    assert_eq!(registry_count(&api).await, 0);

    // Ten wrong passwords for admin: then even the right one waits, with Retry-After.
    let wrong = ApiClient::new(&stack.api, "not the password");
    for _ in 0..10 {
        assert_eq!(wrong.get("/registries").await.status, 401);
    }
    let throttled = api.get("/registries").await;
    assert_eq!(throttled.status, 429, "{}", throttled.text);
    let retry_after: u64 = throttled
        .header("retry-after")
        .parse()
        .expect("Retry-After");
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    // Another user from the same address is not locked out by admin's failures.
    let other = ApiClient::as_user(&stack.api, "robot$nobody", "guess");
    assert_eq!(other.get("/registries").await.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_tokens_are_random_shown_once_rotated_and_bodies_are_bounded() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let (stack, api) = start().await;
    let src = api
        .post("/registries", &registry_at("src", &source.url()))
        .await
        .created_id();
    let dst = api
        .post("/registries", &registry_at("dst", &destination.url()))
        .await
        .created_id();
    let unissued = api.get(&format!("/registries/{src}/webhook")).await.json();
    assert_eq!(unissued["token_issued"], false);
    assert!(unissued.get("authorization").is_none());

    let issued = api
        .post(&format!("/registries/{src}/webhook"), &json!({}))
        .await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    let issued = issued.json();
    let token = issued["authorization"].as_str().expect("token").to_string();
    let secret = token.trim_start_matches("Bearer ");
    assert!(
        secret.len() >= 64 && secret.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );
    let shown = api.get(&format!("/registries/{src}/webhook")).await;
    assert_eq!(shown.json()["token_issued"], true);
    assert!(
        !shown.text.contains(secret),
        "the token is shown only when issued"
    );

    let origin = stack
        .api
        .split("/api/v2.0")
        .next()
        .expect("origin")
        .to_string();
    let hook = format!("{origin}{}", issued["url"].as_str().expect("url"));
    let http = reqwest::Client::new();
    let post = |authorization: String, body: String| {
        let http = http.clone();
        let hook = hook.clone();
        async move {
            read(
                http.post(&hook)
                    .header("authorization", authorization)
                    .body(body)
                    .send()
                    .await
                    .expect("post"),
            )
            .await
        }
    };
    let event = |i: usize| {
        json!({"action": "push", "timestamp": "2026-11-29T06:00:00Z", "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "repository": "apps/web", "tag": format!("v{i}")}})
    };
    let body = |n: usize| json!({"events": (0..n).map(event).collect::<Vec<_>>()}).to_string();
    for n in [101, 5000] {
        let flood = post(token.clone(), body(n)).await;
        assert_eq!(flood.status, 413, "{n} events: {}", flood.text);
    }

    api.post(
        "/replication/policies",
        &json!({"name": "on-push", "src_registry": {"id": src}, "dest_registry": {"id": dst},
                "trigger": {"type": "event_based"}, "enabled": true}),
    )
    .await
    .created_id();
    // Events without ids, then the same body again: the replay starts nothing.
    let first = post(token.clone(), body(2)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json()["executions"].as_array().map(Vec::len), Some(2));
    let replay = post(token.clone(), body(2)).await;
    assert_eq!(replay.status, 200, "{}", replay.text);
    assert_eq!(replay.json()["executions"], json!([]));

    // Rotated: the old token stops working, the new one works; a near miss never does.
    let rotated = api
        .post(&format!("/registries/{src}/webhook"), &json!({}))
        .await
        .json();
    let new_token = rotated["authorization"]
        .as_str()
        .expect("token")
        .to_string();
    assert_ne!(new_token, token);
    assert_eq!(post(token.clone(), body(0)).await.status, 401);
    assert_eq!(post(new_token.clone(), body(0)).await.status, 200);
    assert_eq!(
        post(new_token[..new_token.len() - 1].to_string(), body(0))
            .await
            .status,
        401
    );
    assert_eq!(post(format!("{new_token}0"), body(0)).await.status, 401);
    // Another registry's webhook, or one that does not exist, refuses it the same way.
    for elsewhere in [format!("/webhooks/{dst}"), "/webhooks/999".to_string()] {
        let url = hook.replace(&format!("/webhooks/{src}"), &elsewhere);
        let answer = http
            .post(&url)
            .header("authorization", &new_token)
            .body(body(0))
            .send()
            .await
            .expect("post");
        assert_eq!(answer.status(), 401, "{elsewhere}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn robots_hold_exactly_their_permissions_and_their_secrets_are_shown_once() {
    let (stack, api) = start().await;
    let permissions =
        |access: Value| json!([{"kind": "system", "namespace": "/", "access": access}]);
    let created = api
        .post(
            "/robots",
            &json!({"name": "ci", "level": "system", "duration": -1, "permissions": permissions(json!([
                {"resource": "replication", "action": "read"},
                {"resource": "replication", "action": "list"},
                {"resource": "replication-policy", "action": "list"},
            ]))}),
        )
        .await;
    let id = created.created_id();
    let body = created.json();
    assert_eq!(body["name"], "robot$ci");
    let secret = body["secret"].as_str().expect("secret").to_string();
    assert!(secret.len() >= 32);
    let read_back = api.get(&format!("/robots/{id}")).await;
    assert_eq!(read_back.status, 200);
    assert!(
        !read_back.text.contains(&secret),
        "never readable: {}",
        read_back.text
    );
    assert!(read_back.json().get("secret").is_none());
    let listed = api.get("/robots").await;
    assert_eq!(listed.header("x-total-count"), "1");
    assert!(!listed.text.contains(&secret));

    let robot = ApiClient::as_user(&stack.api, "robot$ci", &secret);
    assert_eq!(robot.get("/replication/policies").await.status, 200);
    assert_eq!(robot.get("/replication/executions").await.status, 200);
    let denied = robot
        .post(
            "/replication/policies",
            &json!({"name": "p", "src_registry": {"id": 1}}),
        )
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    assert!(
        denied.error().contains("replication-policy create"),
        "{}",
        denied.error()
    );
    assert_eq!(robot.get("/registries").await.status, 403);
    assert_eq!(robot.get("/robots").await.status, 403, "the admin's alone");
    assert_eq!(
        robot
            .post("/robots", &json!({"name": "escalate"}))
            .await
            .status,
        403
    );
    let impostor = ApiClient::as_user(&stack.api, "robot$ci", "Wrong-secret-1");
    assert_eq!(impostor.get("/replication/policies").await.status, 401);

    // A new secret: the old one stops working at once.
    let refreshed = api.patch(&format!("/robots/{id}"), &json!({})).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let new_secret = refreshed.json()["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    assert_eq!(robot.get("/replication/policies").await.status, 401);
    let robot = ApiClient::as_user(&stack.api, "robot$ci", &new_secret);
    assert_eq!(robot.get("/replication/policies").await.status, 200);
    let chosen = api
        .patch(&format!("/robots/{id}"), &json!({"secret": "weak"}))
        .await;
    assert_eq!(chosen.status, 400, "{}", chosen.text);

    // Disabled, then deleted: refused.
    let mut robot_body = api.get(&format!("/robots/{id}")).await.json();
    robot_body["disable"] = json!(true);
    assert_eq!(
        api.put(&format!("/robots/{id}"), &robot_body).await.status,
        200
    );
    assert_eq!(robot.get("/replication/policies").await.status, 401);
    assert_eq!(api.delete(&format!("/robots/{id}")).await.status, 200);
    assert_eq!(robot.get("/replication/policies").await.status, 401);

    // Bad input names the field; a name is taken once.
    let bad = api
        .post("/robots", &json!({"name": "x", "permissions": permissions(json!([{"resource": "projects", "action": "read"}]))}))
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.error().contains("permissions[0].access[0].resource"),
        "{}",
        bad.error()
    );
    let good = json!({"name": "twice", "permissions": permissions(json!([{"resource": "registry", "action": "read"}]))});
    assert_eq!(api.post("/robots", &good).await.status, 201);
    assert_eq!(api.post("/robots", &good).await.status, 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn callers_are_authenticated_before_anything_in_the_path_is_read() {
    let (stack, api) = start().await;
    let anonymous = reqwest::Client::new();
    for (method, path) in [
        (Method::DELETE, "/registries/0"),
        (Method::GET, "/registries/x"),
        (Method::GET, "/replication/executions/-1/tasks/abc/log"),
        (Method::DELETE, "/registries/5"),
    ] {
        let answer = read(
            anonymous
                .request(method.clone(), format!("{}{path}", stack.api))
                .send()
                .await
                .expect("request"),
        )
        .await;
        assert_eq!(answer.status, 401, "{method} {path}: {}", answer.text);
    }
    assert_eq!(api.delete("/registries/0").await.status, 400);
    assert_eq!(api.delete("/registries/5").await.status, 404);
}
