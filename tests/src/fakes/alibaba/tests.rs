//! The fake Alibaba ACR against a real registry, both editions: ROA and RPC signing and the
//! gateway's refusals, the listings in pages, namespaces and their auto-create rule, and the
//! temporary credential's token flow through to the registry.

use ferry::adapters::registry::signing::{self, alibaba, Credentials};
use time::OffsetDateTime;

use super::*;
use crate::images::layer;
use crate::registry::TestRegistry;

const KEY: (&str, &str) = ("LTAI5tFerryTestKey", "ferry-test-access-key-secret");
const REGION: &str = "cn-hangzhou";

fn nonce() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn md5_base64(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5(body))
}

/// A personal edition request with `headers`, signed with `key` at `time` (ROA).
fn roa_with(
    url: &str,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: &[u8],
    (key, time): ((&str, &str), OffsetDateTime),
) -> reqwest::RequestBuilder {
    let request = signing::Request {
        method,
        host: url.trim_start_matches("http://"),
        path,
        query,
        headers,
        body,
    };
    let credentials = Credentials {
        id: key.0,
        secret: key.1,
    };
    let signed = alibaba::sign_roa(&request, &credentials, time, &nonce()).expect("signed");
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let target = match encoded.is_empty() {
        true => format!("{url}{path}"),
        false => format!("{url}{path}?{encoded}"),
    };
    let mut builder = reqwest::Client::new()
        .request(method.parse().expect("a method"), target)
        .body(body.to_vec());
    let additions = signed.additions.iter();
    for (name, value) in headers
        .iter()
        .copied()
        .chain(additions.map(|(n, v)| (n.as_str(), v.as_str())))
    {
        builder = builder.header(name, value);
    }
    builder
}

/// A personal edition call as Ferry's client makes it: `Accept`, `Content-Type`,
/// `x-acs-version` and, with a body, its `Content-MD5`; signed with `key` at `time`.
fn roa(
    url: &str,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: &[u8],
    key: (&str, &str),
    time: OffsetDateTime,
) -> reqwest::RequestBuilder {
    let md5 = md5_base64(body);
    let mut headers = vec![
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("x-acs-version", "2016-06-07"),
    ];
    if !body.is_empty() {
        headers.push(("Content-MD5", &md5));
    }
    roa_with(url, method, path, query, &headers, body, (key, time))
}

