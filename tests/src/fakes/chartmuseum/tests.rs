//! The fake ChartMuseum: uploads (raw and multipart, with provenance), conflicts and `force`,
//! the index and the chart files, the API's lookups (exact and by constraint), auth, and a
//! disabled API.

use super::*;
use crate::charts::Chart;

const BOUNDARY: &str = "ferry-test-boundary";

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON")
}

/// A multipart/form-data body of file parts (field, file name, content): its content type and
/// bytes, as `curl -F field=@file` sends them.
fn multipart(parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let mut bytes = Vec::new();
    for (field, file, content) in parts {
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        );
        bytes.extend_from_slice(head.as_bytes());
        bytes.extend_from_slice(content);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), bytes)
}

/// A provenance file for `name` `version` as `helm package --sign` writes one.
fn provenance(name: &str, version: &str) -> Vec<u8> {
    format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\napiVersion: v2\ndescription: A Helm chart for Kubernetes\nname: {name}\nversion: {version}\n\n...\nfiles:\n  {name}-{version}.tgz: sha256:00\n-----BEGIN PGP SIGNATURE-----\n\nwsBcBAEBCgAQ\n=k9Y9\n-----END PGP SIGNATURE-----"
    )
    .into_bytes()
}

async fn post_raw(url: &str, bytes: Vec<u8>) -> reqwest::Response {
    client()
        .post(url)
        .body(bytes)
        .send()
        .await
        .expect("request")
}

async fn post_form(url: &str, parts: &[(&str, &str, &[u8])]) -> reqwest::Response {
    let (content_type, bytes) = multipart(parts);
    let request = client().post(url).header("content-type", content_type);
    request.body(bytes).send().await.expect("request")
}

async fn get(url: &str) -> reqwest::Response {
    client().get(url).send().await.expect("request")
}

async fn head(url: &str) -> reqwest::Response {
    client().head(url).send().await.expect("request")
}

#[tokio::test]
async fn raw_and_multipart_uploads_are_stored_served_and_indexed() {
    let museum = FakeChartMuseum::start(None).await;
    let url = museum.url();
    let web = Chart::new("web", "1.0.0", 1).app_version("2.0");
    let db = Chart::new("db", "0.1.0", 2);

    let saved = post_raw(&format!("{url}/api/charts"), web.package()).await;
    assert_eq!(saved.status(), 201);
    assert_eq!(body(saved).await, json!({"saved": true}));
    let prov = provenance("db", "0.1.0");
    let parts: &[(&str, &str, &[u8])] = &[
        ("chart", "uploaded-name.tgz", &db.package()),
        ("prov", "db-0.1.0.tgz.prov", &prov),
    ];
    let saved = post_form(&format!("{url}/api/charts"), parts).await;
    assert_eq!(saved.status(), 201);
    assert_eq!(museum.uploads(), 2);
    assert_eq!(museum.package("web", "1.0.0"), Some(web.package()));
    assert_eq!(
        museum.package("db", "0.1.0"),
        Some(db.package()),
        "named from Chart.yaml"
    );
    assert_eq!(museum.provenance("db", "0.1.0"), Some(prov.clone()));
    assert_eq!(museum.versions("web"), ["1.0.0"]);

    let package = get(&format!("{url}/charts/web-1.0.0.tgz")).await;
    assert_eq!(package.status(), 200);
    assert_eq!(package.headers()["content-type"], "application/x-tar");
    assert_eq!(
        package.bytes().await.expect("bytes").to_vec(),
        web.package()
    );
    let signature = get(&format!("{url}/charts/db-0.1.0.tgz.prov")).await;
    assert_eq!(
        signature.headers()["content-type"],
        "application/pgp-signature"
    );
    assert_eq!(signature.bytes().await.expect("bytes").to_vec(), prov);
    let missing = get(&format!("{url}/charts/web-9.9.9.tgz")).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(body(missing).await, json!({"error": "object not found"}));
    assert_eq!(
        head(&format!("{url}/charts/web-1.0.0.tgz")).await.status(),
        404,
        "no HEAD route"
    );
    let other = get(&format!("{url}/charts/web-1.0.0.zip")).await;
    assert_eq!(other.status(), 500);
    assert_eq!(
        body(other).await,
        json!({"error": "unsupported file extension"})
    );

    let answer = get(&format!("{url}/index.yaml")).await;
    assert_eq!(answer.headers()["content-type"], "application/x-yaml");
    let index: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&answer.text().await.expect("text")).expect("YAML");
    assert_eq!(index["apiVersion"], "v1");
    assert!(index["serverInfo"]
        .as_mapping()
        .is_some_and(|m| m.is_empty()));
    assert!(index["generated"].is_string());
    let entry = &index["entries"]["web"][0];
    assert_eq!(entry["urls"][0], "charts/web-1.0.0.tgz");
    assert_eq!(entry["digest"].as_str(), Some(web.digest().as_str()));
    assert_eq!(entry["appVersion"], "2.0");
    assert!(entry["created"].is_string());
    assert_eq!(index["entries"]["db"][0]["version"], "0.1.0");
    assert_eq!(head(&format!("{url}/index.yaml")).await.status(), 200);
    assert_eq!(
        body(get(&format!("{url}/health")).await).await,
        json!({"healthy": true})
    );
    assert!(body(get(&format!("{url}/info")).await).await["version"].is_string());
    let unknown = get(&format!("{url}/nowhere")).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(body(unknown).await, json!({"error": "not found"}));
}

