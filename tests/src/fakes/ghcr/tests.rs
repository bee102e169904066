//! The self-tests of [`super`]: a real registry behind the fake, exercised with plain HTTP.

use super::*;
use crate::images::layer;
use crate::registry::TestRegistry;

const OCI: &str = "application/vnd.oci.image.manifest.v1+json";

async fn get(url: String, auth: Option<&str>) -> reqwest::Response {
    let request = reqwest::Client::new().get(url);
    let request = match auth {
        Some(value) => request.header("authorization", value),
        None => request,
    };
    request.send().await.expect("request")
}

fn link(answer: &reqwest::Response) -> String {
    answer
        .headers()
        .get("link")
        .map(|v| v.to_str().expect("text").to_string())
        .unwrap_or_default()
}

async fn names(answer: reqwest::Response) -> Vec<String> {
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.expect("json");
    body.as_array()
        .expect("array")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test]
async fn registry_token_flow_and_no_catalog() {
    let registry = TestRegistry::start();
    let pushed = registry
        .http()
        .push_image("ferry-bot/app", "v1", &[layer(1, 100)])
        .await;
    let ghcr = FakeGhcr::start(&registry.url(), "ferry-bot", "ghp_secret").await;
    let manifest = format!("{}/v2/ferry-bot/app/manifests/v1", ghcr.url());
    let refused = get(manifest.clone(), None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        format!(
            "Bearer realm=\"{}/token\",service=\"ghcr.io\",scope=\"repository:ferry-bot/app:pull\"",
            ghcr.url()
        )
    );
    let token_url = |scope: &str| format!("{}/token?scope={scope}&service=ghcr.io", ghcr.url());
    let client = reqwest::Client::new();
    let wrong = client
        .get(token_url("repository:ferry-bot/app:pull"))
        .basic_auth("ferry-bot", Some("nope"))
        .send()
        .await
        .expect("token");
    assert_eq!(wrong.status(), 401);
    let token_for = |scope: &'static str| {
        let client = client.clone();
        let url = token_url(scope);
        async move {
            let answer: Value = client
                .get(url)
                .basic_auth("ferry-bot", Some("ghp_secret"))
                .send()
                .await
                .expect("token")
                .json()
                .await
                .expect("json");
            format!("Bearer {}", answer["token"].as_str().expect("token"))
        }
    };
    let other = token_for("repository:ferry-bot/other:pull").await;
    assert_eq!(get(manifest.clone(), Some(&other)).await.status(), 401);
    let token = token_for("repository:ferry-bot/app:pull").await;
    let served = client
        .get(manifest)
        .header("authorization", &token)
        .header("accept", OCI)
        .send()
        .await
        .expect("manifest");
    assert_eq!(served.status(), 200);
    let bytes = served.bytes().await.expect("body");
    assert_eq!(crate::images::digest_of(&bytes), pushed);
    let catalog = get(format!("{}/v2/_catalog", ghcr.url()), Some(&token)).await;
    assert_eq!(catalog.status(), 404);
    let body: Value = catalog.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "NOT_FOUND");
    assert_eq!(ghcr.calls().count("GET /token"), 3);
}

