//! The self-tests of [`super`]: a real registry behind the fake, exercised with plain HTTP.

use super::*;
use crate::fakes::form;
use crate::images::{digest_of, layer};
use crate::registry::TestRegistry;

const OCI: &str = "application/vnd.oci.image.manifest.v1+json";

type Change = Box<dyn FnOnce(&mut Value)>;

/// A JWT of the service account's, as Google's client libraries make it, with `change`
/// made to its claims.
fn assertion(google: &FakeGoogle, change: impl FnOnce(&mut Value)) -> String {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let key: Value = serde_json::from_str(&google.key_json()).expect("key json");
    let now = now();
    let mut claims = json!({
        "iss": key["client_email"], "aud": key["token_uri"], "scope": CLOUD_PLATFORM,
        "iat": now, "exp": now + 3600,
    });
    change(&mut claims);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = key["private_key_id"].as_str().map(String::from);
    let pem = key["private_key"].as_str().expect("pem");
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).expect("key"),
    )
    .expect("jwt")
}

async fn exchange(google: &FakeGoogle, assertion: &str) -> reqwest::Response {
    form(
        reqwest::Client::new().post(format!("{}/token", google.url())),
        &[("grant_type", JWT_BEARER), ("assertion", assertion)],
    )
    .send()
    .await
    .expect("token")
}

async fn access_token(google: &FakeGoogle) -> String {
    let answer: Value = exchange(google, &assertion(google, |_| {}))
        .await
        .json()
        .await
        .expect("json");
    answer["access_token"].as_str().expect("token").to_string()
}

