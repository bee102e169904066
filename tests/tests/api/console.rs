//! The web console in a real browser: `tests/browser/console_test.py` (Playwright from `.venv`,
//! driving Debian's `/usr/bin/chromium`) logs in, adds two registries, makes a policy with the
//! wizard and previews its plan, runs it, watches the execution succeed and reads a task's log,
//! with a screenshot per step under `target/browser/`. Then the API confirms the copy.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn console_replicates_an_image_in_a_browser() {
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let digest = source
        .http()
        .push_image("console/app", "1.0", &[layer(8001, 2000)])
        .await;
    let stack = LocalStack::start("console", LocalStackOptions::default()).await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);

    let root = ferry_tests::workspace_root();
    let screenshots = root.join("target/browser");
    // Only this run's screenshots (a failure's among them).
    let _ = std::fs::remove_dir_all(&screenshots);
    let output = tokio::process::Command::new(root.join(".venv/bin/python"))
        .current_dir(&root)
        .arg("tests/browser/console_test.py")
        .args(["--api", &stack.api])
        .args(["--password", ADMIN_PASSWORD])
        .args(["--source", &source.url()])
        .args(["--destination", &destination.url()])
        .arg("--screenshots")
        .arg(&screenshots)
        .args(["--repository", "console/app"])
        .output()
        .await
        .expect("the browser test runs (make deps installs playwright and chromium)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed ({}), screenshots in {}:\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status,
        screenshots.display()
    );
    println!("{stdout}");

    // What the browser did, through the API: the policy it made, its run, the copy.
    let policies = api.get("/replication/policies").await.json();
    let policy = policies
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "console-mirror"))
        .unwrap_or_else(|| panic!("no policy console-mirror: {policies}"))
        .clone();
    assert_eq!(policy["src_registry"]["name"], "source", "{policy}");
    assert_eq!(policy["dest_registry"]["name"], "destination", "{policy}");
    assert_eq!(policy["trigger"]["type"], "manual", "{policy}");
    assert_eq!(policy["override"], true, "{policy}");
    assert_eq!(
        policy["filters"],
        json!([{"type": "name", "value": "console/**", "decoration": "matches"},
               {"type": "tag", "value": "1.*", "decoration": "matches"}]),
        "{policy}"
    );
    let registry = api
        .get(&format!("/registries/{}", policy["dest_registry"]["id"]))
        .await
        .json();
    assert_eq!(registry["description"], "where the console test copies to");
    let executions = api
        .get(&format!(
            "/replication/executions?policy_id={}",
            policy["id"]
        ))
        .await
        .json();
    let executions = executions.as_array().expect("executions");
    assert_eq!(executions.len(), 2, "a plan and a run: {executions:?}");
    let (run, plan) = (&executions[0], &executions[1]);
    assert_eq!(plan["dry_run"], true, "{plan}");
    assert_eq!(run["status"], "Succeed", "{run}");
    assert_eq!(
        (run["total"].as_i64(), run["succeed"].as_i64()),
        (Some(1), Some(1))
    );
    let tasks = api
        .get(&format!("/replication/executions/{}/tasks", run["id"]))
        .await
        .json();
    assert_eq!(tasks[0]["dst_resource"], "console/app:1.0", "{tasks}");
    assert_eq!(
        destination
            .http()
            .manifest_digest("console/app", "1.0")
            .await
            .as_deref(),
        Some(digest.as_str()),
        "the destination has the image"
    );
    stack.stop().await;
}
