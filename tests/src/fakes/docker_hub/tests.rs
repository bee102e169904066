//! The fake Docker Hub against a real registry: the Hub API, the registry's tokens, official
//! images and the pull rate limit.

use super::*;
use crate::images::layer;
use crate::registry::TestRegistry;

async fn get(url: &str, authorization: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::new();
    let mut request = client
        .get(url)
        .header("accept", crate::fakes::MANIFEST_TYPES);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    request.send().await.expect("request")
}

async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    let value = response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap_or_default());
    value.unwrap_or_default().to_string()
}

#[tokio::test]
async fn hub_api_signs_in_and_lists_repositories_and_tags_in_pages() {
    let registry = TestRegistry::start();
    let http = registry.http();
    let nginx = http
        .push_image("library/nginx", "latest", &[layer(1, 100)])
        .await;
    http.push_image("library/nginx", "1.27", &[layer(1, 100)])
        .await;
    http.push_index("library/alpine", "3", &["amd64"], 2).await;
    let chart = http.push_chart("ferry/app", "1.0", 3).await;
    http.push_cosign_signature("ferry/app", &chart).await;
    http.push_image("ferry/deep/er", "v1", &[layer(4, 100)])
        .await;
    let hub = FakeHub::start(&registry.url(), "ferry", "pw").await;
    hub.add_org("acme");
    let url = hub.url();
    let client = reqwest::Client::new();
    let sign_in = |path: &str, body: Value| client.post(format!("{url}{path}")).json(&body).send();
    let wrong = sign_in(
        "/v2/users/login",
        json!({"username": "ferry", "password": "no"}),
    );
    let wrong = wrong.await.expect("post");
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        body(wrong).await,
        json!({"detail": "Incorrect authentication credentials"})
    );
    let login = sign_in(
        "/v2/users/login",
        json!({"username": "ferry", "password": "pw"}),
    );
    let token = body(login.await.expect("post")).await["token"]
        .as_str()
        .map(String::from);
    let bearer = format!("Bearer {}", token.expect("a token"));
    let newer = sign_in(
        "/v2/auth/token",
        json!({"identifier": "ferry", "secret": "pw"}),
    );
    let access = body(newer.await.expect("post")).await["access_token"]
        .as_str()
        .map(String::from);
    let jwt = format!("JWT {}", access.expect("an access token"));

    let first = body(get(&format!("{url}/v2/repositories/library/?page_size=1"), None).await).await;
    assert_eq!(first["count"], 2);
    assert_eq!(first["results"][0]["name"], "alpine");
    assert_eq!(first["results"][0]["namespace"], "library");
    assert_eq!(first["previous"], Value::Null);
    let next = format!("{url}/v2/repositories/library/?page=2&page_size=1");
    assert_eq!(first["next"], next.as_str());
    let second = body(get(&next, None).await).await;
    assert_eq!(
        (&second["results"][0]["name"], &second["next"]),
        (&json!("nginx"), &Value::Null)
    );
    let previous = format!("{url}/v2/repositories/library/?page_size=1");
    assert_eq!(second["previous"], previous.as_str());
    let past = get(
        &format!("{url}/v2/repositories/library/?page=3&page_size=1"),
        None,
    )
    .await;
    assert_eq!(
        (past.status().as_u16(), body(past).await),
        (404, json!({"detail": "Invalid page."}))
    );
    let same = format!("{url}/v2/namespaces/library/repositories?page_size=1000");
    let same = get(&same, None);
    assert_eq!(body(same.await).await["results"][1]["name"], "nginx");

    let ferry = format!("{url}/v2/repositories/ferry/");
    assert_eq!(get(&ferry, None).await.status(), 401);
    assert_eq!(get(&ferry, Some("Bearer made-up")).await.status(), 401);
    let listed = body(get(&ferry, Some(&bearer)).await).await;
    assert_eq!(
        (&listed["count"], &listed["results"][0]["name"]),
        (&json!(1), &json!("app"))
    );
    assert_eq!(get(&ferry, Some(&jwt)).await.status(), 200);
    let acme = body(get(&format!("{url}/v2/repositories/acme/"), Some(&jwt)).await).await;
    assert_eq!((&acme["count"], &acme["results"]), (&json!(0), &json!([])));
    let unknown = get(&format!("{url}/v2/repositories/nope/"), Some(&bearer)).await;
    assert_eq!(
        body(unknown).await,
        json!({"message": "object not found", "errinfo": {}})
    );

    let tags = body(get(&format!("{url}/v2/repositories/library/nginx/tags"), None).await).await;
    assert_eq!(tags["count"], 2);
    assert_eq!(
        (&tags["results"][0]["name"], &tags["results"][1]["name"]),
        (&json!("1.27"), &json!("latest"))
    );
    assert_eq!(tags["results"][1]["digest"], nginx.as_str());
    assert_eq!(
        tags["results"][1]["media_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(tags["results"][1]["tag_status"], "active");
    let paged = format!("{url}/v2/namespaces/ferry/repositories/app/tags?page_size=1");
    let paged = body(get(&paged, Some(&bearer)).await).await;
    assert_eq!(
        (&paged["count"], &paged["results"][0]["digest"]),
        (&json!(2), &json!(chart))
    );
    let unknown = get(
        &format!("{url}/v2/repositories/ferry/none/tags"),
        Some(&bearer),
    )
    .await;
    assert_eq!(unknown.status(), 404);

    let found = |path: &'static str| {
        let url = format!("{url}{path}");
        async move { body(get(&url, None).await).await }
    };
    assert_eq!(found("/v2/orgs/acme/").await, json!({"orgname": "acme"}));
    assert_eq!(
        found("/v2/users/ferry/").await,
        json!({"username": "ferry"})
    );
    assert_eq!(
        get(&format!("{url}/v2/orgs/nope/"), None).await.status(),
        404
    );
    assert_eq!(
        get(&format!("{url}/v2/users/acme/"), None).await.status(),
        404
    );
    assert_eq!(hub.calls().count("POST /v2/users/login"), 2);
}

