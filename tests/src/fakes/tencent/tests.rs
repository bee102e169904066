//! The fake TCR against a real registry: signed calls and the signature's refusals, the
//! instances, namespaces (fuzzy, paged, created unless denied), repositories and images in
//! pages, and the instance token's flow through to the registry, expiry included.

use super::*;
use crate::images::layer;
use crate::registry::TestRegistry;

const KEY: (&str, &str) = ("AKIDferrytest0001", "ferry-secret-key");

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// An API call as a client makes it, signed with the ferry signer (Content-Type, Host and
/// X-TC-Action signed); each part can be spoilt.
struct Call {
    action: String,
    version: &'static str,
    region: Option<&'static str>,
    params: Value,
    key: (&'static str, &'static str),
    timestamp: i64,
    /// A body sent instead of the one signed.
    sent: Option<Value>,
}

impl Call {
    fn new(action: &str, params: Value) -> Self {
        Call {
            action: action.to_string(),
            version: VERSION,
            region: Some(REGION),
            params,
            key: KEY,
            timestamp: now(),
            sent: None,
        }
    }

    async fn send(&self, url: &str) -> Value {
        let host = url.trim_start_matches("http://");
        let body = self.params.to_string().into_bytes();
        let headers = [("Content-Type", "application/json")];
        let request = signing::Request {
            method: "POST",
            host,
            path: "/",
            query: &[],
            headers: &headers,
            body: &body,
        };
        let action = tc3::Action {
            service: "tcr",
            action: &self.action,
            version: self.version,
            region: self.region,
        };
        let credentials = Credentials {
            id: self.key.0,
            secret: self.key.1,
        };
        let signed = tc3::sign(&request, &action, &credentials, self.timestamp).expect("signed");
        let sent = (self.sent.as_ref()).map_or(body, |v| v.to_string().into_bytes());
        let mut request = (reqwest::Client::new().post(format!("{url}/")))
            .header("content-type", "application/json")
            .body(sent);
        for (name, value) in &signed.additions {
            request = request.header(name, value);
        }
        let answer = request.send().await.expect("post");
        assert_eq!(answer.status(), 200, "TCR answers errors with a 200 too");
        let answer: Value = answer.json().await.expect("JSON");
        assert!(answer["Response"]["RequestId"].is_string(), "{answer}");
        answer
    }
}

/// A successful call's `Response`.
async fn call(tcr: &FakeTcr, action: &str, params: Value) -> Value {
    let answer = Call::new(action, params).send(&tcr.url()).await;
    assert!(answer["Response"]["Error"].is_null(), "{action}: {answer}");
    answer["Response"].clone()
}

/// The error code of a call's answer.
async fn refused(tcr: &FakeTcr, call: Call) -> String {
    let answer = call.send(&tcr.url()).await;
    let code = answer["Response"]["Error"]["Code"]
        .as_str()
        .map(String::from);
    assert!(answer["Response"]["Error"]["Message"].is_string());
    code.unwrap_or_else(|| panic!("an error: {answer}"))
}

fn names(list: &Value, field: &str) -> Vec<String> {
    let items = list.as_array().cloned().unwrap_or_default();
    let names = items.iter().map(|i| i[field].as_str().map(String::from));
    names.map(|n| n.expect("a name")).collect()
}

