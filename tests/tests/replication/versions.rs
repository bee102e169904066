//! The semver and newest filters on the local stack, against a real distribution registry:
//! versions read from tags, creation times from the images' configs.

use super::*;

const TAGS: [&str; 7] = [
    "0.9",
    "1.0",
    "1.2.3",
    "1.4.0-rc1",
    "1.4.0",
    "2.0.0",
    "latest",
];

/// The tags an execution of a policy with these filters copied to `destination`.
async fn copied(
    api: &ApiClient,
    name: &str,
    src: i64,
    destination: &TestRegistry,
    filters: Value,
) -> Vec<String> {
    let dst = add_registry(api, name, &destination.url()).await;
    let mut filters = filters;
    if let Some(list) = filters.as_array_mut() {
        list.push(json!({"type": "name", "value": "team/app"}));
    }
    let policy = create_policy(api, name, src, dst, json!({ "filters": filters })).await;
    let execution = api
        .post("/replication/executions", &json!({"policy_id": policy}))
        .await
        .created_id();
    let ended = finished(api, execution).await;
    assert_eq!(ended["status"], "Succeed", "{ended}");
    let mut tags = Vec::new();
    for tag in TAGS {
        if destination
            .http()
            .manifest_digest("team/app", tag)
            .await
            .is_some()
        {
            tags.push(tag.to_string());
        }
    }
    tags
}

#[tokio::test(flavor = "multi_thread")]
async fn semver_ranges_and_the_newest_tags_are_what_is_copied() {
    let (stack, api) = start("versions").await;
    let source = TestRegistry::start();
    let http = source.http();
    for (day, tag) in TAGS.iter().enumerate() {
        // Created in an order the tags' names do not follow: 0.9 is the newest.
        let day = if *tag == "0.9" { 28 } else { day + 1 };
        http.push_dated_image("team/app", tag, &format!("2026-02-{day:02}T08:00:00Z"))
            .await;
    }
    let src = add_registry(&api, "src", &source.url()).await;
    let cases: [(&str, Value, &[&str]); 4] = [
        (
            "range",
            json!([{"type": "semver", "value": ">=1.4 <2"}]),
            &["1.4.0"],
        ),
        (
            "prereleases",
            json!([{"type": "semver", "value": {"range": "^1.2", "prerelease": true}}]),
            &["1.2.3", "1.4.0-rc1", "1.4.0"],
        ),
        (
            "newest",
            json!([{"type": "newest", "value": 3}]),
            &["0.9", "2.0.0", "latest"],
        ),
        (
            "newest-versions",
            json!([{"type": "semver", "value": ">=1.0"}, {"type": "newest", "value": 2}]),
            &["1.4.0", "2.0.0"],
        ),
    ];
    for (name, filters, expected) in cases {
        let destination = TestRegistry::start();
        let tags = copied(&api, name, src, &destination, filters).await;
        assert_eq!(tags, expected, "{name}");
    }
    let refused = api
        .post(
            "/replication/policies",
            &policy_body(
                "bad-range",
                src,
                src,
                json!({"filters": [{"type": "semver", "value": ">=pear"}]}),
            ),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.error().contains("filters[0].value"),
        "{}",
        refused.text
    );
    drop(stack);
}