#[tokio::test]
async fn packages_versions_paging_and_rate_limits() {
    let registry = TestRegistry::start();
    let http = registry.http();
    for (i, repository) in [
        "ferry-bot/app",
        "ferry-bot/tools/cli",
        "acme/web",
        "acme/api",
        "acme/team/db",
    ]
    .iter()
    .enumerate()
    {
        http.push_image(repository, "v1", &[layer(10 + i as u64, 64)])
            .await;
    }
    let v1 = http.manifest("ferry-bot/app", "v1").await.expect("v1");
    http.push_manifest("ferry-bot/app", "latest", OCI, &v1)
        .await;
    let v2 = http
        .push_image("ferry-bot/app", "v2", &[layer(99, 64)])
        .await;
    let ghcr = FakeGhcr::start(&registry.url(), "ferry-bot", "ghp_secret").await;
    ghcr.add_org("empty-org");
    let auth = Some("Bearer ghp_secret");
    let api = |path: &str| format!("{}{path}", ghcr.url());

    let anonymous = get(api("/user/packages?package_type=container"), None).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["x-ratelimit-limit"], "5000");
    let mine = get(
        api("/user/packages?package_type=container"),
        Some("token ghp_secret"),
    )
    .await;
    assert!(mine.headers().contains_key("x-ratelimit-remaining"));
    let body: Value = mine.json().await.expect("json");
    assert_eq!(body[0]["name"], "app");
    assert_eq!(body[0]["owner"]["type"], "User");
    assert_eq!(body[1]["name"], "tools/cli");
    assert_eq!(body[1]["package_type"], "container");
    assert_eq!(get(api("/user/packages"), auth).await.status(), 400);

    let first = get(
        api("/orgs/acme/packages?package_type=container&per_page=2"),
        auth,
    )
    .await;
    let links = link(&first);
    let base = api("/orgs/acme/packages?package_type=container&per_page=2");
    assert_eq!(
        links,
        format!("<{base}&page=2>; rel=\"next\", <{base}&page=2>; rel=\"last\"")
    );
    assert_eq!(names(first).await, ["api", "team/db"]);
    let second = get(format!("{base}&page=2"), auth).await;
    assert_eq!(
        link(&second),
        format!("<{base}&page=1>; rel=\"prev\", <{base}&page=1>; rel=\"first\"")
    );
    assert_eq!(names(second).await, ["web"]);
    let users = get(api("/users/acme/packages?package_type=container"), auth).await;
    assert_eq!(link(&users), "");
    assert_eq!(names(users).await, ["api", "team/db", "web"]);
    let empty = get(api("/orgs/empty-org/packages?package_type=container"), auth).await;
    assert!(names(empty).await.is_empty());
    for missing in [
        "/orgs/ferry-bot/packages?package_type=container",
        "/orgs/nobody",
        "/users/nobody/packages?package_type=container",
    ] {
        let answer = get(api(missing), auth).await;
        assert_eq!(answer.status(), 404, "{missing}");
        let body: Value = answer.json().await.expect("json");
        assert_eq!(body["message"], "Not Found");
    }
    let org: Value = get(api("/orgs/acme"), auth)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(org["type"], "Organization");
    let user: Value = get(api("/users/ferry-bot"), auth)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(user["type"], "User");

    let versions: Value = get(
        api("/users/ferry-bot/packages/container/app/versions"),
        auth,
    )
    .await
    .json()
    .await
    .expect("json");
    let versions = versions.as_array().expect("array").clone();
    assert_eq!(versions.len(), 2);
    let tags_of = |digest: &str| {
        versions
            .iter()
            .find(|v| v["name"] == digest)
            .map(|v| v["metadata"]["container"]["tags"].clone())
    };
    assert_eq!(
        tags_of(&crate::images::digest_of(&v1)),
        Some(json!(["latest", "v1"]))
    );
    assert_eq!(tags_of(&v2), Some(json!(["v2"])));
    assert_eq!(versions[0]["metadata"]["package_type"], "container");
    let paged = get(
        api("/user/packages/container/app/versions?per_page=1"),
        auth,
    )
    .await;
    assert!(link(&paged).contains("page=2>; rel=\"next\""));
    assert_eq!(names(paged).await.len(), 1);
    let nested = get(
        api("/orgs/acme/packages/container/team%2Fdb/versions"),
        auth,
    )
    .await;
    assert_eq!(names(nested).await.len(), 1);
    for missing in [
        "/orgs/acme/packages/container/team/db/versions",
        "/orgs/acme/packages/container/nope/versions",
    ] {
        assert_eq!(get(api(missing), auth).await.status(), 404, "{missing}");
    }

    ghcr.throttle_next(2);
    for _ in 0..2 {
        let limited = get(api("/orgs/acme"), auth).await;
        assert_eq!(limited.status(), 403);
        assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
        assert_eq!(limited.headers()["retry-after"], "1");
        let reset: u64 = limited.headers()["x-ratelimit-reset"]
            .to_str()
            .expect("text")
            .parse()
            .expect("number");
        assert!(reset > epoch() - 5 && reset <= epoch() + 1);
        let body: Value = limited.json().await.expect("json");
        assert!(body["message"]
            .as_str()
            .expect("message")
            .contains("secondary rate limit"));
    }
    assert_eq!(get(api("/orgs/acme"), auth).await.status(), 200);
}