/// A personal edition call with the right key, now: its status and body.
async fn personal(
    url: &str,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let request = roa(
        url,
        method,
        path,
        query,
        body,
        KEY,
        OffsetDateTime::now_utc(),
    );
    answer(request).await
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// The common parameters of an enterprise edition call and `parameters`, signed (RPC) with
/// `key` at `time` with `nonce`: every parameter, `Signature` last.
fn rpc_pairs(
    parameters: &[(&str, &str)],
    key: (&str, &str),
    time: OffsetDateTime,
    nonce: &str,
) -> Vec<(String, String)> {
    let mut all = vec![
        ("Format", "JSON"),
        ("RegionId", REGION),
        ("Version", "2018-12-01"),
    ];
    all.retain(|(name, _)| !parameters.iter().any(|(given, _)| given == name));
    all.extend(parameters);
    let credentials = Credentials {
        id: key.0,
        secret: key.1,
    };
    let signed = alibaba::sign_rpc("POST", &all, &credentials, time, nonce).expect("signed");
    let all = all.iter().map(|(n, v)| (n.to_string(), v.to_string()));
    all.chain(signed.additions).collect()
}

/// `POST /?<parameters>` as the SDK sends it.
fn rpc_request(url: &str, pairs: &[(String, String)]) -> reqwest::RequestBuilder {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    reqwest::Client::new()
        .post(format!("{url}/?{query}"))
        .header("content-type", "application/x-www-form-urlencoded")
}

/// An enterprise edition call with the right key, now, and a new nonce: its status and body.
async fn action(url: &str, parameters: &[(&str, &str)]) -> (u16, Value) {
    let pairs = rpc_pairs(parameters, KEY, OffsetDateTime::now_utc(), &nonce());
    answer(rpc_request(url, &pairs)).await
}

fn header(response: &reqwest::Response, name: &str) -> String {
    let value = response.headers().get(name).map(|v| v.to_str());
    value.expect("the header").expect("text").to_string()
}

fn names(items: &Value, key: &str) -> Vec<String> {
    let items = items.as_array().cloned().unwrap_or_default();
    let names = items.iter().map(|i| i[key].as_str().map(String::from));
    names.map(|n| n.expect("a name")).collect()
}

/// Pushes a one-layer image to `repository:tag` through the fake with `bearer`: its manifest's
/// digest, or the status of the first refusal.
async fn push(url: &str, bearer: &str, repository: &str, tag: &str) -> Result<String, u16> {
    let http = crate::images::RegistryHttp::with_authorization(url.into(), bearer.into());
    http.try_push_image(repository, tag, &[layer(9, 100)]).await
}

/// A registry token from the fake's token service for `scope` with the temporary credential
/// `token`: the `Authorization` value, or the refusal's status.
async fn bearer(url: &str, service: &str, scope: &str, token: &str) -> Result<String, u16> {
    let answer = reqwest::Client::new()
        .get(format!("{url}/auth"))
        .query(&[("service", service), ("scope", scope)])
        .basic_auth("cr_temp_user", Some(token))
        .send()
        .await
        .expect("token");
    if answer.status() != 200 {
        return Err(answer.status().as_u16());
    }
    let body: Value = answer.json().await.expect("JSON");
    Ok(format!(
        "Bearer {}",
        body["token"].as_str().expect("a token")
    ))
}

/// The refusal a write into `repository` gets: (status, the first error's code).
async fn write_refusal(url: &str, bearer: &str, repository: &str) -> (u16, Value) {
    let upload = reqwest::Client::new()
        .post(format!("{url}/v2/{repository}/blobs/uploads/"))
        .header("authorization", bearer);
    let (status, body) = answer(upload).await;
    (status, body["errors"][0].clone())
}

#[tokio::test]
async fn roa_signed_calls_pass_and_the_gateway_refuses_the_rest() {
    let registry = TestRegistry::start();
    let acr = FakeAliAcr::personal(&registry.url(), KEY, REGION).await;
    acr.add_namespace("acme");
    let url = acr.url();
    let now = OffsetDateTime::now_utc();
    let (status, listed) = personal(&url, "GET", "/namespace", &[], b"").await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["data"],
        json!({"namespaces": [{"namespace": "acme", "authorizeType": "ADMIN",
                               "namespaceStatus": "NORMAL"}]})
    );
    assert!(listed["requestId"].is_string());

    let stale = now - time::Duration::minutes(20);
    let wrong = [
        ((KEY.0, "not-the-secret"), now, 400, "SignatureDoesNotMatch"),
        (
            ("LTAIunknown", KEY.1),
            now,
            404,
            "InvalidAccessKeyId.NotFound",
        ),
        (KEY, stale, 400, "InvalidTimeStamp.Expired"),
    ];
    for (key, time, expected, code) in wrong {
        let (status, refused) = answer(roa(&url, "GET", "/namespace", &[], b"", key, time)).await;
        assert_eq!((status, &refused["code"]), (expected, &json!(code)));
        assert_eq!(refused["Code"], code);
        assert_eq!(refused["message"], refused["Message"]);
        assert!(refused["requestId"].is_string());
        assert_eq!(refused["requestId"], refused["RequestId"]);
    }
    let signed = roa(&url, "GET", "/repos", &[("Page", "1")], b"", KEY, now);
    let (status, moved) = answer(signed.query(&[("Page", "2")])).await;
    assert_eq!(
        (status, &moved["code"]),
        (400, &json!("SignatureDoesNotMatch"))
    );
    let unversioned = [("Accept", "application/json")];
    let unversioned = roa_with(
        &url,
        "GET",
        "/namespace",
        &[],
        &unversioned,
        b"",
        (KEY, now),
    );
    let (status, refused) = answer(unversioned).await;
    assert_eq!((status, &refused["code"]), (400, &json!("InvalidVersion")));
    let unsigned = reqwest::Client::new().get(format!("{url}/namespace"));
    let (status, refused) = answer(unsigned.header("x-acs-version", "2016-06-07")).await;
    assert_eq!(
        (status, &refused["code"]),
        (400, &json!("IncompleteSignature"))
    );

    let created = json!({"Namespace": {"Namespace": "newco"}}).to_string();
    let bare = [("Accept", "*/*"), ("x-acs-version", "2016-06-07")];
    let plain = roa_with(
        &url,
        "PUT",
        "/namespace",
        &[],
        &bare,
        created.as_bytes(),
        (KEY, now),
    );
    let (status, done) = answer(plain).await;
    assert_eq!(
        (status, &done["data"]),
        (200, &json!({})),
        "no Content-Type or Content-MD5 needed"
    );
    let other = json!({"Namespace": {"Namespace": "other"}}).to_string();
    let forged = [
        ("x-acs-version", "2016-06-07"),
        ("Content-MD5", &md5_base64(b"{}")),
    ];
    let forged = roa_with(
        &url,
        "PUT",
        "/namespace",
        &[],
        &forged,
        other.as_bytes(),
        (KEY, now),
    );
    let (status, refused) = answer(forged).await;
    assert_eq!(
        (status, &refused["code"]),
        (400, &json!("ContentMD5NotMatched"))
    );
    let (status, _) = personal(&url, "PUT", "/namespace", &[], other.as_bytes()).await;
    assert_eq!(status, 200, "with its own Content-MD5");
    let (status, missing) = personal(&url, "GET", "/nothing", &[], b"").await;
    assert_eq!(
        (status, &missing["code"]),
        (404, &json!("InvalidApi.NotFound"))
    );
    assert_eq!(acr.calls().count("GET /namespace"), 6);
}