#[tokio::test]
async fn an_existing_chart_conflicts_unless_forced_and_invalid_ones_are_refused() {
    let museum = FakeChartMuseum::start(None).await;
    let api = format!("{}/api/charts", museum.url());
    let first = Chart::new("web", "1.0.0", 1);
    let second = Chart::new("web", "1.0.0", 2);
    assert_eq!(post_raw(&api, first.package()).await.status(), 201);

    let conflict = post_raw(&api, second.package()).await;
    assert_eq!(conflict.status(), 409);
    assert_eq!(
        body(conflict).await,
        json!({"error": "file already exists"})
    );
    let parts: &[(&str, &str, &[u8])] = &[("chart", "web.tgz", &second.package())];
    let conflict = post_form(&api, parts).await;
    assert_eq!(conflict.status(), 409);
    assert_eq!(
        body(conflict).await,
        json!({"error": "chart already exists"})
    );
    assert_eq!(museum.package("web", "1.0.0"), Some(first.package()));
    assert_eq!(museum.uploads(), 1);

    let forced = post_raw(&format!("{api}?force=false"), second.package()).await;
    assert_eq!(forced.status(), 201, "force counts by its presence");
    assert_eq!(museum.package("web", "1.0.0"), Some(second.package()));
    let forced = post_form(&format!("{api}?force"), parts).await;
    assert_eq!(forced.status(), 201);
    assert_eq!(museum.uploads(), 3);
    assert_eq!(museum.versions("web"), ["1.0.0"]);

    let garbage = post_raw(&api, b"not a chart".to_vec()).await;
    assert_eq!(garbage.status(), 400);
    assert!(body(garbage).await["error"].is_string());
    let bad_version = Chart::new("web", "one", 1);
    let refused = post_raw(&api, bad_version.package()).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        body(refused).await,
        json!({"error": "validation: chart.metadata.version \"one\" is invalid"})
    );
    let empty = post_form(&api, &[]).await;
    assert_eq!(empty.status(), 400);
    assert_eq!(
        body(empty).await,
        json!({"error": "no package or provenance file found in form fields chart and prov"})
    );
    let bad_prov: &[(&str, &str, &[u8])] = &[("prov", "x.prov", b"unsigned")];
    assert_eq!(post_form(&api, bad_prov).await.status(), 400);
    assert_eq!(museum.uploads(), 3);

    museum.set_max_upload_size(1024);
    let large = post_raw(&api, vec![0; 4096]).await;
    assert_eq!(large.status(), 413);
    assert_eq!(large.text().await.expect("text"), "request too large");
}