#[tokio::test]
async fn signed_calls_find_the_instance_and_bad_signatures_are_refused() {
    let registry = TestRegistry::start();
    let tcr = FakeTcr::start(&registry.url(), KEY, "ferry").await;
    let id = tcr.registry_id();
    let suffix = id.strip_prefix("tcr-").expect("tcr-");
    assert_eq!(suffix.len(), 8);
    assert!(suffix
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));

    let all = call(&tcr, "DescribeInstances", json!({})).await;
    assert_eq!(all["TotalCount"], 2, "the fake's instance and another");
    let registries = all["Registries"].as_array().cloned().unwrap_or_default();
    let mine = (registries.iter())
        .find(|r| r["PublicDomain"] == tcr.domain().as_str())
        .expect("the instance of the fake's domain");
    assert_eq!(mine["RegistryId"], id.as_str());
    assert_eq!(mine["RegistryName"], "ferry");
    assert_eq!(
        (&mine["Status"], &mine["RegionName"], &mine["RegistryType"]),
        (&json!("Running"), &json!(REGION), &json!("premium"))
    );
    assert_eq!(mine["RegionId"], 1);
    assert!(mine["CreatedAt"].is_string());
    assert_ne!(registries[0]["RegistryId"], id.as_str(), "not first");
    assert_ne!(registries[0]["PublicDomain"], tcr.domain().as_str());
    let filter =
        json!({"Filters": [{"Name": "RegistryName", "Values": ["ferry"]}], "AllRegion": true});
    let found = call(&tcr, "DescribeInstances", filter).await;
    assert_eq!(names(&found["Registries"], "RegistryId"), [id.as_str()]);
    let by_id = call(&tcr, "DescribeInstances", json!({"Registryids": [id]})).await;
    assert_eq!(by_id["TotalCount"], 1);
    tcr.set_max_page_size(1);
    let first = call(&tcr, "DescribeInstances", json!({"Limit": 100})).await;
    assert_eq!(
        (
            first["Registries"].as_array().map(Vec::len),
            &first["TotalCount"]
        ),
        (Some(1), &json!(2))
    );
    let second = call(&tcr, "DescribeInstances", json!({"Offset": 1})).await;
    assert_eq!(names(&second["Registries"], "RegistryId"), [id.as_str()]);
    let elsewhere = Call {
        region: Some("ap-shanghai"),
        ..Call::new("DescribeInstances", json!({}))
    };
    let answer = elsewhere.send(&tcr.url()).await;
    assert_eq!(answer["Response"]["TotalCount"], 0, "not in that region");
    let everywhere = Call {
        region: Some("ap-shanghai"),
        ..Call::new("DescribeInstances", json!({"AllRegion": true}))
    };
    let answer = everywhere.send(&tcr.url()).await;
    assert_eq!(answer["Response"]["TotalCount"], 2);

    let token = || Call::new("CreateInstanceToken", json!({"RegistryId": id}));
    let wrong_secret = Call {
        key: (KEY.0, "not-the-secret"),
        ..token()
    };
    assert_eq!(
        refused(&tcr, wrong_secret).await,
        "AuthFailure.SignatureFailure"
    );
    let unknown = Call {
        key: ("AKIDunknown", KEY.1),
        ..token()
    };
    assert_eq!(refused(&tcr, unknown).await, "AuthFailure.SecretIdNotFound");
    let stale = Call {
        timestamp: now() - 600,
        ..token()
    };
    assert_eq!(refused(&tcr, stale).await, "AuthFailure.SignatureExpire");
    let ahead = Call {
        timestamp: now() + 600,
        ..token()
    };
    assert_eq!(refused(&tcr, ahead).await, "AuthFailure.SignatureExpire");
    let tampered = Call {
        sent: Some(json!({"RegistryId": "tcr-other000"})),
        ..token()
    };
    assert_eq!(
        refused(&tcr, tampered).await,
        "AuthFailure.SignatureFailure"
    );
    let old_version = Call {
        version: "2018-01-01",
        ..token()
    };
    assert_eq!(refused(&tcr, old_version).await, "NoSuchVersion");
    let no_action = Call::new("DescribeEverything", json!({}));
    assert_eq!(refused(&tcr, no_action).await, "InvalidAction");
    let other_region = Call {
        region: Some("ap-shanghai"),
        ..token()
    };
    assert_eq!(refused(&tcr, other_region).await, "ResourceNotFound");
    let other_instance = Call::new("CreateInstanceToken", json!({"RegistryId": "tcr-nothere"}));
    assert_eq!(refused(&tcr, other_instance).await, "ResourceNotFound");
    let unsigned = reqwest::Client::new()
        .post(format!("{}/", tcr.url()))
        .header("x-tc-action", "DescribeInstances")
        .header("x-tc-version", VERSION)
        .send()
        .await
        .expect("post");
    let unsigned: Value = unsigned.json().await.expect("JSON");
    assert!(unsigned["Response"]["Error"]["Code"].is_string());
    assert_eq!(tcr.calls().count("POST / DescribeInstances"), 8);
    assert_eq!(tcr.credentials_issued(), 0);
}