#[tokio::test]
async fn personal_repositories_and_tags_in_pages() {
    let registry = TestRegistry::start();
    let http = registry.http();
    let app = http.push_image("acme/app", "v1", &[layer(1, 100)]).await;
    http.push_image("acme/app", "v2", &[layer(2, 100)]).await;
    let index = http.push_index("acme/app", "multi", &["amd64"], 3).await;
    http.push_image("acme/base", "v1", &[layer(4, 100)]).await;
    http.push_image("acme/web", "v1", &[layer(5, 100)]).await;
    http.push_image("acme/team/tool", "v1", &[layer(6, 100)])
        .await;
    http.push_image("other/x", "v1", &[layer(7, 100)]).await;
    let acr = FakeAliAcr::personal(&registry.url(), KEY, REGION).await;
    acr.set_max_page_size(2);
    let url = acr.url();
    let host = url.trim_start_matches("http://");

    let page = [("Page", "1"), ("PageSize", "30")];
    let (_, first) = personal(&url, "GET", "/repos/acme", &page, b"").await;
    let first = &first["data"];
    assert_eq!(
        (&first["page"], &first["pageSize"], &first["total"]),
        (&json!(1), &json!(2), &json!(3))
    );
    assert_eq!(names(&first["repos"], "repoName"), ["app", "base"]);
    let repo = &first["repos"][0];
    assert_eq!(
        (
            &repo["repoNamespace"],
            &repo["regionId"],
            &repo["repoType"],
            &repo["repoStatus"]
        ),
        (
            &json!("acme"),
            &json!(REGION),
            &json!("PRIVATE"),
            &json!("NORMAL")
        )
    );
    assert!(repo["repoId"].is_u64());
    assert!(repo["gmtCreate"].is_i64());
    assert_eq!(repo["repoDomainList"]["public"], host);
    let page = [("Page", "2"), ("PageSize", "30")];
    let (_, second) = personal(&url, "GET", "/repos/acme", &page, b"").await;
    assert_eq!(names(&second["data"]["repos"], "repoName"), ["web"]);
    let (_, all) = personal(&url, "GET", "/repos", &[("Page", "1")], b"").await;
    assert_eq!(
        all["data"]["total"], 4,
        "acme/team/tool is no personal repository"
    );
    let (status, missing) = personal(&url, "GET", "/repos/nope", &[], b"").await;
    assert_eq!(
        (status, &missing["code"]),
        (404, &json!("NAMESPACE_NOT_EXIST"))
    );

    let tags = "/repos/acme/app/tags";
    let (_, first) = personal(
        &url,
        "GET",
        tags,
        &[("Page", "1"), ("PageSize", "100")],
        b"",
    )
    .await;
    let first = &first["data"];
    assert_eq!(
        (&first["total"], &first["pageSize"]),
        (&json!(4), &json!(2))
    );
    assert_eq!(names(&first["tags"], "tag"), ["child-amd64", "multi"]);
    let hex = |digest: &str| digest.trim_start_matches("sha256:").to_string();
    assert_eq!(first["tags"][1]["digest"], hex(&index));
    let (_, second) = personal(&url, "GET", tags, &[("Page", "2")], b"").await;
    let v1 = &second["data"]["tags"][0];
    assert_eq!(
        (&v1["tag"], &v1["digest"]),
        (&json!("v1"), &json!(hex(&app)))
    );
    assert_eq!(v1["imageId"].as_str().map(str::len), Some(64));
    assert!(v1["imageSize"].as_u64().expect("a size") > 100);
    assert!(v1["imageCreate"].is_i64());
    assert_eq!(v1["status"], "NORMAL");
    let (status, missing) = personal(&url, "GET", "/repos/acme/none/tags", &[], b"").await;
    assert_eq!((status, &missing["code"]), (404, &json!("REPO_NOT_EXIST")));
    assert_eq!(missing["Code"], "REPO_NOT_EXIST");
}