#[tokio::test]
async fn chart_versions_are_found_exactly_then_by_constraint() {
    let museum = FakeChartMuseum::start(None).await;
    for (version, seed) in [("1.0.0", 1), ("1.0.3", 2), ("1.1.0", 3), ("2.0.0-rc.1", 4)] {
        museum.add(&Chart::new("web", version, seed));
    }
    museum.add(&Chart::new("db", "0.1.0", 5));
    museum.add(&Chart::new("api", "0.2.0", 6));
    let api = format!("{}/api/charts", museum.url());
    let version_of = |answer: Value| answer["version"].as_str().map(String::from);

    let exact = body(get(&format!("{api}/web/1.0.0")).await).await;
    assert_eq!(version_of(exact.clone()).as_deref(), Some("1.0.0"));
    assert_eq!(exact["name"], "web");
    assert_eq!(exact["apiVersion"], "v2");
    assert_eq!(exact["urls"], json!(["charts/web-1.0.0.tgz"]));
    assert_eq!(
        exact["digest"].as_str(),
        Some(Chart::new("web", "1.0.0", 1).digest().as_str())
    );
    assert!(exact["created"].is_string());
    for (asked, answered) in [
        ("1.0", "1.0.3"),
        ("1", "1.1.0"),
        ("latest", "1.1.0"),
        ("1.x", "1.1.0"),
        ("2.0.0-rc.1", "2.0.0-rc.1"),
    ] {
        let found = body(get(&format!("{api}/web/{asked}")).await).await;
        assert_eq!(
            version_of(found).as_deref(),
            Some(answered),
            "asked {asked}"
        );
    }
    let none = get(&format!("{api}/web/3.0")).await;
    assert_eq!(none.status(), 404);
    assert_eq!(
        body(none).await,
        json!({"error": "no chart version found for web-3.0"})
    );
    let unknown = get(&format!("{api}/nope/1.0.0")).await;
    assert_eq!(body(unknown).await, json!({"error": "no chart name found"}));
    assert_eq!(head(&format!("{api}/web/1.0")).await.status(), 200);
    assert_eq!(head(&format!("{api}/web/3.0")).await.status(), 404);

    let versions = body(get(&format!("{api}/web")).await).await;
    let listed: Vec<&str> = (versions.as_array().expect("a list").iter())
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(listed, ["2.0.0-rc.1", "1.1.0", "1.0.3", "1.0.0"]);
    assert_eq!(museum.versions("web"), listed);
    let missing = get(&format!("{api}/nope")).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(body(missing).await, json!({"error": "chart not found"}));
    assert_eq!(head(&format!("{api}/web")).await.status(), 200);
    assert_eq!(head(&format!("{api}/nope")).await.status(), 404);

    let all = body(get(&api).await).await;
    let names: Vec<&String> = all.as_object().expect("a map").keys().collect();
    assert_eq!(names, ["api", "db", "web"]);
    let page = body(get(&format!("{api}?offset=1&limit=1")).await).await;
    assert_eq!(
        page.as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["db".to_string()])
    );
    assert_eq!(
        body(get(&format!("{api}?offset=1")).await).await,
        json!({}),
        "ChartMuseum's limit -1"
    );
    let bad = get(&format!("{api}?offset=-1")).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(
        body(bad).await,
        json!({"error": "offset is not a valid non-negative integer"})
    );
    let bad = get(&format!("{api}?limit=0")).await;
    assert_eq!(
        body(bad).await,
        json!({"error": "limit is not a valid positive integer"})
    );
}

