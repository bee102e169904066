//! The self-tests of [`super`]: a real registry behind the fake, exercised with plain HTTP.

use super::*;
use crate::images::{digest_of, layer};
use crate::registry::TestRegistry;
use serde_json::Value;

const OCI: &str = "application/vnd.oci.image.manifest.v1+json";

async fn value(answer: reqwest::Response, key: &str) -> String {
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.expect("json");
    body[key].as_str().expect("token").to_string()
}

#[tokio::test]
async fn admin_tokens_catalog_and_expiry() {
    let registry = TestRegistry::start();
    let pushed = registry
        .http()
        .push_image("team/app", "v1", &[layer(3, 100)])
        .await;
    let acr = FakeAcr::start(&registry.url(), ("admin", "s3cret"), "aad").await;
    let service = acr.url().trim_start_matches("http://").to_string();
    let client = reqwest::Client::new();
    let manifest = format!("{}/v2/team/app/manifests/v1", acr.url());
    let refused = client.get(&manifest).send().await.expect("get");
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        format!("Bearer realm=\"{}/oauth2/token\",service=\"{service}\",scope=\"repository:team/app:pull\"", acr.url())
    );
    let token = |user: &str, password: &str, scope: &str| {
        client
            .get(format!("{}/oauth2/token", acr.url()))
            .query(&[("service", service.as_str()), ("scope", scope)])
            .basic_auth(user, Some(password))
            .send()
    };
    let wrong = token("admin", "nope", "repository:team/app:pull")
        .await
        .expect("token");
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
    let no_service = client
        .get(format!("{}/oauth2/token?scope=x", acr.url()))
        .basic_auth("admin", Some("s3cret"))
        .send()
        .await
        .expect("token");
    assert_eq!(no_service.status(), 400);
    let access = value(
        token("admin", "s3cret", "repository:team/app:pull")
            .await
            .expect("token"),
        "access_token",
    )
    .await;
    let served = client
        .get(&manifest)
        .bearer_auth(&access)
        .header("accept", OCI)
        .send()
        .await
        .expect("get");
    assert_eq!(served.status(), 200);
    assert_eq!(digest_of(&served.bytes().await.expect("body")), pushed);

    let catalog = format!("{}/v2/_catalog", acr.url());
    let refused = client
        .get(&catalog)
        .bearer_auth(&access)
        .send()
        .await
        .expect("get");
    assert_eq!(refused.status(), 401);
    assert!(refused.headers()["www-authenticate"]
        .to_str()
        .expect("text")
        .ends_with("scope=\"registry:catalog:*\""));
    let lister = value(
        token("admin", "s3cret", "registry:catalog:*")
            .await
            .expect("token"),
        "access_token",
    )
    .await;
    let listed: Value = client
        .get(&catalog)
        .bearer_auth(&lister)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["repositories"], json!(["team/app"]));

    acr.expire_tokens();
    let expired = client
        .get(&manifest)
        .bearer_auth(&access)
        .send()
        .await
        .expect("get");
    assert_eq!(expired.status(), 401);
    assert!(expired.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn aad_exchange_and_refresh_tokens() {
    let registry = TestRegistry::start();
    let acr = FakeAcr::start(&registry.url(), ("admin", "s3cret"), "aad-token").await;
    let service = acr.url().trim_start_matches("http://").to_string();
    let client = reqwest::Client::new();
    let exchange = |pairs: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        crate::fakes::form(
            client.post(format!("{}/oauth2/exchange", acr.url())),
            &pairs,
        )
        .send()
    };
    let base = vec![
        ("grant_type", "access_token".to_string()),
        ("service", service.clone()),
        ("tenant", "409520d4-8100-4d1d-ad47-72432ddcc120".to_string()),
    ];
    let missing = exchange(base.clone()).await.expect("exchange");
    assert_eq!(missing.status(), 400);
    let mut wrong = base.clone();
    wrong.push(("access_token", "forged".into()));
    let wrong = exchange(wrong).await.expect("exchange");
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
    let not_form = client
        .post(format!("{}/oauth2/exchange", acr.url()))
        .body("grant_type=access_token")
        .send()
        .await
        .expect("exchange");
    assert_eq!(not_form.status(), 400);
    let mut good = base.clone();
    good.push(("access_token", "aad-token".into()));
    let refresh = value(exchange(good).await.expect("exchange"), "refresh_token").await;
    assert_eq!(acr.refresh_tokens_issued(), 1);

    let by_refresh = |refresh: String, scope: &'static str| {
        crate::fakes::form(
            client.post(format!("{}/oauth2/token", acr.url())),
            &[
                ("grant_type", "refresh_token"),
                ("service", service.as_str()),
                ("scope", scope),
                ("refresh_token", refresh.as_str()),
            ],
        )
        .send()
    };
    let unknown = by_refresh("made-up".into(), "repository:lib/x:pull,push")
        .await
        .expect("token");
    assert_eq!(unknown.status(), 401);
    let pusher = value(
        by_refresh(refresh.clone(), "repository:lib/x:pull,push")
            .await
            .expect("token"),
        "access_token",
    )
    .await;
    let upload = format!("{}/v2/lib/x/blobs/uploads/", acr.url());
    let started = client
        .post(&upload)
        .bearer_auth(&pusher)
        .send()
        .await
        .expect("upload");
    assert_eq!(started.status(), 202);
    let reader = value(
        by_refresh(refresh.clone(), "repository:lib/x:pull")
            .await
            .expect("token"),
        "access_token",
    )
    .await;
    let refused = client
        .post(&upload)
        .bearer_auth(&reader)
        .send()
        .await
        .expect("upload");
    assert_eq!(refused.status(), 401);
    assert!(refused.headers()["www-authenticate"]
        .to_str()
        .expect("text")
        .contains("scope=\"repository:lib/x:pull,push\""));

    acr.expire_tokens();
    assert_eq!(
        client
            .post(&upload)
            .bearer_auth(&pusher)
            .send()
            .await
            .expect("upload")
            .status(),
        401
    );
    let docker_login = client
        .get(format!("{}/oauth2/token", acr.url()))
        .query(&[
            ("service", service.as_str()),
            ("scope", "repository:lib/x:pull,push"),
        ])
        .basic_auth(NULL_GUID, Some(&refresh))
        .send()
        .await
        .expect("token");
    let renewed = value(docker_login, "access_token").await;
    let started = client
        .post(&upload)
        .bearer_auth(&renewed)
        .send()
        .await
        .expect("upload");
    assert_eq!(started.status(), 202);
    assert_eq!(acr.calls().count("POST /oauth2/exchange"), 4);
}
