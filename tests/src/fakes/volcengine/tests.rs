//! The fake Volcengine CR against a real registry: signed calls and the signature's refusals,
//! namespaces and repositories (paged, filtered, created), tags, and the temporary password's
//! flow through to the registry, expiry and the repository-first rule included.

use super::*;
use crate::images::layer;
use crate::registry::TestRegistry;

const KEY: (&str, &str) = ("AKLTferrytest", "ferry-secret-key");
const REGION: &str = "cn-beijing";

/// An API call as a client makes it, signed with the ferry signer (Content-Type, Host,
/// X-Content-Sha256 and X-Date signed); each part can be spoilt.
struct Call {
    action: String,
    version: &'static str,
    params: Value,
    key: (&'static str, &'static str),
    region: &'static str,
    time: OffsetDateTime,
    /// A body sent instead of the one signed.
    sent: Option<Value>,
}

impl Call {
    fn new(action: &str, params: Value) -> Self {
        Call {
            action: action.to_string(),
            version: VERSION,
            params,
            key: KEY,
            region: REGION,
            time: OffsetDateTime::now_utc(),
            sent: None,
        }
    }

    /// The answer's status and body.
    async fn send(&self, url: &str) -> (u16, Value) {
        let host = url.trim_start_matches("http://");
        let body = self.params.to_string().into_bytes();
        let hash = hex::encode(sha2::Sha256::digest(&body));
        let headers = [
            ("Content-Type", "application/json"),
            ("X-Content-Sha256", hash.as_str()),
        ];
        let query = [("Action", self.action.as_str()), ("Version", self.version)];
        let request = signing::Request {
            method: "POST",
            host,
            path: "/",
            query: &query,
            headers: &headers,
            body: &body,
        };
        let scope = volc::Scope {
            region: self.region,
            service: "cr",
        };
        let credentials = Credentials {
            id: self.key.0,
            secret: self.key.1,
        };
        let signed = volc::sign(&request, &scope, &credentials, self.time).expect("signed");
        let sent = (self.sent.as_ref()).map_or(body, |v| v.to_string().into_bytes());
        let target = format!("{url}/?{}", signing::canonical_query(&query));
        let mut request = (reqwest::Client::new().post(target))
            .header("content-type", "application/json")
            .header("x-content-sha256", &hash)
            .body(sent);
        for (name, value) in &signed.additions {
            request = request.header(name, value);
        }
        let answer = request.send().await.expect("post");
        let status = answer.status().as_u16();
        let answer: Value = answer.json().await.expect("JSON");
        let metadata = &answer["ResponseMetadata"];
        assert!(metadata["RequestId"].is_string(), "{answer}");
        assert_eq!(
            (&metadata["Service"], &metadata["Region"]),
            (&json!("cr"), &json!(REGION))
        );
        (status, answer)
    }
}

/// A successful call's `Result`.
async fn call(cr: &FakeVolcCr, action: &str, params: Value) -> Value {
    let (status, answer) = Call::new(action, params).send(&cr.url()).await;
    assert_eq!(status, 200, "{action}: {answer}");
    assert_eq!(answer["ResponseMetadata"]["Action"], action);
    assert_eq!(answer["ResponseMetadata"]["Version"], VERSION);
    answer["Result"].clone()
}

/// A refused call's status and error code.
async fn refused(cr: &FakeVolcCr, call: Call) -> (u16, String) {
    let (status, answer) = call.send(&cr.url()).await;
    assert!(answer.get("Result").is_none(), "{answer}");
    let error = &answer["ResponseMetadata"]["Error"];
    assert!(error["Message"].is_string(), "{answer}");
    let code = error["Code"].as_str().map(String::from);
    (status, code.unwrap_or_else(|| panic!("an error: {answer}")))
}

fn names(result: &Value) -> Vec<String> {
    let items = result["Items"].as_array().cloned().unwrap_or_default();
    let names = items.iter().map(|i| i["Name"].as_str().map(String::from));
    names.map(|n| n.expect("a name")).collect()
}

