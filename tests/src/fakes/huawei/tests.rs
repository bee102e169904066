//! The fake SWR against a real registry: AK/SK signing and the gateway's refusals, the
//! repositories and tags in pages, organizations, and the temporary credential's token flow
//! through to the registry.

use ferry::adapters::registry::signing::{self, huawei, Credentials};
use time::OffsetDateTime;

use super::*;
use crate::images::layer;
use crate::registry::TestRegistry;

const KEY: (&str, &str) = ("HPUAFERRYTESTKEY0001", "ferry-test-secret-key");
const REGION: &str = "cn-north-4";

/// A request of the fake's API at `url`, signed as Ferry's client signs it
/// (`content-type;host;x-sdk-date`) with `key` at `time`.
fn signed(
    url: &str,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: &[u8],
    key: (&str, &str),
    time: OffsetDateTime,
) -> reqwest::RequestBuilder {
    let headers = [("Content-Type", "application/json")];
    let request = signing::Request {
        method,
        host: url.trim_start_matches("http://"),
        path,
        query,
        headers: &headers,
        body,
    };
    let credentials = Credentials {
        id: key.0,
        secret: key.1,
    };
    let signed = huawei::sign(&request, &credentials, time).expect("signed");
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let target = match encoded.is_empty() {
        true => format!("{url}{path}"),
        false => format!("{url}{path}?{encoded}"),
    };
    let mut builder = reqwest::Client::new()
        .request(method.parse().expect("a method"), target)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in &signed.additions {
        builder = builder.header(name, value);
    }
    builder
}

/// A signed API call with the right key, now.
async fn call(url: &str, method: &str, path: &str, query: &[(&str, &str)]) -> reqwest::Response {
    let now = OffsetDateTime::now_utc();
    let request = signed(url, method, path, query, b"", KEY, now);
    request.send().await.expect("request")
}

async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    let value = response.headers().get(name).map(|v| v.to_str());
    value.expect("the header").expect("text").to_string()
}

fn names(listed: &Value, key: &str) -> Vec<String> {
    let items = listed.as_array().cloned().unwrap_or_default();
    let names = items.iter().map(|i| i[key].as_str().map(String::from));
    names.map(|n| n.expect("a name")).collect()
}

/// Pushes a one-layer image to `repository:tag` through the fake with `bearer`: its manifest's
/// digest, or the status of the first refusal.
async fn push(url: &str, bearer: &str, repository: &str, tag: &str) -> Result<String, u16> {
    let http = crate::images::RegistryHttp::with_authorization(url.into(), bearer.into());
    http.try_push_image(repository, tag, &[layer(9, 100)]).await
}