#[tokio::test]
async fn namespaces_match_fuzzily_in_pages_and_are_created_unless_denied() {
    let registry = TestRegistry::start();
    let http = registry.http();
    http.push_image("team/app", "v1", &[layer(1, 100)]).await;
    http.push_image("team-b/x", "v1", &[layer(2, 100)]).await;
    http.push_image("other/y", "v1", &[layer(3, 100)]).await;
    let tcr = FakeTcr::start(&registry.url(), KEY, "ferry").await;
    tcr.add_namespace("empty");
    let id = tcr.registry_id();

    let all = call(&tcr, "DescribeNamespaces", json!({"RegistryId": id})).await;
    let expected = ["empty", "other", "team", "team-b"];
    assert_eq!(names(&all["NamespaceList"], "Name"), expected);
    let first = &all["NamespaceList"][0];
    assert_eq!(
        (&first["Public"], &first["Metadata"]),
        (&json!(false), &json!([]))
    );
    assert!(first["NamespaceId"].is_u64() && first["CreationTime"].is_string());
    tcr.set_max_page_size(3);
    for (offset, expected) in [
        (0, &expected[..3]),
        (1, &expected[..3]),
        (2, &expected[3..]),
    ] {
        let params = json!({"RegistryId": id, "Limit": 20, "Offset": offset});
        let page = call(&tcr, "DescribeNamespaces", params).await;
        assert_eq!(names(&page["NamespaceList"], "Name"), expected);
        assert_eq!(page["TotalCount"], 4);
    }
    let fuzzy = json!({"RegistryId": id, "NamespaceName": "team"});
    let fuzzy = call(&tcr, "DescribeNamespaces", fuzzy).await;
    assert_eq!(names(&fuzzy["NamespaceList"], "Name"), ["team", "team-b"]);
    let too_many = Call::new(
        "DescribeNamespaces",
        json!({"RegistryId": id, "Limit": 101}),
    );
    assert_eq!(refused(&tcr, too_many).await, "InvalidParameterValue");
    let no_id = Call::new("DescribeNamespaces", json!({}));
    assert_eq!(refused(&tcr, no_id).await, "MissingParameter");

    let create = |name: &str, public: Option<bool>| {
        let mut params = json!({"RegistryId": id, "NamespaceName": name});
        if let Some(public) = public {
            params["IsPublic"] = json!(public);
        }
        Call::new("CreateNamespace", params)
    };
    assert_eq!(
        refused(&tcr, create("fresh", None)).await,
        "MissingParameter"
    );
    call(
        &tcr,
        "CreateNamespace",
        json!({"RegistryId": id, "NamespaceName": "fresh", "IsPublic": false}),
    )
    .await;
    let listed = json!({"RegistryId": id, "NamespaceName": "fresh"});
    let listed = call(&tcr, "DescribeNamespaces", listed).await;
    assert_eq!(names(&listed["NamespaceList"], "Name"), ["fresh"]);
    for taken in ["fresh", "team", "empty"] {
        assert_eq!(
            refused(&tcr, create(taken, Some(false))).await,
            "FailedOperation.ErrorTcrResourceConflict"
        );
    }
    assert_eq!(
        refused(&tcr, create("Bad_", Some(false))).await,
        "InvalidParameterValue"
    );
    tcr.deny_namespace_create();
    assert_eq!(
        refused(&tcr, create("later", Some(false))).await,
        "UnauthorizedOperation"
    );
}