#[tokio::test]
async fn personal_namespaces_the_auto_create_rule_and_the_token_flow() {
    let registry = TestRegistry::start();
    let app = registry
        .http()
        .push_image("acme/app", "v1", &[layer(1, 100)])
        .await;
    let acr = FakeAliAcr::personal(&registry.url(), KEY, REGION).await;
    let url = acr.url();
    let service = format!("registry.aliyuncs.com:{REGION}:26842");
    let (_, acme) = personal(&url, "GET", "/namespace/acme", &[], b"").await;
    assert_eq!(
        acme["data"]["namespace"],
        json!({"namespace": "acme", "authorizeType": "ADMIN", "defaultVisibility": "PRIVATE",
               "autoCreate": true, "namespaceStatus": "NORMAL"})
    );
    let (status, missing) = personal(&url, "GET", "/namespace/newco", &[], b"").await;
    assert_eq!(
        (status, &missing["code"]),
        (404, &json!("NAMESPACE_NOT_EXIST"))
    );
    let create = |name: &str| json!({"Namespace": {"Namespace": name}}).to_string();
    let (status, _) = personal(&url, "PUT", "/namespace", &[], create("newco").as_bytes()).await;
    assert_eq!(status, 200);
    let (_, newco) = personal(&url, "GET", "/namespace/newco", &[], b"").await;
    assert_eq!(newco["data"]["namespace"]["autoCreate"], false);
    let (status, again) = personal(&url, "PUT", "/namespace", &[], create("acme").as_bytes()).await;
    assert_eq!(
        (status, &again["code"]),
        (400, &json!("NAMESPACE_ALREADY_EXIST"))
    );

    let (_, issued) = personal(&url, "GET", "/tokens", &[], b"").await;
    let credential = &issued["data"];
    assert_eq!(credential["tempUserName"], "cr_temp_user");
    let token = credential["authorizationToken"].as_str().expect("a token");
    let left = credential["expireDate"].as_i64().expect("ms") - millis(OffsetDateTime::now_utc());
    assert!((3_500_000..=3_600_000).contains(&left));
    assert_eq!(acr.credentials_issued(), 1);
    let manifest = format!("{url}/v2/acme/app/manifests/v1");
    let challenged = reqwest::Client::new()
        .get(&manifest)
        .send()
        .await
        .expect("get");
    assert_eq!(challenged.status(), 401);
    let expected = format!(
        "Bearer realm=\"{url}/auth\",service=\"{service}\",scope=\"repository:acme/app:pull\""
    );
    assert_eq!(header(&challenged, "www-authenticate"), expected);
    assert_eq!(
        bearer(&url, &service, "repository:acme/app:pull", "no").await,
        Err(401)
    );
    let reader = bearer(&url, &service, "repository:acme/app:pull", token).await;
    let reader = reader.expect("a token");
    let pulled = reqwest::Client::new()
        .get(&manifest)
        .header("authorization", &reader);
    let pulled = pulled
        .header("accept", crate::fakes::MANIFEST_TYPES)
        .send()
        .await;
    let pulled = pulled.expect("get");
    assert_eq!(
        (
            pulled.status().as_u16(),
            header(&pulled, "docker-content-digest")
        ),
        (200, app)
    );

    let pusher = bearer(&url, &service, "repository:newco/app:pull,push", token).await;
    let pusher = pusher.expect("a token");
    let (status, refused) = write_refusal(&url, &pusher, "newco/app").await;
    assert_eq!((status, &refused["code"]), (403, &json!("DENIED")));
    let message = refused["message"].as_str().expect("a message");
    assert!(
        message.contains("does not exist and auto create is off"),
        "{message}"
    );
    let auto = json!({"Namespace": {"AutoCreate": true, "DefaultVisibility": "PRIVATE"}});
    let auto = auto.to_string();
    let (status, updated) = personal(&url, "POST", "/namespace/newco", &[], auto.as_bytes()).await;
    assert_eq!((status, &updated["data"]), (200, &json!({})));
    let pushed = push(&url, &pusher, "newco/app", "v1")
        .await
        .expect("pushed");
    let landed = registry.http().manifest_digest("newco/app", "v1").await;
    assert_eq!(landed.as_deref(), Some(pushed.as_str()));
    let (_, repos) = personal(&url, "GET", "/repos/newco", &[], b"").await;
    assert_eq!(names(&repos["data"]["repos"], "repoName"), ["app"]);
    let orphan = bearer(&url, &service, "repository:nope/x:pull,push", token).await;
    let (status, refused) = write_refusal(&url, &orphan.expect("a token"), "nope/x").await;
    assert_eq!((status, &refused["code"]), (403, &json!("DENIED")));
    let deep = bearer(&url, &service, "repository:acme/a/b:pull,push", token).await;
    let (status, refused) = write_refusal(&url, &deep.expect("a token"), "acme/a/b").await;
    assert_eq!((status, &refused["code"]), (400, &json!("NAME_INVALID")));

    acr.deny_namespace_create();
    let (status, denied) =
        personal(&url, "PUT", "/namespace", &[], create("later").as_bytes()).await;
    assert_eq!(
        (status, &denied["code"]),
        (403, &json!("NAMESPACE_LIMIT_EXCEED"))
    );

    acr.expire_credentials();
    let expired = reqwest::Client::new()
        .get(&manifest)
        .header("authorization", &reader);
    let expired = expired.send().await.expect("get");
    assert_eq!(expired.status(), 401);
    assert!(expired.headers().contains_key("www-authenticate"));
    assert_eq!(
        bearer(&url, &service, "repository:acme/app:pull", token).await,
        Err(401)
    );
    let (_, renewed) = personal(&url, "GET", "/tokens", &[], b"").await;
    let token = renewed["data"]["authorizationToken"]
        .as_str()
        .expect("a token");
    assert!(bearer(&url, &service, "repository:acme/app:pull", token)
        .await
        .is_ok());
    assert_eq!(acr.credentials_issued(), 2);
}