#[tokio::test]
async fn signed_calls_work_and_bad_signatures_are_refused() {
    let registry = TestRegistry::start();
    let cr = FakeVolcCr::start(&registry.url(), KEY, "ferry", REGION).await;
    let issued = call(&cr, "GetAuthorizationToken", json!({"Registry": "ferry"})).await;
    assert_eq!(issued["Username"], "ferry@2100000000");
    assert!(issued["Token"].as_str().is_some_and(|t| !t.is_empty()));
    let expires = issued["ExpireTime"].as_str().expect("ExpireTime");
    assert!(expires.ends_with('Z'));
    let expires = OffsetDateTime::parse(expires, &Rfc3339).expect("RFC 3339");
    let left = (expires - OffsetDateTime::now_utc()).whole_seconds();
    assert!((3590..=3600).contains(&left), "an hour: {left}");
    assert_eq!(cr.credentials_issued(), 1);

    let token = || Call::new("GetAuthorizationToken", json!({"Registry": "ferry"}));
    let cases = [
        (
            Call {
                key: (KEY.0, "not-the-secret"),
                ..token()
            },
            401,
            "SignatureDoesNotMatch",
        ),
        (
            Call {
                key: ("AKLTunknown", KEY.1),
                ..token()
            },
            401,
            "InvalidAccessKey",
        ),
        (
            Call {
                time: OffsetDateTime::now_utc() - time::Duration::minutes(20),
                ..token()
            },
            403,
            "InvalidTimestamp",
        ),
        (
            Call {
                region: "cn-shanghai",
                ..token()
            },
            401,
            "SignatureDoesNotMatch",
        ),
        (
            Call {
                sent: Some(json!({"Registry": "other"})),
                ..token()
            },
            401,
            "SignatureDoesNotMatch",
        ),
        (
            Call {
                version: "2020-01-01",
                ..token()
            },
            404,
            "InvalidActionOrVersion",
        ),
        (
            Call::new("DeleteRegistry", json!({"Registry": "ferry"})),
            404,
            "InvalidActionOrVersion",
        ),
        (
            Call::new("GetAuthorizationToken", json!({"Registry": "other"})),
            404,
            "NotFound.Registry",
        ),
        (
            Call::new("GetAuthorizationToken", json!({})),
            400,
            "MissingParameter.Registry",
        ),
    ];
    for (call, status, code) in cases {
        assert_eq!(refused(&cr, call).await, (status, code.to_string()));
    }
    let unsigned = reqwest::Client::new()
        .post(format!(
            "{}/?Action=ListNamespaces&Version={VERSION}",
            cr.url()
        ))
        .json(&json!({"Registry": "ferry"}))
        .send()
        .await
        .expect("post");
    assert_eq!(unsigned.status(), 401);
    let unsigned: Value = unsigned.json().await.expect("JSON");
    assert_eq!(
        unsigned["ResponseMetadata"]["Error"]["Code"],
        "MissingAuthenticationToken"
    );
    let calls = cr.calls();
    assert_eq!(
        calls.count("POST /?Action=GetAuthorizationToken&Version=2022-05-12"),
        8
    );
    assert_eq!(cr.credentials_issued(), 1);
}