#[tokio::test]
async fn signed_calls_pass_and_the_gateway_refuses_the_rest() {
    let registry = TestRegistry::start();
    let swr = FakeSwr::start(&registry.url(), KEY, REGION).await;
    swr.add_namespace("acme");
    let url = swr.url();
    let now = OffsetDateTime::now_utc();
    let listed = body(call(&url, "GET", "/v2/manage/namespaces", &[]).await).await;
    assert_eq!(names(&listed["namespaces"], "name"), ["acme"]);
    let acme = &listed["namespaces"][0];
    assert_eq!(
        (&acme["auth"], &acme["creator_name"]),
        (&json!(7), &json!("ferry"))
    );
    assert!(acme["id"].is_u64());
    let filtered = call(
        &url,
        "GET",
        "/v2/manage/namespaces",
        &[("namespace", "acme")],
    )
    .await;
    assert_eq!(filtered.status(), 200);

    let stale = now - time::Duration::minutes(20);
    let wrong = [
        ((KEY.0, "not-the-secret"), now, "verify aksk signature fail"),
        (("HPUAUNKNOWNKEY", KEY.1), now, "HPUAUNKNOWNKEY is unknown"),
        (KEY, stale, "more than 15 minutes"),
    ];
    for (key, time, what) in wrong {
        let request = signed(&url, "GET", "/v2/manage/namespaces", &[], b"", key, time);
        let refused = request.send().await.expect("request");
        assert_eq!(refused.status(), 401, "{what}");
        let refused = body(refused).await;
        assert_eq!(refused["error_code"], "APIGW.0301");
        let message = refused["error_msg"].as_str().expect("a message");
        assert!(message.starts_with("Incorrect IAM authentication information: "));
        assert!(message.contains(what), "{message}");
        assert!(refused["request_id"].is_string());
    }
    let created = json!({"namespace": "newco"}).to_string();
    let tampered = signed(
        &url,
        "POST",
        "/v2/manage/namespaces",
        &[],
        created.as_bytes(),
        KEY,
        now,
    );
    let tampered = tampered.body(json!({"namespace": "other"}).to_string());
    assert_eq!(tampered.send().await.expect("post").status(), 401);
    let moved = signed(
        &url,
        "GET",
        "/v2/manage/namespaces",
        &[("namespace", "a")],
        b"",
        KEY,
        now,
    );
    let moved = moved.query(&[("namespace", "b")]);
    assert_eq!(moved.send().await.expect("get").status(), 401);
    let client = reqwest::Client::new();
    let unsigned = client
        .get(format!("{url}/v2/manage/namespaces"))
        .send()
        .await;
    assert_eq!(unsigned.expect("get").status(), 401);
    let date = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .expect("a date");
    let undated = client
        .get(format!("{url}/v2/manage/namespaces"))
        .header("x-sdk-date", date)
        .header(
            "authorization",
            format!(
                "SDK-HMAC-SHA256 Access={}, SignedHeaders=host, Signature=00",
                KEY.0
            ),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(undated.status(), 401);
    let message = body(undated).await["error_msg"].as_str().map(String::from);
    assert!(message
        .expect("a message")
        .contains("must include x-sdk-date"));
    assert_eq!(swr.calls().count("GET /v2/manage/namespaces"), 8);
}

#[tokio::test]
async fn repositories_and_tags_in_pages_with_content_range() {
    let registry = TestRegistry::start();
    let http = registry.http();
    let app = http.push_image("acme/app", "v1", &[layer(1, 100)]).await;
    http.push_image("acme/app", "v2", &[layer(2, 100)]).await;
    let index = http.push_index("acme/app", "multi", &["amd64"], 3).await;
    http.push_image("acme/team/tool", "v1", &[layer(4, 100)])
        .await;
    http.push_image("acme/base", "v1", &[layer(5, 100)]).await;
    http.push_image("other/x", "v1", &[layer(6, 100)]).await;
    let swr = FakeSwr::start(&registry.url(), KEY, REGION).await;
    swr.set_max_page_size(2);
    let url = swr.url();
    let host = url.trim_start_matches("http://");

    let first = call(
        &url,
        "GET",
        "/v2/manage/repos",
        &[("namespace", "acme"), ("limit", "100"), ("offset", "0")],
    )
    .await;
    assert_eq!(header(&first, "content-range"), "0-2/3");
    let first = body(first).await;
    assert_eq!(names(&first, "name"), ["app", "base"]);
    let app_repository = &first[0];
    assert_eq!(app_repository["namespace"], "acme");
    assert_eq!(app_repository["total_range"], 3);
    assert_eq!(
        app_repository["tags"],
        json!(["child-amd64", "multi", "v1", "v2"])
    );
    assert_eq!(app_repository["num_images"], 4);
    assert_eq!(app_repository["path"], format!("{host}/acme/app"));
    assert_eq!(
        (&app_repository["is_public"], &app_repository["category"]),
        (&json!(false), &json!("other"))
    );
    assert!(app_repository["size"].as_u64().expect("a size") > 400);
    let second = call(
        &url,
        "GET",
        "/v2/manage/repos",
        &[("namespace", "acme"), ("limit", "100"), ("offset", "2")],
    )
    .await;
    assert_eq!(header(&second, "content-range"), "2-1/3");
    assert_eq!(names(&body(second).await, "name"), ["team/tool"]);
    let everything = call(&url, "GET", "/v2/manage/repos", &[("offset", "2")]).await;
    assert_eq!(header(&everything, "content-range"), "2-2/4");
    let everything = body(everything).await;
    assert_eq!(names(&everything, "namespace"), ["acme", "other"]);
    assert_eq!(names(&everything, "name"), ["team/tool", "x"]);
    let none = call(&url, "GET", "/v2/manage/repos", &[("namespace", "nope")]).await;
    assert_eq!(header(&none, "content-range"), "0-0/0");
    assert_eq!(body(none).await, json!([]));

    let tags = "/v2/manage/namespaces/acme/repos/app/tags";
    let first = call(&url, "GET", tags, &[("limit", "100"), ("offset", "0")]).await;
    assert_eq!(header(&first, "content-range"), "0-2/4");
    let first = body(first).await;
    assert_eq!(names(&first, "Tag"), ["child-amd64", "multi"]);
    let multi = &first[1];
    assert_eq!(
        (&multi["digest"], &multi["tag_type"]),
        (&json!(index), &json!(1))
    );
    assert_eq!(
        (&first[0]["tag_type"], &multi["schema"]),
        (&json!(0), &json!(2))
    );
    assert_eq!(multi["path"], format!("{host}/acme/app:multi"));
    let manifest: Value =
        serde_json::from_str(multi["manifest"].as_str().expect("a string")).expect("JSON");
    assert!(manifest["manifests"].is_array());
    let second = call(&url, "GET", tags, &[("limit", "100"), ("offset", "2")]).await;
    assert_eq!(header(&second, "content-range"), "2-2/4");
    let second = body(second).await;
    assert_eq!(names(&second, "Tag"), ["v1", "v2"]);
    let v1 = &second[0];
    assert_eq!(v1["digest"], app.as_str());
    let image_id = v1["image_id"].as_str().expect("an image id");
    assert_eq!(image_id.len(), 64, "the config's digest, hex");
    assert!(v1["size"].as_u64().expect("a size") > 100);
    assert_eq!(
        (&v1["deleted"], &v1["is_trusted"], &v1["scanned"]),
        (&json!(null), &json!(false), &json!(false))
    );
    let nested = "/v2/manage/namespaces/acme/repos/team$tool/tags";
    let nested = body(call(&url, "GET", nested, &[]).await).await;
    assert_eq!(names(&nested, "Tag"), ["v1"]);
    let missing = "/v2/manage/namespaces/acme/repos/none/tags";
    let missing = call(&url, "GET", missing, &[]).await;
    assert_eq!(missing.status(), 404);
    let missing = body(missing).await;
    assert_eq!(missing["error_code"], "SVCSTG.SWR.4040010");
    assert_eq!(missing["error_msg"], "The image repository was not found");
    assert_eq!(missing["errors"][0]["errorCode"], "SVCSTG.SWR.4040010");
    assert_eq!(missing["details"][0]["error_code"], "SVCSTG.SWR.4040010");
    assert_eq!(
        swr.calls()
            .count("GET /v2/manage/namespaces/acme/repos/app/tags"),
        2
    );
}

#[tokio::test]
async fn organizations_are_found_and_created_unless_taken_or_denied() {
    let registry = TestRegistry::start();
    registry
        .http()
        .push_image("other/x", "v1", &[layer(1, 100)])
        .await;
    let swr = FakeSwr::start(&registry.url(), KEY, REGION).await;
    swr.add_namespace("added");
    swr.take_namespace_elsewhere("taken");
    let url = swr.url();
    let listed = body(call(&url, "GET", "/v2/manage/namespaces", &[]).await).await;
    assert_eq!(names(&listed["namespaces"], "name"), ["added", "other"]);
    let other = body(call(&url, "GET", "/v2/manage/namespaces/other", &[]).await).await;
    assert_eq!(
        (&other["name"], &other["auth"]),
        (&json!("other"), &json!(7))
    );
    for missing in ["taken", "nope"] {
        let path = format!("/v2/manage/namespaces/{missing}");
        let answer = call(&url, "GET", &path, &[]).await;
        assert_eq!(answer.status(), 404);
        let answer = body(answer).await;
        assert_eq!(answer["error_code"], "SVCSTG.SWR.4040058");
        assert_eq!(
            answer["errors"][0]["errorMessage"],
            "Organization not found"
        );
    }
    let filtered = call(
        &url,
        "GET",
        "/v2/manage/namespaces",
        &[("namespace", "nope")],
    )
    .await;
    assert_eq!(filtered.status(), 404);

    let create = |name: &str| {
        let body = json!({"namespace": name}).to_string();
        let now = OffsetDateTime::now_utc();
        let path = "/v2/manage/namespaces";
        signed(&url, "POST", path, &[], body.as_bytes(), KEY, now).send()
    };
    let created = create("newco").await.expect("post");
    assert_eq!(created.status(), 201);
    assert_eq!(body(created).await, json!({}));
    let found = call(&url, "GET", "/v2/manage/namespaces/newco", &[]).await;
    assert_eq!(found.status(), 200);
    for taken in ["newco", "taken", "other"] {
        let again = create(taken).await.expect("post");
        assert_eq!(again.status(), 409, "{taken}");
        assert_eq!(body(again).await["error_code"], "SVCSTG.SWR.4090060");
    }
    assert_eq!(create("Bad_Name").await.expect("post").status(), 400);
    swr.deny_namespace_create();
    let denied = create("later").await.expect("post");
    assert_eq!(denied.status(), 403);
    let denied = body(denied).await;
    assert_eq!(
        (&denied["error_code"], &denied["error_msg"]),
        (
            &json!("SVCSTG.SWR.4030170"),
            &json!("Insufficient permissions")
        )
    );
}

#[tokio::test]
async fn the_temporary_credential_buys_tokens_and_a_push_lands() {
    let registry = TestRegistry::start();
    let app = registry
        .http()
        .push_image("acme/app", "v1", &[layer(1, 100)])
        .await;
    let swr = FakeSwr::start(&registry.url(), KEY, REGION).await;
    let url = swr.url();
    let host = url.trim_start_matches("http://").to_string();
    let secret = || {
        call(
            &url,
            "POST",
            "/v2/manage/utils/secret",
            &[("projectname", REGION)],
        )
    };

    let issued = secret().await;
    assert_eq!(issued.status(), 200);
    let login = header(&issued, "x-swr-dockerlogin");
    let expire_at = header(&issued, "x-swr-expireat");
    let issued = body(issued).await;
    let auth = issued["auths"][&host]["auth"].as_str().expect("an auth");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .expect("base64");
    let decoded = String::from_utf8(decoded).expect("text");
    let (user, password) = decoded.split_once(':').expect("user:password");
    let id = user.strip_prefix("cn-north-4@").expect("<region>@<id>");
    assert!(id
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert!(password.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        login,
        format!("docker login -u {user} -p {password} {host}")
    );
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    let until = time::PrimitiveDateTime::parse(&expire_at, format).expect("the expiry");
    let left = until.assume_utc() - OffsetDateTime::now_utc();
    assert!(left > time::Duration::hours(23) && left <= time::Duration::hours(24));
    assert_eq!(swr.credentials_issued(), 1);

    let manifest = format!("{url}/v2/acme/app/manifests/v1");
    let client = reqwest::Client::new();
    let challenged = client.get(&manifest).send().await.expect("get");
    assert_eq!(challenged.status(), 401);
    let expected = format!(
        "Bearer realm=\"{url}/swr/auth/v2/registry/auth/\",service=\"dockyard\",\
         scope=\"repository:acme/app:pull\""
    );
    assert_eq!(header(&challenged, "www-authenticate"), expected);
    let token = |scope: &str, user: &str, password: &str| {
        let realm = format!("{url}/swr/auth/v2/registry/auth/");
        let query = [("service", "dockyard"), ("scope", scope)];
        client
            .get(realm)
            .query(&query)
            .basic_auth(user, Some(password))
            .send()
    };
    let wrong = token("repository:acme/app:pull", user, "no")
        .await
        .expect("get");
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        body(wrong).await,
        json!({"errors": [{"code": "DENIED", "message": "Authenticate Error"}]})
    );
    let bearer = |answer: Value| format!("Bearer {}", answer["token"].as_str().expect("a token"));
    let reader = token("repository:acme/app:pull", user, password).await;
    let reader = bearer(body(reader.expect("get")).await);
    let pulled = client.get(&manifest).header("authorization", &reader);
    let pulled = pulled
        .header("accept", crate::fakes::MANIFEST_TYPES)
        .send()
        .await
        .expect("get");
    assert_eq!(pulled.status(), 200);
    assert_eq!(header(&pulled, "docker-content-digest"), app);
    let catalog = client.get(format!("{url}/v2/_catalog"));
    let catalog = catalog.header("authorization", &reader).send().await;
    assert_eq!(catalog.expect("get").status(), 404, "SWR has no catalog");

    let pusher = token("repository:acme/new:pull,push", user, password).await;
    let pusher = bearer(body(pusher.expect("get")).await);
    assert_eq!(push(&url, &reader, "acme/new", "v1").await, Err(401));
    let pushed = push(&url, &pusher, "acme/new", "v1").await.expect("pushed");
    let landed = registry.http().manifest_digest("acme/new", "v1").await;
    assert_eq!(landed.as_deref(), Some(pushed.as_str()));
    let repositories = call(&url, "GET", "/v2/manage/repos", &[("namespace", "acme")]).await;
    assert_eq!(names(&body(repositories).await, "name"), ["app", "new"]);
    let orphan = token("repository:nope/x:pull,push", user, password).await;
    let orphan = orphan.expect("get");
    assert_eq!(orphan.status(), 401);
    let message = "Image organization does not exist";
    assert_eq!(
        body(orphan).await,
        json!({"errors": [{"code": "DENIED", "message": message}]})
    );
    let looking = token("repository:nope/x:pull", user, password).await;
    assert_eq!(looking.expect("get").status(), 200);

    swr.expire_credentials();
    let expired = client.get(&manifest).header("authorization", &reader);
    let expired = expired.send().await.expect("get");
    assert_eq!(expired.status(), 401);
    assert!(expired.headers().contains_key("www-authenticate"));
    let old = token("repository:acme/app:pull", user, password).await;
    assert_eq!(old.expect("get").status(), 401);
    let renewed = body(secret().await).await;
    let auth = renewed["auths"][&host]["auth"].as_str().expect("an auth");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .expect("base64");
    let decoded = String::from_utf8(decoded).expect("text");
    let (user, password) = decoded.split_once(':').expect("user:password");
    let renewed = token("repository:acme/app:pull", user, password).await;
    let renewed = bearer(body(renewed.expect("get")).await);
    let pulled = client.get(&manifest).header("authorization", &renewed);
    let pulled = pulled.header("accept", crate::fakes::MANIFEST_TYPES);
    assert_eq!(pulled.send().await.expect("get").status(), 200);
    assert_eq!(swr.credentials_issued(), 2);
}