#[tokio::test]
async fn rpc_signed_calls_pass_and_the_gateway_refuses_the_rest() {
    let registry = TestRegistry::start();
    let acr = FakeAliAcr::enterprise(&registry.url(), KEY, REGION, "acme").await;
    let url = acr.url();
    let list = [
        ("Action", "ListInstance"),
        ("PageNo", "1"),
        ("PageSize", "30"),
    ];
    let (status, listed) = action(&url, &list).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&listed["Code"], &listed["IsSuccess"]),
        (&json!("success"), &json!(true))
    );
    assert!(listed["RequestId"].is_string());

    let now = OffsetDateTime::now_utc();
    let stale = now - time::Duration::minutes(20);
    let wrong = [
        ((KEY.0, "not-the-secret"), now, 400, "SignatureDoesNotMatch"),
        (
            ("LTAIunknown", KEY.1),
            now,
            404,
            "InvalidAccessKeyId.NotFound",
        ),
        (KEY, stale, 400, "InvalidTimeStamp.Expired"),
    ];
    for (key, time, expected, code) in wrong {
        let pairs = rpc_pairs(&list, key, time, &nonce());
        let (status, refused) = answer(rpc_request(&url, &pairs)).await;
        assert_eq!((status, &refused["Code"]), (expected, &json!(code)));
        assert!(refused["RequestId"].is_string() && refused["Message"].is_string());
    }
    let once = rpc_pairs(&list, KEY, now, "nonce-used-twice");
    assert_eq!(answer(rpc_request(&url, &once)).await.0, 200);
    let (status, replayed) = answer(rpc_request(&url, &once)).await;
    assert_eq!(
        (status, &replayed["Code"]),
        (400, &json!("SignatureNonceUsed"))
    );

    let in_form = rpc_pairs(&list, KEY, now, &nonce());
    let in_form: Vec<(&str, &str)> = in_form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let form = crate::fakes::form(reqwest::Client::new().post(format!("{url}/")), &in_form);
    assert_eq!(answer(form).await.0, 200, "the parameters in a form body");
    let mut tampered = rpc_pairs(&list, KEY, now, &nonce());
    tampered.push(("InstanceName".into(), "other".into()));
    let (status, refused) = answer(rpc_request(&url, &tampered)).await;
    assert_eq!(
        (status, &refused["Code"]),
        (400, &json!("SignatureDoesNotMatch"))
    );
    let mut unsigned = rpc_pairs(&list, KEY, now, &nonce());
    unsigned.retain(|(k, _)| k != "Signature");
    let (status, refused) = answer(rpc_request(&url, &unsigned)).await;
    assert_eq!(
        (status, &refused["Code"]),
        (400, &json!("MissingSignature"))
    );
    let old = [("Action", "ListInstance"), ("Version", "2016-06-07")];
    let (status, refused) = action(&url, &old).await;
    assert_eq!((status, &refused["Code"]), (400, &json!("InvalidVersion")));
    let (status, refused) = action(&url, &[("Action", "DeleteEverything")]).await;
    assert_eq!(
        (status, &refused["Code"]),
        (404, &json!("InvalidAction.NotFound"))
    );
    assert_eq!(acr.calls().count("POST /?"), 10);
}