#[tokio::test]
async fn namespaces_in_pages_filtered_and_created_unless_denied() {
    let registry = TestRegistry::start();
    let http = registry.http();
    http.push_image("team/app", "v1", &[layer(1, 100)]).await;
    http.push_image("other/x", "v1", &[layer(2, 100)]).await;
    let cr = FakeVolcCr::start(&registry.url(), KEY, "ferry", REGION).await;
    cr.add_namespace("empty");

    let all = call(&cr, "ListNamespaces", json!({"Registry": "ferry"})).await;
    assert_eq!(names(&all), ["empty", "other", "team"]);
    assert_eq!(
        (&all["TotalCount"], &all["PageNumber"], &all["PageSize"]),
        (&json!(3), &json!(1), &json!(10))
    );
    assert_eq!(all["Registry"], "ferry");
    assert_eq!(all["Items"][0]["Project"], "default");
    assert!(all["Items"][0]["CreateTime"].is_string());
    let exact = json!({"Registry": "ferry", "Filter": {"Names": ["team"], "Projects": null}});
    assert_eq!(names(&call(&cr, "ListNamespaces", exact).await), ["team"]);
    let none = json!({"Registry": "ferry", "Filter": {"Names": ["tea"]}});
    let none = call(&cr, "ListNamespaces", none).await;
    assert_eq!(
        (&none["Items"], &none["TotalCount"]),
        (&json!([]), &json!(0))
    );
    let wildcard = json!({"Registry": "ferry", "Filter": {"Names": ["*t*"]}});
    let wildcard = call(&cr, "ListNamespaces", wildcard).await;
    assert_eq!(names(&wildcard), ["empty", "other", "team"]);
    cr.set_max_page_size(2);
    let page = |number: u64| json!({"Registry": "ferry", "PageNumber": number, "PageSize": 100});
    let first = call(&cr, "ListNamespaces", page(1)).await;
    assert_eq!(names(&first), ["empty", "other"]);
    assert_eq!(
        (&first["PageSize"], &first["TotalCount"]),
        (&json!(2), &json!(3))
    );
    let second = call(&cr, "ListNamespaces", page(2)).await;
    assert_eq!(names(&second), ["team"]);
    let too_big = json!({"Registry": "ferry", "PageSize": 101});
    assert_eq!(
        refused(&cr, Call::new("ListNamespaces", too_big)).await,
        (400, "InvalidParameter.PageSize".to_string())
    );

    let create = |name: &str| {
        Call::new(
            "CreateNamespace",
            json!({"Registry": "ferry", "Name": name}),
        )
    };
    let created = call(
        &cr,
        "CreateNamespace",
        json!({"Registry": "ferry", "Name": "fresh"}),
    )
    .await;
    assert_eq!(created, json!({}));
    let fresh = json!({"Registry": "ferry", "Filter": {"Names": ["fresh"]}});
    assert_eq!(call(&cr, "ListNamespaces", fresh).await["TotalCount"], 1);
    for taken in ["fresh", "team", "empty"] {
        assert_eq!(
            refused(&cr, create(taken)).await,
            (409, "AlreadyExists.Namespace".to_string())
        );
    }
    cr.deny_namespace_create();
    assert_eq!(
        refused(&cr, create("later")).await,
        (403, "AccessDenied".to_string())
    );
}