#[tokio::test]
async fn provenance_uploads_and_deletes() {
    let museum = FakeChartMuseum::start(None).await;
    let url = museum.url();
    museum.add(&Chart::new("web", "1.0.0", 1));
    let prov_api = format!("{url}/api/prov");

    let saved = post_raw(&prov_api, provenance("web", "1.0.0")).await;
    assert_eq!(saved.status(), 201);
    assert_eq!(
        museum.provenance("web", "1.0.0"),
        Some(provenance("web", "1.0.0"))
    );
    let again = post_raw(&prov_api, provenance("web", "1.0.0")).await;
    assert_eq!(again.status(), 409);
    assert_eq!(body(again).await, json!({"error": "file already exists"}));
    assert_eq!(
        post_raw(&format!("{prov_api}?force"), provenance("web", "1.0.0"))
            .await
            .status(),
        201
    );
    let invalid = post_raw(&prov_api, b"name: web\nversion: 1.0.0\n".to_vec()).await;
    assert_eq!(invalid.status(), 500);
    assert_eq!(
        body(invalid).await,
        json!({"error": "invalid provenance file"})
    );
    assert_eq!(museum.uploads(), 0, "only POST /api/charts counts");

    let deleted = client()
        .delete(format!("{url}/api/charts/web/1.0"))
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), 404, "no constraint on delete");
    let deleted = client()
        .delete(format!("{url}/api/charts/web/1.0.0"))
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), 200);
    assert_eq!(body(deleted).await, json!({"deleted": true}));
    assert_eq!(museum.package("web", "1.0.0"), None);
    assert_eq!(
        museum.provenance("web", "1.0.0"),
        None,
        "the provenance goes too"
    );
    assert!(museum.versions("web").is_empty());
    let calls = museum.calls();
    assert_eq!(calls.count("DELETE /api/charts/web/"), 2);
}

#[tokio::test]
async fn basic_auth_guards_all_but_health_and_info() {
    let museum = FakeChartMuseum::start(Some(("ferry", "secret"))).await;
    let url = museum.url();
    museum.add(&Chart::new("web", "1.0.0", 1));
    use base64::Engine as _;
    let right = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ferry:secret")
    );
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ferry:nope")
    );
    let lower = right.replacen("Basic", "basic", 1);

    for authorization in [None, Some(wrong.as_str()), Some(lower.as_str())] {
        let mut request = client().get(format!("{url}/index.yaml"));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let refused = request.send().await.expect("request");
        assert_eq!(refused.status(), 401, "{authorization:?}");
        assert_eq!(
            refused.headers()["www-authenticate"],
            "Basic realm=\"ChartMuseum\""
        );
        assert_eq!(body(refused).await, json!({"error": "unauthorized"}));
    }
    let refused = post_raw(
        &format!("{url}/api/charts"),
        Chart::new("db", "1.0.0", 2).package(),
    )
    .await;
    assert_eq!(refused.status(), 401);
    for path in [
        "/index.yaml",
        "/charts/web-1.0.0.tgz",
        "/api/charts",
        "/api/charts/web/1.0.0",
    ] {
        let answer = client()
            .get(format!("{url}{path}"))
            .header("authorization", &right);
        assert_eq!(
            answer.send().await.expect("request").status(),
            200,
            "{path}"
        );
    }
    assert_eq!(get(&format!("{url}/health")).await.status(), 200);
    assert_eq!(get(&format!("{url}/info")).await.status(), 200);
    assert_eq!(
        get(&format!("{url}/nowhere")).await.status(),
        404,
        "the route is matched first"
    );
}

#[tokio::test]
async fn a_disabled_api_leaves_a_static_looking_repository() {
    let museum = FakeChartMuseum::start(None).await;
    let url = museum.url();
    museum.add(&Chart::new("web", "1.0.0", 1));
    museum.disable_api();
    for path in ["/api/charts", "/api/charts/web", "/api/charts/web/1.0.0"] {
        let answer = get(&format!("{url}{path}")).await;
        assert_eq!(answer.status(), 404, "{path}");
        assert_eq!(body(answer).await, json!({"error": "not found"}));
    }
    let refused = post_raw(
        &format!("{url}/api/charts"),
        Chart::new("db", "1.0.0", 2).package(),
    )
    .await;
    assert_eq!(refused.status(), 404);
    assert_eq!(museum.uploads(), 0);
    assert_eq!(get(&format!("{url}/index.yaml")).await.status(), 200);
    assert_eq!(
        get(&format!("{url}/charts/web-1.0.0.tgz")).await.status(),
        200
    );
}