#[tokio::test]
async fn registry_tokens_official_images_and_the_pull_rate_limit() {
    let registry = TestRegistry::start();
    let nginx = registry
        .http()
        .push_image("library/nginx", "latest", &[layer(1, 100)])
        .await;
    registry
        .http()
        .push_image("ferry/app", "v1", &[layer(2, 100)])
        .await;
    let hub = FakeHub::start(&registry.url(), "ferry", "pw").await;
    let url = hub.url();
    let client = reqwest::Client::new();
    let manifest = format!("{url}/v2/library/nginx/manifests/latest");
    let challenged = get(&manifest, None).await;
    assert_eq!(challenged.status(), 401);
    let expected = format!(
        "Bearer realm=\"{url}/token\",service=\"registry.docker.io\",\
         scope=\"repository:library/nginx:pull\""
    );
    assert_eq!(header(&challenged, "www-authenticate"), expected);
    let token_url =
        format!("{url}/token?service=registry.docker.io&scope=repository:library/nginx:pull");
    let wrong = client
        .get(&token_url)
        .basic_auth("ferry", Some("no"))
        .send()
        .await;
    assert_eq!(wrong.expect("get").status(), 401);
    let issued = body(get(&token_url, None).await).await;
    assert_eq!(
        (&issued["expires_in"], &issued["token"]),
        (&json!(300), &issued["access_token"])
    );
    let anonymous = format!("Bearer {}", issued["token"].as_str().expect("a token"));

    let pulled = get(&manifest, Some(&anonymous)).await;
    assert_eq!(header(&pulled, "docker-content-digest"), nginx);
    assert_eq!(header(&pulled, "ratelimit-limit"), "100;w=21600");
    assert_eq!(header(&pulled, "ratelimit-remaining"), "99;w=21600");
    assert_eq!(header(&pulled, "docker-ratelimit-source"), "127.0.0.1");
    let headed = client
        .head(&manifest)
        .header("authorization", &anonymous)
        .send()
        .await;
    assert_eq!(
        header(&headed.expect("head"), "ratelimit-remaining"),
        "99;w=21600"
    );
    assert_eq!(hub.pulls(), 1, "a HEAD is no pull");
    let upload = client.post(format!("{url}/v2/library/nginx/blobs/uploads/"));
    let refused = upload
        .header("authorization", &anonymous)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 401, "an anonymous token does not push");
    let private = format!("{url}/v2/ferry/app/manifests/v1");
    assert_eq!(get(&private, Some(&anonymous)).await.status(), 401);
    let short = get(
        &format!("{url}/v2/nginx/manifests/latest"),
        Some(&anonymous),
    )
    .await;
    assert_eq!(short.status(), 404);
    assert_eq!(body(short).await["errors"][0]["code"], "NAME_UNKNOWN");

    let signed = client
        .get(&token_url)
        .basic_auth("ferry", Some("pw"))
        .send()
        .await;
    let signed = body(signed.expect("get")).await;
    let signed = format!("Bearer {}", signed["token"].as_str().expect("a token"));
    assert_eq!(get(&private, Some(&signed)).await.status(), 200);
    assert_eq!(hub.pulls(), 2);
    hub.throttle_next(1);
    let throttled = get(&private, Some(&signed)).await;
    assert_eq!(
        (
            throttled.status().as_u16(),
            header(&throttled, "retry-after")
        ),
        (429, "1".into())
    );
    assert_eq!(
        body(throttled).await["errors"][0]["code"],
        "TOOMANYREQUESTS"
    );
    let pulled = get(&private, Some(&signed)).await;
    assert_eq!(
        (
            pulled.status().as_u16(),
            header(&pulled, "ratelimit-remaining")
        ),
        (200, "97;w=21600".into())
    );
    assert_eq!(hub.calls().count("GET /v2/ferry/app/manifests/"), 4);
}