#[tokio::test]
async fn repositories_and_tags_in_pages() {
    let registry = TestRegistry::start();
    let http = registry.http();
    let v1 = http.push_image("team/app", "v1", &[layer(1, 100)]).await;
    http.push_image("team/app", "v2", &[layer(2, 100)]).await;
    let index = http.push_index("team/app", "multi", &["amd64"], 3).await;
    http.push_image("team/nested/tool", "v1", &[layer(4, 100)])
        .await;
    let chart = http.push_chart("team/chart", "0.1.0", 5).await;
    http.push_image("other/y", "v1", &[layer(6, 100)]).await;
    let cr = FakeVolcCr::start(&registry.url(), KEY, "ferry", REGION).await;

    let create = |namespace: &str, name: &str| {
        let params = json!({"Registry": "ferry", "Namespace": namespace, "Name": name});
        Call::new("CreateRepository", params)
    };
    let made =
        json!({"Registry": "ferry", "Namespace": "team", "Name": "made", "AccessLevel": "Public"});
    assert_eq!(call(&cr, "CreateRepository", made).await, json!({}));
    assert_eq!(
        refused(&cr, create("ghost", "x")).await,
        (404, "NotFound.Namespace".to_string())
    );
    for taken in ["made", "app", "nested/tool"] {
        assert_eq!(
            refused(&cr, create("team", taken)).await,
            (409, "AlreadyExists.Repository".to_string())
        );
    }
    cr.set_max_page_size(2);
    let page = |number: u64| {
        json!({"Registry": "ferry", "PageNumber": number, "PageSize": 10,
               "Filter": {"Namespaces": ["team"], "Names": null, "AccessLevels": null}})
    };
    let first = call(&cr, "ListRepositories", page(1)).await;
    assert_eq!(names(&first), ["app", "chart"]);
    assert_eq!(
        (&first["TotalCount"], &first["PageSize"], &first["Registry"]),
        (&json!(4), &json!(2), &json!("ferry"))
    );
    let item = &first["Items"][0];
    assert_eq!(
        (
            &item["Namespace"],
            &item["AccessLevel"],
            &item["Description"]
        ),
        (&json!("team"), &json!("Private"), &json!(""))
    );
    assert!(item["CreateTime"].is_string() && item["UpdateTime"].is_string());
    let second = call(&cr, "ListRepositories", page(2)).await;
    assert_eq!(names(&second), ["made", "nested/tool"]);
    assert_eq!(second["Items"][0]["AccessLevel"], "Public");
    let everything = call(&cr, "ListRepositories", json!({"Registry": "ferry"})).await;
    assert_eq!(everything["TotalCount"], 5);
    let public = json!({"Registry": "ferry", "Filter": {"AccessLevels": ["Public"]}});
    assert_eq!(
        names(&call(&cr, "ListRepositories", public).await),
        ["made"]
    );

    let tags = |repository: &str, number: u64| {
        json!({"Registry": "ferry", "Namespace": "team", "Repository": repository,
               "PageNumber": number, "PageSize": 10})
    };
    let first = call(&cr, "ListTags", tags("app", 1)).await;
    assert_eq!(names(&first), ["child-amd64", "multi"]);
    assert_eq!(
        (
            &first["Namespace"],
            &first["Repository"],
            &first["TotalCount"]
        ),
        (&json!("team"), &json!("app"), &json!(4))
    );
    let multi = &first["Items"][1];
    assert_eq!(
        (&multi["Digest"], &multi["Type"]),
        (&json!(index), &json!("Image"))
    );
    assert_eq!(
        (&multi["ImageAttributes"], &multi["ChartAttribute"]),
        (&json!([]), &Value::Null)
    );
    assert!(multi["Size"].as_u64().is_some_and(|s| s > 0) && multi["PushTime"].is_string());
    let second = call(&cr, "ListTags", tags("app", 2)).await;
    assert_eq!(names(&second), ["v1", "v2"]);
    assert_eq!(second["Items"][0]["Digest"], v1.as_str());
    let size = second["Items"][0]["Size"].as_u64();
    assert!(
        size.is_some_and(|s| s > 100),
        "the layer's 100 bytes and more"
    );
    let charts = call(&cr, "ListTags", tags("chart", 1)).await;
    assert_eq!(
        (&charts["Items"][0]["Type"], &charts["Items"][0]["Digest"]),
        (&json!("Chart"), &json!(chart))
    );
    let only = json!({"Registry": "ferry", "Namespace": "team", "Repository": "app",
                      "Filter": {"Names": ["v*"], "Types": ["Image"]}});
    assert_eq!(names(&call(&cr, "ListTags", only).await), ["v1", "v2"]);
    let nested = call(&cr, "ListTags", tags("nested/tool", 1)).await;
    assert_eq!(names(&nested), ["v1"]);
    let empty = call(&cr, "ListTags", tags("made", 1)).await;
    assert_eq!(
        (&empty["Items"], &empty["TotalCount"]),
        (&json!([]), &json!(0))
    );
    assert_eq!(
        refused(&cr, Call::new("ListTags", tags("none", 1))).await,
        (404, "NotFound.Repository".to_string())
    );
}

/// Pushes a one-layer image to `repository:tag` through the fake with `bearer`; its digest.
async fn push(url: &str, bearer: &str, repository: &str, tag: &str) -> String {
    let http = crate::images::RegistryHttp::with_authorization(url.into(), bearer.into());
    http.push_image(repository, tag, &[layer(9, 300)]).await
}

