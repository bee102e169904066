//! The fake Artifactory against a real registry: Docker repositories, their images and tags
//! in pages, creating repositories, refusals, and the token flow through to the registry by
//! the repository path method.

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

fn link(response: &reqwest::Response) -> String {
    let value = response
        .headers()
        .get("link")
        .map(|v| v.to_str().unwrap_or_default());
    value.unwrap_or_default().to_string()
}

#[tokio::test]
async fn docker_repositories_images_and_tags_in_pages() {
    let registry = TestRegistry::start();
    let http = registry.http();
    http.push_image("docker-local/app", "v1", &[layer(1, 100)])
        .await;
    http.push_image("docker-local/app", "v2", &[layer(2, 100)])
        .await;
    http.push_image("docker-local/app", "v3", &[layer(3, 100)])
        .await;
    http.push_image("docker-local/team/tool", "v1", &[layer(4, 100)])
        .await;
    http.push_image("docker-local/web", "v1", &[layer(5, 100)])
        .await;
    http.push_image("prod/x", "v1", &[layer(6, 100)]).await;
    let artifactory = FakeArtifactory::start(&registry.url(), "ferry", "pw").await;
    artifactory.add_repository("empty");
    artifactory.set_max_page_size(2);
    let api = format!("{}/artifactory/api", artifactory.url());
    let basic = basic();

    let refused = get(&format!("{api}/repositories"), None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(body(refused).await["errors"][0]["status"], 401);
    let listing = format!("{api}/repositories?type=local&packageType=docker");
    let listed = body(get(&listing, Some(&basic)).await).await;
    let keys: Vec<&str> = (listed.as_array().into_iter().flatten())
        .filter_map(|r| r["key"].as_str())
        .collect();
    assert_eq!(keys, ["docker-local", "empty", "prod"]);
    assert_eq!(
        (&listed[0]["type"], &listed[0]["packageType"]),
        (&json!("LOCAL"), &json!("Docker"))
    );
    let token = get(&listing, Some("Bearer pw")).await;
    assert_eq!(token.status(), 200, "the password as an access token");
    let remote = body(get(&format!("{api}/repositories?type=remote"), Some(&basic)).await).await;
    assert_eq!(remote, json!([]));

    let catalog = format!("{api}/docker/docker-local/v2/_catalog?n=100");
    let first = get(&catalog, Some(&basic)).await;
    let next =
        "</artifactory/api/docker/docker-local/v2/_catalog?last=team%2Ftool&n=100>; rel=\"next\"";
    assert_eq!(link(&first), next);
    assert_eq!(
        body(first).await,
        json!({"repositories": ["app", "team/tool"]})
    );
    let next = format!(
        "{}{}",
        artifactory.url(),
        "/artifactory/api/docker/docker-local/v2/_catalog?last=team%2Ftool&n=100"
    );
    let second = get(&next, Some(&basic)).await;
    assert_eq!(link(&second), "");
    assert_eq!(body(second).await, json!({"repositories": ["web"]}));
    let empty = body(get(&format!("{api}/docker/empty/v2/_catalog"), Some(&basic)).await).await;
    assert_eq!(empty, json!({"repositories": []}));
    let unknown = get(&format!("{api}/docker/nope/v2/_catalog"), Some(&basic)).await;
    assert_eq!(unknown.status(), 404);

    let tags = format!("{api}/docker/docker-local/v2/app/tags/list");
    let first = get(&tags, Some(&basic)).await;
    assert_eq!(
        link(&first),
        "</artifactory/api/docker/docker-local/v2/app/tags/list?last=v2&n=2>; rel=\"next\""
    );
    assert_eq!(
        body(first).await,
        json!({"name": "app", "tags": ["v1", "v2"]})
    );
    let second = body(get(&format!("{tags}?last=v2&n=2"), Some(&basic)).await).await;
    assert_eq!(second, json!({"name": "app", "tags": ["v3"]}));
    let nested = format!("{api}/docker/docker-local/v2/team/tool/tags/list");
    let nested = body(get(&nested, Some(&basic)).await).await;
    assert_eq!(nested, json!({"name": "team/tool", "tags": ["v1"]}));
    let missing = get(
        &format!("{api}/docker/docker-local/v2/none/tags/list"),
        Some(&basic),
    )
    .await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn repositories_read_created_and_refused() {
    let registry = TestRegistry::start();
    let artifactory = FakeArtifactory::start(&registry.url(), "ferry", "pw").await;
    artifactory.add_repository("docker-local");
    let api = format!("{}/artifactory/api", artifactory.url());
    let basic = basic();
    let found = body(get(&format!("{api}/repositories/docker-local"), Some(&basic)).await).await;
    assert_eq!(
        (&found["key"], &found["rclass"], &found["packageType"]),
        (&json!("docker-local"), &json!("local"), &json!("docker"))
    );
    let missing = get(&format!("{api}/repositories/dest"), Some(&basic)).await;
    assert_eq!(missing.status(), 400);
    assert_eq!(
        body(missing).await,
        json!({"errors": [{"status": 400, "message": "Bad Request"}]})
    );

    let client = reqwest::Client::new();
    let create = |key: &str| {
        let body = json!({"key": key, "rclass": "local", "packageType": "docker"});
        let request = client.put(format!("{api}/repositories/{key}"));
        request
            .header("authorization", basic.as_str())
            .json(&body)
            .send()
    };
    let created = create("dest").await.expect("put");
    assert_eq!(created.status(), 200);
    let text = created.text().await.expect("text");
    assert!(text.starts_with("Successfully created repository 'dest'"));
    assert_eq!(
        get(&format!("{api}/repositories/dest"), Some(&basic))
            .await
            .status(),
        200
    );
    assert_eq!(artifactory.repositories().await, ["dest", "docker-local"]);
    assert_eq!(create("dest").await.expect("put").status(), 400);
    artifactory.deny_create();
    let denied = create("later").await.expect("put");
    assert_eq!(denied.status(), 403);
    assert_eq!(
        body(denied).await,
        json!({"errors": [{"status": 403, "message": "Forbidden"}]})
    );
}

#[tokio::test]
async fn the_token_flow_and_pushes_by_the_repository_path_method() {
    let registry = TestRegistry::start();
    let app = registry
        .http()
        .push_image("docker-local/app", "v1", &[layer(1, 100)])
        .await;
    let artifactory = FakeArtifactory::start(&registry.url(), "ferry", "pw").await;
    let url = artifactory.url();
    let service = url.trim_start_matches("http://");
    let manifest = format!("{url}/v2/docker-local/app/manifests/v1");
    let challenged = get(&manifest, None).await;
    assert_eq!(challenged.status(), 401);
    let expected = format!("Bearer realm=\"{url}/v2/token\",service=\"{service}\",scope=\"repository:docker-local/app:pull\"");
    let challenge = challenged.headers().get("www-authenticate");
    assert_eq!(
        challenge.and_then(|c| c.to_str().ok()),
        Some(expected.as_str())
    );
    let client = reqwest::Client::new();
    let token = |scope: &str| {
        let url = format!("{url}/v2/token?service={service}&scope={scope}");
        client.get(url).basic_auth("ferry", Some("pw")).send()
    };
    let wrong = client.get(format!("{url}/v2/token?service={service}"));
    assert_eq!(
        wrong
            .basic_auth("ferry", Some("no"))
            .send()
            .await
            .expect("get")
            .status(),
        401
    );
    let issued = body(
        token("repository:docker-local/app:pull")
            .await
            .expect("get"),
    )
    .await;
    let bearer = format!("Bearer {}", issued["token"].as_str().expect("a token"));
    let pulled = get(&manifest, Some(&bearer)).await;
    assert_eq!(pulled.status(), 200);
    let digest = pulled.headers().get("docker-content-digest");
    assert_eq!(digest.and_then(|d| d.to_str().ok()), Some(app.as_str()));

    let push = |repository: &str, bearer: String| {
        let upload = client.post(format!("{url}/v2/{repository}/blobs/uploads/"));
        upload.header("authorization", bearer).send()
    };
    let issued = body(
        token("repository:docker-local/new:pull,push")
            .await
            .expect("get"),
    )
    .await;
    let bearer = format!("Bearer {}", issued["token"].as_str().expect("a token"));
    assert_eq!(
        push("docker-local/new", bearer)
            .await
            .expect("post")
            .status(),
        202
    );
    let issued = body(
        token("repository:missing/app:pull,push")
            .await
            .expect("get"),
    )
    .await;
    let bearer = format!("Bearer {}", issued["token"].as_str().expect("a token"));
    let refused = push("missing/app", bearer).await.expect("post");
    assert_eq!(refused.status(), 404);
    let message = "Repository \"missing\" not found";
    assert_eq!(
        body(refused).await,
        json!({"errors": [{"code": "NAME_UNKNOWN", "message": message}]})
    );
}