#[tokio::test]
async fn jwt_grant_and_repositories_api() {
    let registry = TestRegistry::start();
    let google = FakeGoogle::start(&registry.url(), "proj", "europe-west1").await;
    let granted = exchange(&google, &assertion(&google, |_| {})).await;
    assert_eq!(granted.status(), 200);
    let body: Value = granted.json().await.expect("json");
    assert!(body["access_token"]
        .as_str()
        .expect("token")
        .starts_with("ya29."));
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["token_type"], "Bearer");
    let now = now();
    let refusals: Vec<Change> = vec![
        Box::new(|c| c["aud"] = json!("https://oauth2.googleapis.com/token")),
        Box::new(|c| c["iss"] = json!("someone@else.iam.gserviceaccount.com")),
        Box::new(|c| c["scope"] = json!("https://www.googleapis.com/auth/devstorage.read_only")),
        Box::new(move |c| c["exp"] = json!(now + 7200)),
        Box::new(move |c| {
            c["iat"] = json!(now - 7200);
            c["exp"] = json!(now - 3600)
        }),
        Box::new(move |c| {
            c["iat"] = json!(now + 600);
            c["exp"] = json!(now + 1200)
        }),
    ];
    for change in refusals {
        let refused = exchange(&google, &assertion(&google, change)).await;
        assert_eq!(refused.status(), 400);
        let body: Value = refused.json().await.expect("json");
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
    let mut forged = assertion(&google, |_| {});
    forged.replace_range(forged.len() - 6.., "AAAAAA");
    assert_eq!(exchange(&google, &forged).await.status(), 400);
    let wrong_grant = form(
        reqwest::Client::new().post(format!("{}/token", google.url())),
        &[
            ("grant_type", "client_credentials"),
            ("assertion", &assertion(&google, |_| {})),
        ],
    )
    .send()
    .await
    .expect("token");
    assert_eq!(wrong_grant.status(), 400);
    assert_eq!(google.tokens_minted(), 1);

    let token = access_token(&google).await;
    let client = reqwest::Client::new();
    let base = format!(
        "{}/v1/projects/proj/locations/europe-west1/repositories",
        google.url()
    );
    let anonymous = client
        .get(format!("{base}/images"))
        .send()
        .await
        .expect("get");
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.expect("json");
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    let get = |path: String| client.get(path).bearer_auth(&token).send();
    let create = |query: &str, body: Value| {
        client
            .post(format!("{base}{query}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let missing = get(format!("{base}/images")).await.expect("get");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["error"]["status"], "NOT_FOUND");
    let docker = json!({"format": "DOCKER"});
    assert_eq!(
        create("", docker.clone()).await.expect("post").status(),
        400
    );
    assert_eq!(
        create("?repositoryId=images", json!({"format": "MAVEN"}))
            .await
            .expect("post")
            .status(),
        400
    );
    assert_eq!(
        create("?repositoryId=Bad_Id", docker.clone())
            .await
            .expect("post")
            .status(),
        400
    );
    let created = create("?repositoryId=images", docker.clone())
        .await
        .expect("post");
    assert_eq!(created.status(), 200);
    let operation: Value = created.json().await.expect("json");
    assert_eq!(operation["done"], true);
    assert_eq!(
        operation["response"]["name"],
        "projects/proj/locations/europe-west1/repositories/images"
    );
    assert_eq!(operation["response"]["format"], "DOCKER");
    let name = operation["name"].as_str().expect("name");
    assert!(name.starts_with("projects/proj/locations/europe-west1/operations/"));
    let polled: Value = get(format!("{}/v1/{name}", google.url()))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(polled, operation);
    let found: Value = get(format!("{base}/images"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(found["format"], "DOCKER");
    assert!(found["createTime"].is_string());
    let again = create("?repositoryId=images", docker.clone())
        .await
        .expect("post");
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.expect("json");
    assert_eq!(body["error"]["status"], "ALREADY_EXISTS");
    let elsewhere = format!(
        "{}/v1/projects/other/locations/europe-west1/repositories",
        google.url()
    );
    assert_eq!(
        get(format!("{elsewhere}/images"))
            .await
            .expect("get")
            .status(),
        404
    );
    let denied = client
        .post(format!("{elsewhere}?repositoryId=x"))
        .bearer_auth(&token)
        .json(&docker)
        .send()
        .await
        .expect("post");
    assert_eq!(denied.status(), 403);
    google.deny_create();
    let denied = create("?repositoryId=more", docker).await.expect("post");
    assert_eq!(denied.status(), 403);
    let body: Value = denied.json().await.expect("json");
    assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
    assert_eq!(google.repositories(), ["images"]);
    google.set_token_lifetime(0);
    assert_eq!(
        get(format!("{base}/images")).await.expect("get").status(),
        401
    );
}

#[tokio::test]
async fn registry_tokens_and_pushes_need_a_repository() {
    let registry = TestRegistry::start();
    let google = FakeGoogle::start(&registry.url(), "proj", "us").await;
    google.add_repository("images");
    let client = reqwest::Client::new();
    let manifest = format!("{}/v2/proj/images/app/manifests/v1", google.url());
    let refused = client.put(&manifest).send().await.expect("put");
    assert_eq!(refused.status(), 401);
    let service = google.url().trim_start_matches("http://").to_string();
    assert_eq!(
        refused.headers()["www-authenticate"],
        format!("Bearer realm=\"{}/v2/token\",service=\"{service}\",scope=\"repository:proj/images/app:pull,push\"", google.url())
    );
    let token = |user: &str, password: &str, scope: &str| {
        client
            .get(format!("{}/v2/token", google.url()))
            .query(&[("service", service.as_str()), ("scope", scope)])
            .basic_auth(user, Some(password))
            .send()
    };
    let bearer = |answer: reqwest::Response| async move {
        assert_eq!(answer.status(), 200);
        let body: Value = answer.json().await.expect("json");
        assert_eq!(body["expires_in"], 3600);
        body["token"].as_str().expect("token").to_string()
    };
    let key = google.key_json();
    assert_eq!(
        token("_json_key", "{}", "repository:proj/images/app:pull")
            .await
            .expect("token")
            .status(),
        401
    );
    let writer = bearer(
        token(
            "_json_key",
            &key,
            "repository:proj/images/app:pull,push repository:proj/missing/app:pull,push",
        )
        .await
        .expect("token"),
    )
    .await;

    // The image's blobs go straight to the registry behind; its manifest through the fake.
    let config = registry.http().push_blob("proj/images/app", b"{}").await;
    let bytes = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [],
    }))
    .expect("json");
    let put = client
        .put(&manifest)
        .bearer_auth(&writer)
        .header("content-type", OCI)
        .body(bytes.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 201);
    let upload = client
        .post(format!(
            "{}/v2/proj/images/app/blobs/uploads/",
            google.url()
        ))
        .bearer_auth(&writer)
        .send()
        .await
        .expect("post");
    assert_eq!(upload.status(), 202);
    for missing in [
        client.post(format!(
            "{}/v2/proj/missing/app/blobs/uploads/",
            google.url()
        )),
        client
            .put(format!("{}/v2/proj/missing/app/manifests/v1", google.url()))
            .header("content-type", OCI)
            .body(bytes.clone()),
    ] {
        let answer = missing.bearer_auth(&writer).send().await.expect("push");
        assert_eq!(answer.status(), 404);
        let body: Value = answer.json().await.expect("json");
        assert_eq!(body["errors"][0]["code"], "NAME_UNKNOWN");
        assert_eq!(
            body["errors"][0]["message"],
            "Repository \"missing\" not found"
        );
    }

    let access = access_token(&google).await;
    let reader = bearer(
        token(
            "oauth2accesstoken",
            &access,
            "repository:proj/images/app:pull",
        )
        .await
        .expect("token"),
    )
    .await;
    let served = client
        .get(&manifest)
        .bearer_auth(&reader)
        .header("accept", OCI)
        .send()
        .await
        .expect("get");
    assert_eq!(served.status(), 200);
    assert_eq!(
        digest_of(&served.bytes().await.expect("body")),
        digest_of(&bytes)
    );
    let reader_missing = bearer(
        token(
            "oauth2accesstoken",
            &access,
            "repository:proj/missing/app:pull",
        )
        .await
        .expect("token"),
    )
    .await;
    let absent = client
        .get(format!("{}/v2/proj/missing/app/manifests/v1", google.url()))
        .bearer_auth(&reader_missing)
        .send()
        .await
        .expect("get");
    assert_eq!(absent.status(), 404);
    let catalog: Value = client
        .get(format!("{}/v2/_catalog", google.url()))
        .bearer_auth(&reader)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(catalog["repositories"], json!(["proj/images/app"]));
    registry
        .http()
        .push_image("proj/images/app", "v2", &[layer(5, 10)])
        .await;

    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&key);
    bearer(
        token(
            "_json_key_base64",
            &encoded,
            "repository:proj/images/app:pull",
        )
        .await
        .expect("token"),
    )
    .await;
    assert_eq!(
        token("oauth2accesstoken", "ya29.made-up", "")
            .await
            .expect("token")
            .status(),
        401
    );
    google.set_token_lifetime(0);
    let expired = token(
        "oauth2accesstoken",
        &access,
        "repository:proj/images/app:pull",
    )
    .await
    .expect("token");
    assert_eq!(expired.status(), 401);
    let body: Value = expired.json().await.expect("json");
    assert_eq!(body["errors"][0]["message"], "token expired");
}
