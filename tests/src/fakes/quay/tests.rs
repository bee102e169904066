//! The fake Quay against a real registry: the REST API, its paging and refusals, organizations,
//! and the robot's token flow through to the registry.

use super::*;
use crate::images::layer;
use crate::registry::TestRegistry;

const ROBOT: (&str, &str) = ("acme+ferry", "robot-secret");
const OAUTH: &str = "oauth-token";

async fn get(url: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
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

fn names(listed: &Value, key: &str) -> Vec<String> {
    let items = listed[key].as_array().cloned().unwrap_or_default();
    let names = items.iter().map(|i| i["name"].as_str().map(String::from));
    names.map(|n| n.expect("a name")).collect()
}

#[tokio::test]
async fn repositories_and_tags_in_pages_behind_the_oauth_token() {
    let registry = TestRegistry::start();
    let http = registry.http();
    let app = http.push_image("acme/app", "v1", &[layer(1, 100)]).await;
    http.push_image("acme/app", "v2", &[layer(2, 100)]).await;
    let index = http.push_index("acme/app", "multi", &["amd64"], 3).await;
    http.push_image("acme/team/tool", "v1", &[layer(4, 100)])
        .await;
    http.push_image("acme/base", "v1", &[layer(5, 100)]).await;
    http.push_image("other/x", "v1", &[layer(6, 100)]).await;
    let quay = FakeQuay::start(&registry.url(), ROBOT, OAUTH).await;
    quay.set_max_page_size(2);
    let api = format!("{}/api/v1", quay.url());
    let bearer = format!("Bearer {OAUTH}");

    let refused = get(&format!("{api}/repository?namespace=acme"), None).await;
    assert_eq!(refused.status(), 401);
    assert!(body(refused).await["error"].is_string());
    let wrong = get(
        &format!("{api}/repository?namespace=acme"),
        Some("Bearer no"),
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let first = body(get(&format!("{api}/repository?namespace=acme"), Some(&bearer)).await).await;
    assert_eq!(names(&first, "repositories"), ["app", "base"]);
    assert_eq!(first["repositories"][0]["namespace"], "acme");
    assert_eq!(first["repositories"][0]["is_public"], false);
    assert_eq!(first["repositories"][0]["kind"], "image");
    let token = first["next_page"].as_str().expect("a next page");
    let url = format!("{api}/repository?namespace=acme&next_page={token}");
    let second = body(get(&url, Some(&bearer)).await).await;
    assert_eq!(names(&second, "repositories"), ["team/tool"]);
    assert!(second.get("next_page").is_none());
    let unknown = get(&format!("{api}/repository?namespace=nope"), Some(&bearer)).await;
    assert_eq!(body(unknown).await, json!({"repositories": []}));
    let bare = get(&format!("{api}/repository"), Some(&bearer)).await;
    assert_eq!(bare.status(), 400);

    let tags_url = format!("{api}/repository/acme/app/tag/?onlyActiveTags=true&limit=100");
    let first = body(get(&tags_url, Some(&bearer)).await).await;
    assert_eq!(names(&first, "tags"), ["child-amd64", "multi"]);
    assert_eq!(
        (&first["page"], &first["has_additional"]),
        (&json!(1), &json!(true))
    );
    assert_eq!(first["tags"][1]["manifest_digest"], index.as_str());
    assert_eq!(first["tags"][1]["is_manifest_list"], true);
    assert_eq!(first["tags"][0]["is_manifest_list"], false);
    assert!(first["tags"][1]["last_modified"].is_string());
    let second = body(get(&format!("{tags_url}&page=2"), Some(&bearer)).await).await;
    assert_eq!(names(&second, "tags"), ["v1", "v2"]);
    assert_eq!(second["tags"][0]["manifest_digest"], app.as_str());
    assert_eq!(
        (&second["page"], &second["has_additional"]),
        (&json!(2), &json!(false))
    );
    let past = body(get(&format!("{tags_url}&page=3"), Some(&bearer)).await).await;
    assert_eq!(
        (&past["tags"], &past["has_additional"]),
        (&json!([]), &json!(false))
    );
    let nested = format!("{api}/repository/acme/team/tool/tag/?onlyActiveTags=true");
    assert_eq!(
        names(&body(get(&nested, Some(&bearer)).await).await, "tags"),
        ["v1"]
    );
    let encoded = format!("{api}/repository/acme/team%2Ftool/tag/");
    assert_eq!(get(&encoded, Some(&bearer)).await.status(), 200);
    let missing = get(&format!("{api}/repository/acme/none/tag/"), Some(&bearer)).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        body(missing).await,
        json!({"detail": "Not Found", "status": 404})
    );
    assert_eq!(
        quay.calls().count("GET /api/v1/repository/acme/app/tag/"),
        3
    );
}

#[tokio::test]
async fn organizations_are_found_and_created_unless_denied() {
    let registry = TestRegistry::start();
    registry
        .http()
        .push_image("other/x", "v1", &[layer(1, 100)])
        .await;
    let quay = FakeQuay::start(&registry.url(), ROBOT, OAUTH).await;
    quay.add_org("added");
    let api = format!("{}/api/v1", quay.url());
    let bearer = format!("Bearer {OAUTH}");
    for org in ["acme", "other", "added"] {
        let found = get(&format!("{api}/organization/{org}"), Some(&bearer)).await;
        assert_eq!(body(found).await, json!({"name": org}));
    }
    let missing = get(&format!("{api}/organization/newco"), Some(&bearer)).await;
    assert_eq!(missing.status(), 404);

    let client = reqwest::Client::new();
    let create = |name: &str| {
        let request = client.post(format!("{api}/organization/"));
        let body = json!({"name": name, "email": format!("{name}@example.com")});
        request.header("authorization", &bearer).json(&body).send()
    };
    let created = create("newco").await.expect("post");
    assert_eq!(created.status(), 201);
    assert_eq!(body(created).await, json!("Created"));
    let found = get(&format!("{api}/organization/newco"), Some(&bearer)).await;
    assert_eq!(found.status(), 200);
    let again = create("newco").await.expect("post");
    assert_eq!(again.status(), 400);
    let message = "A user or organization with this name already exists";
    assert_eq!(body(again).await["error_message"], message);
    let unsigned = client
        .post(format!("{api}/organization/"))
        .json(&json!({"name": "x"}));
    assert_eq!(unsigned.send().await.expect("post").status(), 401);
    quay.deny_org_create();
    let denied = create("later").await.expect("post");
    assert_eq!(denied.status(), 403);
    let error = body(denied).await["error"].as_str().map(String::from);
    assert!(error.expect("an error").contains("insufficient scope"));
}

#[tokio::test]
async fn the_robot_token_flow_through_to_the_registry() {
    let registry = TestRegistry::start();
    let app = registry
        .http()
        .push_image("acme/app", "v1", &[layer(1, 100)])
        .await;
    let quay = FakeQuay::start(&registry.url(), ROBOT, OAUTH).await;
    let url = quay.url();
    let service = url.trim_start_matches("http://");
    let manifest = format!("{url}/v2/acme/app/manifests/v1");
    let challenged = get(&manifest, None).await;
    assert_eq!(challenged.status(), 401);
    let expected = format!(
        "Bearer realm=\"{url}/v2/auth\",service=\"{service}\",scope=\"repository:acme/app:pull\""
    );
    let header = challenged.headers().get("www-authenticate");
    assert_eq!(
        header.and_then(|h| h.to_str().ok()),
        Some(expected.as_str())
    );
    let client = reqwest::Client::new();
    let token_url = format!("{url}/v2/auth?service={service}&scope=repository:acme/app:pull");
    let wrong = client.get(&token_url).basic_auth(ROBOT.0, Some("no"));
    assert_eq!(wrong.send().await.expect("get").status(), 401);
    let issued = client.get(&token_url).basic_auth(ROBOT.0, Some(ROBOT.1));
    let issued = body(issued.send().await.expect("get")).await;
    let bearer = format!("Bearer {}", issued["token"].as_str().expect("a token"));
    let pulled = get(&manifest, Some(&bearer)).await;
    assert_eq!(pulled.status(), 200);
    let digest = pulled.headers().get("docker-content-digest");
    assert_eq!(digest.and_then(|d| d.to_str().ok()), Some(app.as_str()));
    let other = get(&format!("{url}/v2/acme/other/manifests/v1"), Some(&bearer)).await;
    assert_eq!(other.status(), 401, "the token covers acme/app only");
    let upload = client.post(format!("{url}/v2/acme/app/blobs/uploads/"));
    let refused = upload.header("authorization", &bearer).send().await;
    assert_eq!(
        refused.expect("post").status(),
        401,
        "a pull token does not push"
    );
    let catalog = get(&format!("{url}/v2/_catalog"), Some(&bearer)).await;
    assert_eq!(body(catalog).await["repositories"], json!(["acme/app"]));
}