#[tokio::test]
async fn the_temporary_password_buys_registry_tokens_until_it_expires() {
    let registry = TestRegistry::start();
    let app = registry
        .http()
        .push_image("team/app", "v1", &[layer(1, 100)])
        .await;
    let cr = FakeVolcCr::start(&registry.url(), KEY, "ferry", REGION).await;
    let url = cr.url();
    let client = reqwest::Client::new();
    let manifest = format!("{url}/v2/team/app/manifests/v1");
    let get = |url: String, bearer: Option<String>| {
        let request = client
            .get(url)
            .header("accept", crate::fakes::MANIFEST_TYPES);
        match bearer {
            Some(bearer) => request.header("authorization", bearer).send(),
            None => request.send(),
        }
    };
    let challenged = get(manifest.clone(), None).await.expect("get");
    assert_eq!(challenged.status(), 401);
    let expected =
        format!("Bearer realm=\"{url}/token\",service=\"cr\",scope=\"repository:team/app:pull\"");
    let header = challenged.headers().get("www-authenticate");
    assert_eq!(
        header.and_then(|h| h.to_str().ok()),
        Some(expected.as_str())
    );

    let issued = call(&cr, "GetAuthorizationToken", json!({"Registry": "ferry"})).await;
    let user = issued["Username"].as_str().expect("a user").to_string();
    let password = issued["Token"].as_str().expect("a token").to_string();
    let scopes = "scope=repository:team/app:pull&scope=repository:team/made:pull,push\
                  &scope=repository:team/unmade:pull,push&scope=repository:ghost/x:pull,push";
    let token_url = format!("{url}/token?service=cr&{scopes}");
    let wrong = client.get(&token_url).basic_auth(&user, Some("no"));
    assert_eq!(wrong.send().await.expect("get").status(), 401);
    let bearer_of = |password: String| {
        let request = client.get(&token_url).basic_auth(&user, Some(password));
        async move {
            let answer = request.send().await.expect("get");
            assert_eq!(answer.status(), 200);
            let body: Value = answer.json().await.expect("JSON");
            format!("Bearer {}", body["token"].as_str().expect("a token"))
        }
    };
    let bearer = bearer_of(password.clone()).await;
    let pulled = get(manifest.clone(), Some(bearer.clone()))
        .await
        .expect("get");
    assert_eq!(pulled.status(), 200);
    let digest = pulled.headers().get("docker-content-digest");
    assert_eq!(digest.and_then(|d| d.to_str().ok()), Some(app.as_str()));

    for repository in ["team/unmade", "ghost/x"] {
        let upload = client.post(format!("{url}/v2/{repository}/blobs/uploads/"));
        let refused = upload.header("authorization", &bearer).send().await;
        let refused = refused.expect("post");
        assert_eq!(refused.status(), 404, "{repository} was not made");
        let refused: Value = refused.json().await.expect("JSON");
        let message = "repository name not known to registry";
        assert_eq!(
            refused,
            json!({"errors": [{"code": "NAME_UNKNOWN", "message": message}]})
        );
    }
    let made = json!({"Registry": "ferry", "Namespace": "team", "Name": "made"});
    call(&cr, "CreateRepository", made).await;
    let pushed = push(&url, &bearer, "team/made", "v1").await;
    let behind = registry.http().manifest_digest("team/made", "v1").await;
    assert_eq!(
        behind,
        Some(pushed),
        "the push landed in the registry behind"
    );

    cr.expire_credentials();
    let old = get(manifest.clone(), Some(bearer)).await.expect("get");
    assert_eq!(old.status(), 401, "the registry token expired");
    assert!(old.headers().contains_key("www-authenticate"));
    let again = client.get(&token_url).basic_auth(&user, Some(password));
    assert_eq!(
        again.send().await.expect("get").status(),
        401,
        "the temporary password expired"
    );
    let issued = call(&cr, "GetAuthorizationToken", json!({"Registry": "ferry"})).await;
    let bearer = bearer_of(issued["Token"].as_str().expect("a token").to_string()).await;
    assert_eq!(
        get(manifest, Some(bearer)).await.expect("get").status(),
        200
    );
    assert_eq!(cr.credentials_issued(), 2);
}