#[tokio::test]
async fn repositories_and_images_in_pages() {
    let registry = TestRegistry::start();
    let http = registry.http();
    let v1 = http.push_image("team/app", "v1", &[layer(1, 100)]).await;
    http.push_image("team/app", "v2", &[layer(2, 100)]).await;
    let index = http.push_index("team/app", "multi", &["amd64"], 3).await;
    http.push_image("team/nested/tool", "v1", &[layer(4, 100)])
        .await;
    http.push_chart("team/chart", "0.1.0", 5).await;
    http.push_image("other/y", "v1", &[layer(6, 100)]).await;
    let tcr = FakeTcr::start(&registry.url(), KEY, "ferry").await;
    let id = tcr.registry_id();
    tcr.set_max_page_size(2);

    let page = |offset: u64| json!({"RegistryId": id, "Offset": offset, "Limit": 100});
    let first = call(&tcr, "DescribeRepositories", page(1)).await;
    assert_eq!(
        names(&first["RepositoryList"], "Name"),
        ["other/y", "team/app"]
    );
    assert_eq!(first["TotalCount"], 4);
    let repository = &first["RepositoryList"][1];
    assert_eq!(repository["Namespace"], "team");
    assert_eq!(
        (&repository["Public"], &repository["Description"]),
        (&json!(false), &json!(""))
    );
    assert!(repository["CreationTime"]
        .as_str()
        .is_some_and(|t| t.ends_with("+0000 UTC")));
    let second = call(&tcr, "DescribeRepositories", page(2)).await;
    assert_eq!(
        names(&second["RepositoryList"], "Name"),
        ["team/chart", "team/nested/tool"]
    );
    let third = call(&tcr, "DescribeRepositories", page(3)).await;
    assert_eq!(third["RepositoryList"], json!([]));
    let fuzzy = json!({"RegistryId": id, "NamespaceName": "team", "RepositoryName": "a"});
    let fuzzy = call(&tcr, "DescribeRepositories", fuzzy).await;
    assert_eq!(
        names(&fuzzy["RepositoryList"], "Name"),
        ["team/app", "team/chart"]
    );

    let images = |offset: u64, extra: Value| {
        let mut params = json!({"RegistryId": id, "NamespaceName": "team",
                                "RepositoryName": "app", "Offset": offset});
        for (key, value) in extra.as_object().cloned().unwrap_or_default() {
            params[key] = value;
        }
        params
    };
    let first = call(&tcr, "DescribeImages", images(0, json!({}))).await;
    let list = &first["ImageInfoList"];
    assert_eq!(names(list, "ImageVersion"), ["child-amd64", "multi"]);
    assert_eq!(first["TotalCount"], 4);
    assert_eq!(list[1]["Digest"], index.as_str());
    assert_eq!(
        list[1]["Kind"],
        "Artifact::application/vnd.oci.image.index.v1+json"
    );
    assert!(list[1]["Size"].as_u64().is_some_and(|s| s > 0));
    assert!(list[1]["UpdateTime"].is_string());
    let second = call(&tcr, "DescribeImages", images(2, json!({}))).await;
    assert_eq!(
        names(&second["ImageInfoList"], "ImageVersion"),
        ["v1", "v2"]
    );
    assert_eq!(second["ImageInfoList"][0]["Digest"], v1.as_str());
    let size = second["ImageInfoList"][0]["Size"].as_u64();
    assert!(
        size.is_some_and(|s| s > 100),
        "the layer's 100 bytes and more"
    );
    assert_eq!(
        second["ImageInfoList"][0]["Kind"],
        "Artifact::application/vnd.oci.image.manifest.v1+json"
    );
    let fuzzy = call(
        &tcr,
        "DescribeImages",
        images(1, json!({"ImageVersion": "v"})),
    )
    .await;
    assert_eq!(names(&fuzzy["ImageInfoList"], "ImageVersion"), ["v1", "v2"]);
    let exact = images(1, json!({"ImageVersion": "v1", "ExactMatch": true}));
    let exact = call(&tcr, "DescribeImages", exact).await;
    assert_eq!(names(&exact["ImageInfoList"], "ImageVersion"), ["v1"]);
    let nested =
        json!({"RegistryId": id, "NamespaceName": "team", "RepositoryName": "nested/tool"});
    let nested = call(&tcr, "DescribeImages", nested).await;
    assert_eq!(names(&nested["ImageInfoList"], "ImageVersion"), ["v1"]);
    let missing = json!({"RegistryId": id, "NamespaceName": "team", "RepositoryName": "none"});
    let missing = Call::new("DescribeImages", missing);
    assert_eq!(refused(&tcr, missing).await, "ResourceNotFound");
    assert_eq!(tcr.calls().count("POST / DescribeImages"), 6);
}

