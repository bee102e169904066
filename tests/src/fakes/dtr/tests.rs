//! The fake DTR against a real registry: repositories and tags in pages, creating a
//! repository, refusals, and the token flow through to the registry, pushes only to
//! repositories the API knows.

use super::*;
use crate::images::layer;
use crate::registry::TestRegistry;

async fn get(url: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(url)
        .header("accept", crate::fakes::MANIFEST_TYPES);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    request.send().await.expect("request")
}

fn basic() -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode("ferry:pw");
    format!("Basic {encoded}")
}

async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON")
}

fn next_start(response: &reqwest::Response) -> Option<String> {
    let value = response.headers().get("x-next-page-start");
    value.map(|v| v.to_str().unwrap_or_default().to_string())
}

fn names(listed: &Value) -> Vec<String> {
    let items = listed["repositories"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names = items.iter().map(|i| i["name"].as_str().map(String::from));
    names.map(|n| n.expect("a name")).collect()
}

#[tokio::test]
async fn repositories_and_tags_in_pages_behind_basic_auth() {
    let registry = TestRegistry::start();
    let http = registry.http();
    let app = http.push_image("acme/app", "v1", &[layer(1, 100)]).await;
    http.push_image("acme/app", "v2", &[layer(2, 100)]).await;
    http.push_image("acme/app", "v3", &[layer(3, 100)]).await;
    http.push_image("acme/base", "v1", &[layer(4, 100)]).await;
    http.push_image("acme/web", "v1", &[layer(5, 100)]).await;
    http.push_image("acme/deep/er", "v1", &[layer(6, 100)])
        .await;
    http.push_image("other/x", "v1", &[layer(7, 100)]).await;
    let dtr = FakeDtr::start(&registry.url(), "ferry", "pw").await;
    dtr.add_namespace("empty");
    dtr.set_max_page_size(2);
    let api = format!("{}/api/v0", dtr.url());
    let basic = basic();

    let refused = get(&format!("{api}/repositories/acme"), None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        body(refused).await["errors"][0]["code"],
        "NOT_AUTHENTICATED"
    );
    let first = get(
        &format!("{api}/repositories/acme?pageSize=100"),
        Some(&basic),
    )
    .await;
    assert_eq!(next_start(&first).as_deref(), Some("web"));
    let first = body(first).await;
    assert_eq!(names(&first), ["app", "base"]);
    let repository = &first["repositories"][0];
    assert_eq!(
        (&repository["namespace"], &repository["visibility"]),
        (&json!("acme"), &json!("private"))
    );
    assert!(repository["id"].is_string());
    let url = format!("{api}/repositories/acme?pageSize=100&pageStart=web");
    let second = get(&url, Some(&basic)).await;
    assert_eq!(next_start(&second), None);
    assert_eq!(names(&body(second).await), ["web"]);
    let empty = body(get(&format!("{api}/repositories/empty"), Some(&basic)).await).await;
    assert_eq!(empty, json!({"repositories": []}));
    let unknown = get(&format!("{api}/repositories/nope"), Some(&basic)).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(body(unknown).await["errors"][0]["code"], "NO_SUCH_ACCOUNT");

    let all = get(&format!("{api}/repositories"), Some(&basic)).await;
    assert_eq!(next_start(&all).as_deref(), Some("acme/web"));
    let url = format!("{api}/repositories?pageStart=acme%2Fweb");
    let rest = get(&url, Some(&basic)).await;
    assert_eq!(next_start(&rest), None);
    let rest = body(rest).await;
    assert_eq!(names(&rest), ["web", "x"]);
    assert_eq!(rest["repositories"][1]["namespace"], "other");

    let tags = format!("{api}/repositories/acme/app/tags?pageSize=10");
    let first = get(&tags, Some(&basic)).await;
    assert_eq!(next_start(&first).as_deref(), Some("v3"));
    let first = body(first).await;
    assert_eq!(
        (&first[0]["name"], &first[0]["digest"]),
        (&json!("v1"), &json!(app))
    );
    assert!(first[0]["createdAt"].is_string());
    assert_eq!(first[1]["name"], "v2");
    let rest = body(get(&format!("{tags}&pageStart=v3"), Some(&basic)).await).await;
    assert_eq!(rest.as_array().map(Vec::len), Some(1));
    let missing = get(&format!("{api}/repositories/acme/none/tags"), Some(&basic)).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        body(missing).await["errors"][0]["code"],
        "NO_SUCH_REPOSITORY"
    );
    let deep = get(&format!("{api}/repositories/acme/deep/tags"), Some(&basic)).await;
    assert_eq!(deep.status(), 404, "DTR repositories have two components");
    assert_eq!(
        get(&format!("{api}/repositories/acme/app"), Some(&basic))
            .await
            .status(),
        200
    );
    assert_eq!(
        get(&format!("{api}/repositories/acme/none"), Some(&basic))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn pushes_go_only_to_repositories_created_through_the_api() {
    let registry = TestRegistry::start();
    let app = registry
        .http()
        .push_image("acme/app", "v1", &[layer(1, 100)])
        .await;
    let dtr = FakeDtr::start(&registry.url(), "ferry", "pw").await;
    let url = dtr.url();
    let service = url.trim_start_matches("http://");
    let client = reqwest::Client::new();
    let manifest = format!("{url}/v2/acme/app/manifests/v1");
    let challenged = get(&manifest, None).await;
    assert_eq!(challenged.status(), 401);
    let expected = format!("Bearer realm=\"{url}/auth/token\",service=\"{service}\",scope=\"repository:acme/app:pull\"");
    let challenge = challenged.headers().get("www-authenticate");
    assert_eq!(
        challenge.and_then(|c| c.to_str().ok()),
        Some(expected.as_str())
    );
    let token = |scope: &str| {
        let url = format!("{url}/auth/token?service={service}&scope={scope}");
        client.get(url).basic_auth("ferry", Some("pw")).send()
    };
    let wrong = client.get(format!("{url}/auth/token?service={service}"));
    assert_eq!(
        wrong
            .basic_auth("ferry", Some("no"))
            .send()
            .await
            .expect("get")
            .status(),
        401
    );
    let issued = body(token("repository:acme/app:pull").await.expect("get")).await;
    let bearer = format!("Bearer {}", issued["token"].as_str().expect("a token"));
    let pulled = get(&manifest, Some(&bearer)).await;
    assert_eq!(pulled.status(), 200);
    let digest = pulled.headers().get("docker-content-digest");
    assert_eq!(digest.and_then(|d| d.to_str().ok()), Some(app.as_str()));

    let issued = body(token("repository:acme/new:pull,push").await.expect("get")).await;
    let bearer = format!("Bearer {}", issued["token"].as_str().expect("a token"));
    let push = || {
        let upload = client.post(format!("{url}/v2/acme/new/blobs/uploads/"));
        upload.header("authorization", bearer.as_str()).send()
    };
    let refused = push().await.expect("post");
    assert_eq!(refused.status(), 404);
    let message = "repository name not known to registry";
    assert_eq!(
        body(refused).await,
        json!({"errors": [{"code": "NAME_UNKNOWN", "message": message}]})
    );

    let create = |namespace: &str, name: &str| {
        let request = client.post(format!("{url}/api/v0/repositories/{namespace}"));
        let body = json!({"name": name, "visibility": "private"});
        request.basic_auth("ferry", Some("pw")).json(&body).send()
    };
    let created = create("acme", "new").await.expect("post");
    assert_eq!(created.status(), 201);
    let created = body(created).await;
    assert_eq!(
        (
            &created["namespace"],
            &created["name"],
            &created["visibility"]
        ),
        (&json!("acme"), &json!("new"), &json!("private"))
    );
    assert_eq!(push().await.expect("post").status(), 202);
    let again = create("acme", "new").await.expect("post");
    assert_eq!(again.status(), 400);
    assert_eq!(body(again).await["errors"][0]["code"], "REPOSITORY_EXISTS");
    assert_eq!(create("nope", "x").await.expect("post").status(), 404);
    let tags = get(
        &format!("{url}/api/v0/repositories/acme/new/tags"),
        Some(&basic()),
    )
    .await;
    assert_eq!(body(tags).await, json!([]));
}
