//! The fake Harbor against a real registry: every endpoint, its paging, refusals and quirks.

use super::*;
use crate::images::layer;
use crate::registry::TestRegistry;

const ADMIN: (&str, &str) = ("admin", "pw");
const ROBOT: (&str, &str) = ("robot$ferry", "secret");

async fn get(url: &str, (user, password): (&str, &str)) -> reqwest::Response {
    let client = reqwest::Client::new();
    let request = client.get(url).basic_auth(user, Some(password));
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
async fn projects_and_repositories_in_pages_behind_basic_auth() {
    let registry = TestRegistry::start();
    let http = registry.http();
    http.push_image("proj/app", "v1", &[layer(1, 100)]).await;
    http.push_image("other/x", "v1", &[layer(2, 100)]).await;
    http.push_chart("proj/charts/demo", "0.1.0", 3).await;
    let harbor = FakeHarbor::start(&registry.url(), &[ADMIN, ROBOT]).await;
    let api = format!("{}/api/v2.0", harbor.url());
    let client = reqwest::Client::new();
    let pong = client
        .get(format!("{api}/ping"))
        .send()
        .await
        .expect("ping");
    assert_eq!(pong.text().await.expect("text"), "Pong");
    let refused = client
        .get(format!("{api}/projects"))
        .send()
        .await
        .expect("get");
    assert_eq!(refused.status(), 401);
    assert_eq!(body(refused).await["errors"][0]["code"], "UNAUTHORIZED");
    assert_eq!(
        get(&format!("{api}/projects"), ("admin", "no"))
            .await
            .status(),
        401
    );

    let first = get(&format!("{api}/projects?page=1&page_size=1"), ROBOT).await;
    assert_eq!(header(&first, "x-total-count"), "2");
    let next = "</api/v2.0/projects?page=2&page_size=1>; rel=\"next\"";
    assert_eq!(header(&first, "link"), next);
    let first = body(first).await;
    assert_eq!(first[0]["name"], "other");
    assert_eq!(first[0]["metadata"]["public"], "false");
    assert!(first[0]["project_id"].is_i64());
    let second = get(&format!("{api}/projects?page=2&page_size=1"), ADMIN).await;
    let prev = "</api/v2.0/projects?page=1&page_size=1>; rel=\"prev\"";
    assert_eq!(header(&second, "link"), prev);
    assert_eq!(body(second).await[0]["name"], "proj");
    let all = get(&format!("{api}/projects?page_size=1000"), ADMIN).await;
    assert!(all.headers().get("link").is_none());
    assert_eq!(body(all).await.as_array().map(Vec::len), Some(2));
    assert_eq!(
        get(&format!("{api}/projects?page=0"), ADMIN).await.status(),
        400
    );

    let head = |name: &str| {
        let url = format!("{api}/projects?project_name={name}");
        client.head(url).basic_auth("admin", Some("pw")).send()
    };
    assert_eq!(head("proj").await.expect("head").status(), 200);
    assert_eq!(head("new").await.expect("head").status(), 404);
    let create = |name: &str| {
        let project = json!({"project_name": name, "metadata": {"public": "false"}});
        let request = client.post(format!("{api}/projects")).json(&project);
        request.basic_auth("admin", Some("pw")).send()
    };
    let created = create("new").await.expect("post");
    assert_eq!(created.status(), 201);
    assert!(header(&created, "location").starts_with("/api/v2.0/projects/"));
    assert_eq!(create("new").await.expect("post").status(), 409);
    assert_eq!(create("proj").await.expect("post").status(), 409);
    assert_eq!(create("forbidden").await.expect("post").status(), 403);
    assert_eq!(head("new").await.expect("head").status(), 200);
    assert_eq!(harbor.projects().await, ["new", "other", "proj"]);
    let requests = harbor.project_requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(
        requests[0],
        json!({"project_name": "new", "metadata": {"public": "false"}})
    );

    let repositories = format!("{api}/projects/proj/repositories");
    let first = get(&format!("{repositories}?page_size=1"), ADMIN).await;
    assert_eq!(header(&first, "x-total-count"), "2");
    let next = "</api/v2.0/projects/proj/repositories?page=2&page_size=1>; rel=\"next\"";
    assert_eq!(header(&first, "link"), next);
    let first = body(first).await;
    assert_eq!(first[0]["name"], "proj/app");
    assert_eq!(first[0]["artifact_count"], 1);
    assert!(first[0]["id"].is_i64() && first[0]["project_id"].is_i64());
    let second = body(get(&format!("{repositories}?page=2&page_size=1"), ADMIN).await).await;
    assert_eq!(second[0]["name"], "proj/charts/demo");
    let empty = body(get(&format!("{api}/projects/new/repositories"), ADMIN).await).await;
    assert_eq!(empty, json!([]));
    let unknown = get(&format!("{api}/projects/nope/repositories"), ADMIN).await;
    assert_eq!(unknown.status(), 404);
    let error = json!({"errors": [{"code": "NOT_FOUND", "message": "project nope not found"}]});
    assert_eq!(body(unknown).await, error);

    harbor.throttle_next(2);
    for url in [format!("{api}/ping"), format!("{api}/projects")] {
        let throttled = get(&url, ADMIN).await;
        assert_eq!(
            (
                throttled.status().as_u16(),
                header(&throttled, "retry-after")
            ),
            (429, "1".into())
        );
    }
    assert_eq!(get(&format!("{api}/projects"), ADMIN).await.status(), 200);
    assert_eq!(harbor.calls().count("POST /api/v2.0/projects"), 4);
}

#[tokio::test]
async fn artifacts_have_types_tags_labels_and_cosign_accessories() {
    let registry = TestRegistry::start();
    let http = registry.http();
    let image = http.push_image("proj/app", "v1", &[layer(1, 100)]).await;
    assert_eq!(
        http.push_image("proj/app", "v2", &[layer(1, 100)]).await,
        image
    );
    let index = http
        .push_index("proj/app", "multi", &["amd64", "arm64"], 5)
        .await;
    let signature = http.push_cosign_signature("proj/app", &image).await;
    let chart = http.push_chart("proj/charts/demo", "0.1.0", 3).await;
    let harbor = FakeHarbor::start(&registry.url(), &[ADMIN]).await;
    harbor.set_labels("proj/app", &image, &["prod"]);
    let artifacts = format!("{}/api/v2.0/projects/proj/repositories", harbor.url());

    let url = format!("{artifacts}/app/artifacts?with_tag=true&with_label=true&page_size=100");
    let listed = body(get(&url, ADMIN).await).await;
    let listed = listed.as_array().expect("an array");
    assert_eq!(listed.len(), 4, "the image, the index and its two children");
    let of = |digest: &str| {
        listed
            .iter()
            .find(|a| a["digest"] == digest)
            .expect("listed")
    };
    let found = of(&image);
    assert_eq!(found["type"], "IMAGE");
    assert_eq!(
        found["media_type"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(
        found["manifest_media_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let tags: Vec<&Value> = found["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| &t["name"])
        .collect();
    assert_eq!(tags, ["v1", "v2"]);
    assert_eq!(found["tags"][0]["artifact_id"], found["id"]);
    assert_eq!(found["labels"][0]["name"], "prod");
    assert_eq!(found["labels"][0]["scope"], "g");
    let accessory = &found["accessories"][0];
    assert_eq!(accessory["subject_artifact_digest"], image.as_str());
    assert_eq!(accessory["digest"], signature.as_str());
    assert_eq!(accessory["type"], "signature.cosign");
    assert!(accessory["size"].as_u64().is_some_and(|s| s > 0));
    let found = of(&index);
    assert_eq!(found["type"], "IMAGE");
    assert_eq!(
        found["media_type"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        found["labels"],
        Value::Null,
        "no labels: null, as a nil list in Harbor"
    );
    assert_eq!(found["accessories"], Value::Null);
    assert!(listed.iter().all(|a| a["digest"] != signature.as_str()));

    let defaults = body(get(&format!("{artifacts}/app/artifacts"), ADMIN).await).await;
    assert!(defaults[0]["tags"].is_array() && defaults[0]["labels"].is_null());
    let untagged = get(&format!("{artifacts}/app/artifacts?with_tag=false"), ADMIN).await;
    assert!(body(untagged).await[0]["tags"].is_null());
    let first = get(
        &format!("{artifacts}/app/artifacts?with_tag=true&page_size=1"),
        ADMIN,
    )
    .await;
    let next = "</api/v2.0/projects/proj/repositories/app/artifacts\
        ?page=2&page_size=1&with_tag=true>; rel=\"next\"";
    assert_eq!(
        (header(&first, "x-total-count"), header(&first, "link")),
        ("4".into(), next.into())
    );

    let charts = body(get(&format!("{artifacts}/charts%252Fdemo/artifacts"), ADMIN).await).await;
    assert_eq!(charts[0]["digest"], chart.as_str());
    assert_eq!(charts[0]["type"], "CHART");
    assert_eq!(charts[0]["media_type"], HELM_CONFIG);
    assert_eq!(charts[0]["tags"][0]["name"], "0.1.0");
    let once = get(&format!("{artifacts}/charts%2Fdemo/artifacts"), ADMIN).await;
    assert_eq!(once.status(), 404, "a `/` escaped once routes nowhere");
    let unknown = get(&format!("{artifacts}/none/artifacts"), ADMIN).await;
    assert_eq!(
        body(unknown).await["errors"][0]["message"],
        "repository proj/none not found"
    );
}

#[tokio::test]
async fn registry_tokens_of_users_and_the_admins_catalog() {
    let registry = TestRegistry::start();
    let image = registry
        .http()
        .push_image("proj/app", "v1", &[layer(1, 100)])
        .await;
    let harbor = FakeHarbor::start(&registry.url(), &[ADMIN, ROBOT]).await;
    let url = harbor.url();
    let client = reqwest::Client::new();
    let manifest = format!("{url}/v2/proj/app/manifests/v1");
    let challenged = client.get(&manifest).send().await.expect("get");
    assert_eq!(challenged.status(), 401);
    let expected = format!(
        "Bearer realm=\"{url}/service/token\",service=\"harbor-registry\",\
         scope=\"repository:proj/app:pull\""
    );
    assert_eq!(header(&challenged, "www-authenticate"), expected);
    let token_url =
        format!("{url}/service/token?service=harbor-registry&scope=repository:proj/app:pull");
    assert_eq!(get(&token_url, ("admin", "no")).await.status(), 401);
    assert_eq!(
        client.get(&token_url).send().await.expect("get").status(),
        401
    );
    let token_url = &token_url;
    let token = |user| async move {
        let issued = body(get(token_url, user).await).await;
        assert_eq!(issued["token"], issued["access_token"]);
        assert_eq!(issued["expires_in"], 1800);
        issued["token"].as_str().expect("a token").to_string()
    };
    let (admin, robot) = (token(ADMIN).await, token(ROBOT).await);
    for token in [&admin, &robot] {
        let request = client.get(&manifest).bearer_auth(token);
        let request = request.header("accept", "application/vnd.oci.image.manifest.v1+json");
        let pulled = request.send().await.expect("get");
        assert_eq!(header(&pulled, "docker-content-digest"), image);
    }
    let catalog = format!("{url}/v2/_catalog");
    let listed = client
        .get(&catalog)
        .bearer_auth(&admin)
        .send()
        .await
        .expect("get");
    assert_eq!(body(listed).await["repositories"], json!(["proj/app"]));
    let refused = client
        .get(&catalog)
        .bearer_auth(&robot)
        .send()
        .await
        .expect("get");
    assert_eq!(refused.status(), 401);
    assert_eq!(
        body(refused).await["errors"][0]["message"],
        "unauthorized to list catalog"
    );
    let unknown = client
        .get(format!("{url}/v2/"))
        .bearer_auth("made-up")
        .send()
        .await;
    assert_eq!(unknown.expect("get").status(), 401);
}
