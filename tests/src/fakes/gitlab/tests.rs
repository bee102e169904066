//! The fake GitLab against a real registry: projects, registry repositories and tags in pages,
//! groups, refusals, and the JWT token flow through to the registry.

use super::*;
use crate::images::layer;
use crate::registry::TestRegistry;

const TOKEN: &str = "glpat-secret";

async fn get(url: &str, header: Option<(&str, &str)>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(url)
        .header("accept", crate::fakes::MANIFEST_TYPES);
    if let Some((name, value)) = header {
        request = request.header(name, value);
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

fn field_of(listed: &Value, key: &str) -> Vec<Value> {
    let items = listed.as_array().cloned().unwrap_or_default();
    items.iter().map(|i| i[key].clone()).collect()
}

#[tokio::test]
async fn projects_repositories_and_tags_in_pages() {
    let registry = TestRegistry::start();
    let http = registry.http();
    http.push_image("group/app", "v1", &[layer(1, 100)]).await;
    let api_digest = http
        .push_image("group/app/api", "v1", &[layer(2, 100)])
        .await;
    http.push_image("group/app/api", "v2", &[layer(3, 100)])
        .await;
    http.push_image("group/app/web/ui", "v1", &[layer(4, 100)])
        .await;
    http.push_image("other/svc", "v1", &[layer(5, 100)]).await;
    let gitlab = FakeGitlab::start(&registry.url(), "ferry", TOKEN).await;
    gitlab.add_project("group/empty");
    gitlab.set_max_page_size(2);
    let api = format!("{}/api/v4", gitlab.url());
    let private = Some(("private-token", TOKEN));

    let refused = get(&format!("{api}/projects"), None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(body(refused).await, json!({"message": "401 Unauthorized"}));
    let wrong = get(&format!("{api}/projects"), Some(("private-token", "no"))).await;
    assert_eq!(wrong.status(), 401);
    let listing = format!("{api}/projects?membership=true&simple=true&per_page=100");
    let first = get(&listing, private).await;
    assert_eq!(
        [
            "x-page",
            "x-per-page",
            "x-next-page",
            "x-total",
            "x-total-pages"
        ]
        .map(|h| header(&first, h)),
        ["1", "2", "2", "3", "2"]
    );
    let first = body(first).await;
    assert_eq!(
        field_of(&first, "path_with_namespace"),
        [json!("group/app"), json!("group/empty")]
    );
    assert_eq!(first[0]["name"], "app");
    let bearer = format!("Bearer {TOKEN}");
    let second = get(
        &format!("{listing}&page=2"),
        Some(("authorization", &bearer)),
    )
    .await;
    assert_eq!(header(&second, "x-next-page"), "");
    assert!(second.headers().contains_key("x-next-page"));
    let second = body(second).await;
    assert_eq!(
        field_of(&second, "path_with_namespace"),
        [json!("other/svc")]
    );
    let id = first[0]["id"].as_i64().expect("an id");

    let by_path = body(get(&format!("{api}/projects/group%2Fapp"), private).await).await;
    assert_eq!(
        (&by_path["id"], &by_path["path_with_namespace"]),
        (&json!(id), &json!("group/app"))
    );
    let by_id = body(get(&format!("{api}/projects/{id}"), private).await).await;
    assert_eq!(by_id["path_with_namespace"], "group/app");
    let missing = get(&format!("{api}/projects/nope%2Fnone"), private).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        body(missing).await,
        json!({"message": "404 Project Not Found"})
    );

    let repositories = format!("{api}/projects/{id}/registry/repositories?per_page=100");
    let first = get(&repositories, private).await;
    assert_eq!(header(&first, "x-total"), "3");
    let first = body(first).await;
    assert_eq!(field_of(&first, "name"), [json!(""), json!("api")]);
    assert_eq!(
        field_of(&first, "path"),
        [json!("group/app"), json!("group/app/api")]
    );
    assert_eq!(first[1]["project_id"], id);
    let host = gitlab.url().trim_start_matches("http://").to_string();
    assert_eq!(first[1]["location"], format!("{host}/group/app/api"));
    let second = body(get(&format!("{repositories}&page=2"), private).await).await;
    assert_eq!(field_of(&second, "name"), [json!("web/ui")]);
    let api_id = first[1]["id"].as_i64().expect("an id");
    let again = body(get(&repositories, private).await).await;
    assert_eq!(again[1]["id"], api_id, "ids are stable");

    let tags = format!("{api}/projects/{id}/registry/repositories/{api_id}/tags?per_page=1");
    let first = get(&tags, private).await;
    assert_eq!(
        (header(&first, "x-total"), header(&first, "x-next-page")),
        ("2".into(), "2".into())
    );
    let first = body(first).await;
    assert_eq!(
        first,
        json!([{"name": "v1", "path": "group/app/api:v1",
                                "location": format!("{host}/group/app/api:v1")}])
    );
    let detail = format!("{api}/projects/{id}/registry/repositories/{api_id}/tags/v1");
    let detail = body(get(&detail, private).await).await;
    assert_eq!(detail["digest"], api_digest.as_str());
    assert!(detail["total_size"].as_i64().is_some_and(|s| s > 100));
    let revision = detail["revision"].as_str().expect("a revision");
    assert!(revision.len() == 64 && revision.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(detail["created_at"].is_string());
    let unknown = format!("{api}/projects/{id}/registry/repositories/{api_id}/tags/nope");
    assert_eq!(get(&unknown, private).await.status(), 404);
    let elsewhere = format!("{api}/projects/{id}/registry/repositories/999/tags");
    assert_eq!(get(&elsewhere, private).await.status(), 404);

    assert_eq!(
        get(&format!("{api}/groups/group"), private).await.status(),
        200
    );
    assert_eq!(
        body(get(&format!("{api}/groups/other"), private).await).await["full_path"],
        "other"
    );
    let missing = get(&format!("{api}/groups/nope"), private).await;
    assert_eq!(
        body(missing).await,
        json!({"message": "404 Group Not Found"})
    );
    assert_eq!(gitlab.calls().count("GET /api/v4/projects?"), 2);
}

#[tokio::test]
async fn the_jwt_token_flow_and_pushes_outside_projects() {
    let registry = TestRegistry::start();
    let app = registry
        .http()
        .push_image("group/app", "v1", &[layer(1, 100)])
        .await;
    let gitlab = FakeGitlab::start(&registry.url(), "ferry", TOKEN).await;
    gitlab.add_project("team/new");
    let url = gitlab.url();
    let client = reqwest::Client::new();
    let manifest = format!("{url}/v2/group/app/manifests/v1");
    let challenged = get(&manifest, None).await;
    assert_eq!(challenged.status(), 401);
    let expected = format!(
        "Bearer realm=\"{url}/jwt/auth\",service=\"container_registry\",scope=\"repository:group/app:pull\""
    );
    assert_eq!(header(&challenged, "www-authenticate"), expected);
    let token = |scope: &str| {
        let url = format!("{url}/jwt/auth?service=container_registry&scope={scope}");
        client.get(url).basic_auth("ferry", Some(TOKEN)).send()
    };
    let wrong = client.get(format!("{url}/jwt/auth?service=container_registry"));
    assert_eq!(
        wrong
            .basic_auth("ferry", Some("no"))
            .send()
            .await
            .expect("get")
            .status(),
        401
    );
    let issued = body(token("repository:group/app:pull").await.expect("get")).await;
    let bearer = format!("Bearer {}", issued["token"].as_str().expect("a token"));
    let pulled = get(&manifest, Some(("authorization", &bearer))).await;
    assert_eq!(pulled.status(), 200);
    assert_eq!(header(&pulled, "docker-content-digest"), app);

    let push = |repository: &str, bearer: String| {
        let upload = client.post(format!("{url}/v2/{repository}/blobs/uploads/"));
        upload.header("authorization", bearer).send()
    };
    let scope = "repository:team/new/svc:pull,push";
    let issued = body(token(scope).await.expect("get")).await;
    let bearer = format!("Bearer {}", issued["token"].as_str().expect("a token"));
    let started = push("team/new/svc", bearer).await.expect("post");
    assert_eq!(started.status(), 202, "a project added takes pushes");
    let issued = body(
        token("repository:stray/place/x:pull,push")
            .await
            .expect("get"),
    )
    .await;
    let bearer = format!("Bearer {}", issued["token"].as_str().expect("a token"));
    let refused = push("stray/place/x", bearer).await.expect("post");
    assert_eq!(refused.status(), 403, "no project stray/place");
    assert_eq!(
        body(refused).await,
        json!({"errors": [{"code": "DENIED", "message": "access forbidden"}]})
    );
}