#[tokio::test]
async fn instances_and_the_enterprise_token_flow() {
    let registry = TestRegistry::start();
    let app = registry
        .http()
        .push_image("acme/app", "v1", &[layer(1, 100)])
        .await;
    let acr = FakeAliAcr::enterprise(&registry.url(), KEY, REGION, "shop").await;
    let url = acr.url();
    let id = acr.instance_id();
    let suffix = id.strip_prefix("cri-").expect("cri-...");
    assert_eq!(suffix.len(), 16);
    assert!(suffix
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    let service = format!("registry.aliyuncs.com:{REGION}:china:{id}");

    let (_, listed) = action(
        &url,
        &[("Action", "ListInstance"), ("InstanceName", "shop")],
    )
    .await;
    assert_eq!(listed["TotalCount"], 2);
    assert_eq!(
        names(&listed["Instances"], "InstanceName"),
        ["shop-decoy", "shop"]
    );
    let shop = &listed["Instances"][1];
    assert_eq!(
        (
            &shop["InstanceId"],
            &shop["InstanceStatus"],
            &shop["RegionId"]
        ),
        (&json!(id), &json!("RUNNING"), &json!(REGION))
    );
    let decoy = listed["Instances"][0]["InstanceId"]
        .as_str()
        .expect("an id")
        .to_string();
    let only = [("Action", "ListInstance"), ("InstanceName", "shop-decoy")];
    assert_eq!(action(&url, &only).await.1["TotalCount"], 1);

    let credential = |instance: &str| {
        let instance = instance.to_string();
        let url = url.clone();
        async move {
            let asked = [
                ("Action", "GetAuthorizationToken"),
                ("InstanceId", instance.as_str()),
            ];
            action(&url, &asked).await
        }
    };
    let (status, unknown) = credential("cri-nonexistent0000").await;
    assert_eq!(status, 404);
    assert_eq!(
        (&unknown["Code"], &unknown["IsSuccess"]),
        (&json!("INSTANCE_NOT_EXIST"), &json!(false))
    );
    let (_, elsewhere) = credential(&decoy).await;
    let elsewhere = elsewhere["AuthorizationToken"]
        .as_str()
        .expect("a token")
        .to_string();
    let scope = "repository:acme/app:pull";
    assert_eq!(
        bearer(&url, &service, scope, &elsewhere).await,
        Err(401),
        "the decoy's"
    );
    let (_, issued) = credential(&id).await;
    assert_eq!(
        (&issued["TempUsername"], &issued["Code"]),
        (&json!("cr_temp_user"), &json!("success"))
    );
    let left = issued["ExpireTime"].as_i64().expect("ms") - millis(OffsetDateTime::now_utc());
    assert!((3_500_000..=3_600_000).contains(&left));
    let token = issued["AuthorizationToken"]
        .as_str()
        .expect("a token")
        .to_string();
    assert_eq!(acr.credentials_issued(), 2);
    let challenged = reqwest::Client::new()
        .get(format!("{url}/v2/"))
        .send()
        .await;
    let challenged = challenged.expect("get");
    let expected = format!("Bearer realm=\"{url}/auth\",service=\"{service}\"");
    assert_eq!(header(&challenged, "www-authenticate"), expected);
    let reader = bearer(&url, &service, scope, &token)
        .await
        .expect("a token");
    let manifest = format!("{url}/v2/acme/app/manifests/v1");
    let pulled = reqwest::Client::new()
        .get(&manifest)
        .header("authorization", &reader);
    let pulled = pulled
        .header("accept", crate::fakes::MANIFEST_TYPES)
        .send()
        .await;
    let pulled = pulled.expect("get");
    assert_eq!(
        (
            pulled.status().as_u16(),
            header(&pulled, "docker-content-digest")
        ),
        (200, app)
    );

    let create = |name: &'static str, auto: &'static str| {
        let url = url.clone();
        let id = id.clone();
        async move {
            let asked = [
                ("Action", "CreateNamespace"),
                ("InstanceId", id.as_str()),
                ("NamespaceName", name),
                ("AutoCreateRepo", auto),
                ("DefaultRepoType", "PRIVATE"),
            ];
            action(&url, &asked).await
        }
    };
    let (status, auto) = create("auto", "true").await;
    assert_eq!(
        (status, &auto["Code"], &auto["IsSuccess"]),
        (200, &json!("success"), &json!(true))
    );
    let (status, manual) = create("manual", "false").await;
    assert_eq!((status, &manual["IsSuccess"]), (200, &json!(true)));
    let pusher = |repository: &'static str| {
        let (url, service, token) = (url.clone(), service.clone(), token.clone());
        async move {
            let scope = format!("repository:{repository}:pull,push");
            bearer(&url, &service, &scope, &token)
                .await
                .expect("a token")
        }
    };
    let pushed = push(&url, &pusher("auto/team/app").await, "auto/team/app", "v1").await;
    let landed = registry.http().manifest_digest("auto/team/app", "v1").await;
    assert_eq!(landed, Some(pushed.expect("pushed")));
    let (status, refused) = write_refusal(&url, &pusher("manual/app").await, "manual/app").await;
    assert_eq!((status, &refused["code"]), (403, &json!("DENIED")));
    let (status, refused) = write_refusal(&url, &pusher("nope/app").await, "nope/app").await;
    assert_eq!((status, &refused["code"]), (403, &json!("DENIED")));
    let message = refused["message"].as_str().expect("a message");
    assert!(
        message.contains("namespace nope does not exist"),
        "{message}"
    );

    acr.expire_credentials();
    let expired = reqwest::Client::new()
        .get(&manifest)
        .header("authorization", &reader);
    assert_eq!(expired.send().await.expect("get").status(), 401);
    assert_eq!(bearer(&url, &service, scope, &token).await, Err(401));
    let (_, renewed) = credential(&id).await;
    let token = renewed["AuthorizationToken"].as_str().expect("a token");
    assert!(bearer(&url, &service, scope, token).await.is_ok());
    assert_eq!(acr.credentials_issued(), 3);
}