/// Pushes a one-layer image to `repository:tag` through the fake with `bearer`; its digest.
async fn push(url: &str, bearer: &str, repository: &str, tag: &str) -> String {
    let http = crate::images::RegistryHttp::with_authorization(url.into(), bearer.into());
    http.push_image(repository, tag, &[layer(9, 300)]).await
}

#[tokio::test]
async fn the_instance_token_buys_registry_tokens_until_it_expires() {
    let registry = TestRegistry::start();
    let app = registry
        .http()
        .push_image("team/app", "v1", &[layer(1, 100)])
        .await;
    let tcr = FakeTcr::start(&registry.url(), KEY, "ferry").await;
    let url = tcr.url();
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
    let expected = format!("Bearer realm=\"{url}/service/token\",service=\"harbor-registry\",scope=\"repository:team/app:pull\"");
    let header = challenged.headers().get("www-authenticate");
    assert_eq!(
        header.and_then(|h| h.to_str().ok()),
        Some(expected.as_str())
    );

    let id = tcr.registry_id();
    let issued = call(&tcr, "CreateInstanceToken", json!({"RegistryId": id})).await;
    assert_eq!(
        (&issued["Username"], &issued["TokenId"]),
        (&json!(USERNAME), &json!(""))
    );
    let expires = issued["ExpTime"].as_i64().expect("ExpTime");
    assert!(
        (expires - (now() + 3600) * 1000).abs() < 10_000,
        "milliseconds, an hour on"
    );
    let password = issued["Token"].as_str().expect("a token").to_string();
    assert_eq!(tcr.credentials_issued(), 1);
    let token_url = |scopes: &str| format!("{url}/service/token?service=harbor-registry&{scopes}");
    let scopes = "scope=repository:team/app:pull&scope=repository:team/new:pull,push\
                  &scope=repository:ghost/app:pull,push";
    let wrong = client
        .get(token_url(scopes))
        .basic_auth(USERNAME, Some("no"));
    assert_eq!(wrong.send().await.expect("get").status(), 401);
    let bearer_of = |password: String| {
        let request = client.get(token_url(scopes));
        async move {
            let answer = request.basic_auth(USERNAME, Some(password)).send().await;
            let answer = answer.expect("get");
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

    let pushed = push(&url, &bearer, "team/new", "v1").await;
    let behind = registry.http().manifest_digest("team/new", "v1").await;
    assert_eq!(
        behind,
        Some(pushed),
        "the push landed in the registry behind"
    );
    let upload = client.post(format!("{url}/v2/ghost/app/blobs/uploads/"));
    let denied = upload.header("authorization", &bearer).send().await;
    let denied = denied.expect("post");
    assert_eq!(denied.status(), 403, "no namespace ghost");
    let message = "requested access to the resource is denied: project ghost not found";
    let denied: Value = denied.json().await.expect("JSON");
    assert_eq!(
        denied,
        json!({"errors": [{"code": "DENIED", "message": message}]})
    );
    tcr.add_namespace("ghost");
    push(&url, &bearer, "ghost/app", "v1").await;

    tcr.expire_credentials();
    let old = get(manifest.clone(), Some(bearer)).await.expect("get");
    assert_eq!(old.status(), 401, "the registry token expired");
    assert!(old.headers().contains_key("www-authenticate"));
    let again = client
        .get(token_url(scopes))
        .basic_auth(USERNAME, Some(password));
    assert_eq!(
        again.send().await.expect("get").status(),
        401,
        "the instance token expired"
    );
    let issued = call(&tcr, "CreateInstanceToken", json!({"RegistryId": id})).await;
    let password = issued["Token"].as_str().expect("a token").to_string();
    let bearer = bearer_of(password).await;
    let pulled = get(manifest, Some(bearer)).await.expect("get");
    assert_eq!(pulled.status(), 200);
    assert_eq!(tcr.credentials_issued(), 2);
}