#[tokio::test]
async fn enterprise_namespaces_repositories_and_tags_in_pages() {
    let registry = TestRegistry::start();
    let http = registry.http();
    let app = http.push_image("acme/app", "v1", &[layer(1, 100)]).await;
    http.push_image("acme/app", "v2", &[layer(2, 100)]).await;
    let index = http.push_index("acme/app", "multi", &["amd64"], 3).await;
    http.push_image("acme/base", "v1", &[layer(4, 100)]).await;
    http.push_image("acme/team/tool", "v1", &[layer(5, 100)])
        .await;
    http.push_image("other/x", "v1", &[layer(6, 100)]).await;
    let acr = FakeAliAcr::enterprise(&registry.url(), KEY, REGION, "shop").await;
    acr.set_max_page_size(2);
    acr.add_namespace("zeta");
    let url = acr.url();
    let id = acr.instance_id();
    let id = id.as_str();

    let namespaces = |page: &'static str| {
        let url = url.clone();
        let id = id.to_string();
        async move {
            let asked = [
                ("Action", "ListNamespace"),
                ("InstanceId", id.as_str()),
                ("PageNo", page),
                ("PageSize", "30"),
            ];
            action(&url, &asked).await.1
        }
    };
    let first = namespaces("1").await;
    assert_eq!(
        (&first["TotalCount"], &first["PageSize"]),
        (&json!("3"), &json!(2))
    );
    assert_eq!(
        names(&first["Namespaces"], "NamespaceName"),
        ["acme", "other"]
    );
    let acme = &first["Namespaces"][0];
    assert_eq!(
        (
            &acme["NamespaceStatus"],
            &acme["AutoCreateRepo"],
            &acme["DefaultRepoType"],
            &acme["InstanceId"]
        ),
        (
            &json!("NORMAL"),
            &json!(true),
            &json!("PRIVATE"),
            &json!(id)
        )
    );
    assert!(acme["NamespaceId"]
        .as_str()
        .expect("an id")
        .starts_with("crn-"));
    assert_eq!(
        names(&namespaces("2").await["Namespaces"], "NamespaceName"),
        ["zeta"]
    );
    let get = [
        ("Action", "GetNamespace"),
        ("InstanceId", id),
        ("NamespaceName", "acme"),
    ];
    let (_, got) = action(&url, &get).await;
    assert_eq!(
        (&got["NamespaceId"], &got["IsSuccess"]),
        (&acme["NamespaceId"], &json!(true))
    );
    let missing = [
        ("Action", "GetNamespace"),
        ("InstanceId", id),
        ("NamespaceName", "nope"),
    ];
    let (status, missing) = action(&url, &missing).await;
    assert_eq!(status, 200, "a business error in a 2xx body");
    assert_eq!(
        (&missing["Code"], &missing["IsSuccess"]),
        (&json!("NAMESPACE_NOT_EXIST"), &json!(false))
    );
    let again = [
        ("Action", "CreateNamespace"),
        ("InstanceId", id),
        ("NamespaceName", "acme"),
        ("AutoCreateRepo", "true"),
        ("DefaultRepoType", "PRIVATE"),
    ];
    let (status, again) = action(&url, &again).await;
    assert_eq!(
        (status, &again["Code"]),
        (200, &json!("NAMESPACE_ALREADY_EXIST"))
    );
    assert_eq!(again["IsSuccess"], false);

    let repositories = |page: &'static str| {
        let url = url.clone();
        let id = id.to_string();
        async move {
            let asked = [
                ("Action", "ListRepository"),
                ("InstanceId", id.as_str()),
                ("RepoNamespaceName", "acme"),
                ("RepoStatus", "NORMAL"),
                ("PageNo", page),
                ("PageSize", "30"),
            ];
            action(&url, &asked).await.1
        }
    };
    let first = repositories("1").await;
    assert_eq!(first["TotalCount"], "3");
    assert_eq!(names(&first["Repositories"], "RepoName"), ["app", "base"]);
    let repo = &first["Repositories"][0];
    assert_eq!(
        (
            &repo["RepoNamespaceName"],
            &repo["RepoStatus"],
            &repo["RepoType"],
            &repo["InstanceId"]
        ),
        (
            &json!("acme"),
            &json!("NORMAL"),
            &json!("PRIVATE"),
            &json!(id)
        )
    );
    let repo_id = repo["RepoId"].as_str().expect("an id").to_string();
    assert!(repo_id.starts_with("crr-"));
    assert_eq!(
        repositories("1").await["Repositories"][0]["RepoId"],
        repo_id.as_str(),
        "stable"
    );
    assert_eq!(
        names(&repositories("2").await["Repositories"], "RepoName"),
        ["team/tool"]
    );
    let get = [
        ("Action", "GetRepository"),
        ("InstanceId", id),
        ("RepoNamespaceName", "acme"),
        ("RepoName", "app"),
    ];
    assert_eq!(action(&url, &get).await.1["RepoId"], repo_id.as_str());
    let missing = [
        ("Action", "GetRepository"),
        ("InstanceId", id),
        ("RepoNamespaceName", "acme"),
        ("RepoName", "none"),
    ];
    let (status, missing) = action(&url, &missing).await;
    assert_eq!(
        (status, &missing["Code"], &missing["IsSuccess"]),
        (200, &json!("REPO_NOT_EXIST"), &json!(false))
    );

    let tags = |page: &'static str| {
        let (url, id, repo_id) = (url.clone(), id.to_string(), repo_id.clone());
        async move {
            let asked = [
                ("Action", "ListRepoTag"),
                ("InstanceId", id.as_str()),
                ("RepoId", repo_id.as_str()),
                ("PageNo", page),
                ("PageSize", "30"),
            ];
            action(&url, &asked).await.1
        }
    };
    let first = tags("1").await;
    assert_eq!(first["TotalCount"], "4");
    assert_eq!(names(&first["Images"], "Tag"), ["child-amd64", "multi"]);
    let hex = |digest: &str| digest.trim_start_matches("sha256:").to_string();
    assert_eq!(first["Images"][1]["Digest"], hex(&index));
    let second = tags("2").await;
    let v1 = &second["Images"][0];
    assert_eq!(
        (&v1["Tag"], &v1["Digest"], &v1["Status"]),
        (&json!("v1"), &json!(hex(&app)), &json!("NORMAL"))
    );
    assert!(v1["ImageCreate"]
        .as_str()
        .expect("a string")
        .parse::<i64>()
        .is_ok());
    assert!(v1["ImageSize"].as_u64().expect("a size") > 100);
    let gone = [
        ("Action", "ListRepoTag"),
        ("InstanceId", id),
        ("RepoId", "crr-none"),
    ];
    assert_eq!(action(&url, &gone).await.1["Code"], "REPO_NOT_EXIST");

    acr.deny_namespace_create();
    let later = [
        ("Action", "CreateNamespace"),
        ("InstanceId", id),
        ("NamespaceName", "later"),
        ("AutoCreateRepo", "true"),
        ("DefaultRepoType", "PRIVATE"),
    ];
    let (status, denied) = action(&url, &later).await;
    assert_eq!(
        (status, &denied["Code"]),
        (403, &json!("NAMESPACE_LIMIT_EXCEED"))
    );
}
