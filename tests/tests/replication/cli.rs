//! The `ferry` command line against the local stack, through its HTTP API only: a mirror.yaml
//! applied twice (the second time changes nothing), a plan that shows a change and makes none,
//! `run --wait` whose exit code is the execution's result, `status` and `logs`.

use std::process::Output;

use super::*;

fn ferry(stack: &LocalStack, args: &[&str], env: &[(&str, &str)]) -> Output {
    std::process::Command::new(ferry_tests::binaries_dir().join("ferry"))
        .args(args)
        .env("FERRY_URL", stack.api.trim_end_matches("/api/v2.0"))
        .env("FERRY_USER", "admin")
        .env("FERRY_PASSWORD", ADMIN_PASSWORD)
        .env_remove("FERRY_CONFIG")
        .env_remove("HOME")
        .envs(env.iter().copied())
        .output()
        .expect("ferry runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_file_applies_once_plans_changes_and_runs_to_an_exit_code() {
    let source = TestRegistry::start_with_auth("reader", "s3cret-pass");
    let destination = TestRegistry::start();
    // A destination that refuses every upload (403, which does not heal): runs to it fail.
    let behind = TestRegistry::start();
    let refuse = |method, path: &str| ferry_tests::faults::Fault {
        method,
        path: path.into(),
        action: ferry_tests::faults::Action::Status(403, None),
        times: 1000,
    };
    let refusing = ferry_tests::faults::FaultProxy::start(
        &behind.url(),
        vec![
            refuse("POST", "/blobs/uploads/"),
            refuse("PUT", "/manifests/"),
            refuse("POST", "/blobs/"),
        ],
    )
    .await;
    source
        .http()
        .push_image("cli/app", "1.0", &[layer(7601, 3000)])
        .await;
    let (stack, api) = start("cli").await;
    let dir = tempfile::tempdir().expect("a dir");
    let file = dir.path().join("mirror.yaml");
    let manifest = |tags: &str| {
        format!(
            "registries:\n\
             \x20 - name: upstream\n\
             \x20   type: docker-registry\n\
             \x20   url: {src}\n\
             \x20   credential: {{access_key: reader, access_secret_env: UPSTREAM_SECRET}}\n\
             \x20 - name: mirror\n\
             \x20   type: docker-registry\n\
             \x20   url: {dst}\n\
             \x20 - name: refusing\n\
             \x20   type: docker-registry\n\
             \x20   url: {refusing}\n\
             policies:\n\
             \x20 - name: cli-mirror\n\
             \x20   source: upstream\n\
             \x20   destination: mirror\n\
             \x20   dest_namespace: copies\n\
             \x20   dest_namespace_replace_count: 0\n\
             \x20   filters: [{{type: name, value: cli/**}}, {{type: tag, value: '{tags}'}}]\n\
             \x20   trigger: {{type: manual}}\n\
             \x20   override: true\n\
             \x20 - name: cli-broken\n\
             \x20   source: upstream\n\
             \x20   destination: refusing\n\
             \x20   filters: [{{type: name, value: cli/**}}]\n",
            src = source.url(),
            dst = destination.url(),
            refusing = refusing.url(),
        )
    };
    std::fs::write(&file, manifest("1.*")).expect("written");
    let path = file.display().to_string();
    let secret = [("UPSTREAM_SECRET", "s3cret-pass")];

    // Without the secret's variable: refused, naming it, and nothing written.
    let refused = ferry(&stack, &["apply", "-f", &path], &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("UPSTREAM_SECRET"),
        "{}",
        text(&refused)
    );
    let registries: Value = api.get("/registries").await.json();
    assert_eq!(registries.as_array().map(Vec::len), Some(0), "{registries}");

    let first = ferry(&stack, &["apply", "-f", &path], &secret);
    assert!(first.status.success(), "{}", text(&first));
    let out = text(&first);
    assert!(
        out.contains("registry upstream: create") && out.contains("policy cli-mirror: create"),
        "{out}"
    );
    assert!(out.contains("5 change(s) applied"), "{out}");
    let second = ferry(&stack, &["apply", "-f", &path], &[]);
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        text(&second).contains("0 change(s) applied, 5 unchanged"),
        "{}",
        text(&second)
    );

    // A changed filter: planned, not made; then applied.
    std::fs::write(&file, manifest("1.0")).expect("written");
    let plan = ferry(&stack, &["plan", "-f", &path], &[]);
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(
        text(&plan).contains("policy cli-mirror: update") && text(&plan).contains("filters:"),
        "{}",
        text(&plan)
    );
    assert!(
        text(&plan).contains("1 change(s) to apply, 4 unchanged"),
        "{}",
        text(&plan)
    );
    let policies: Value = api.get("/replication/policies").await.json();
    let mirror = policies
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == "cli-mirror").cloned())
        .expect("the policy");
    assert_eq!(
        mirror["filters"][1]["value"], "1.*",
        "the plan wrote nothing"
    );
    assert!(ferry(&stack, &["apply", "-f", &path], &[]).status.success());
    assert!(text(&ferry(&stack, &["plan", "-f", &path], &[])).contains("0 change(s) to apply"));

    // A run that succeeds exits 0 and the image is there, with the source's credential.
    let ran = ferry(
        &stack,
        &["run", "cli-mirror", "--wait", "--timeout", "120"],
        &[],
    );
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran));
    assert!(
        text(&ran).contains("Succeed (1 of 1 succeeded"),
        "{}",
        text(&ran)
    );
    assert!(destination
        .http()
        .manifest_digest("copies/cli/app", "1.0")
        .await
        .is_some());

    // A run that fails exits 1: its destination refuses the copy.
    let failed = ferry(
        &stack,
        &["run", "cli-broken", "--wait", "--timeout", "120"],
        &[],
    );
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    assert!(text(&failed).contains("Failed"), "{}", text(&failed));
    let id: i64 = text(&failed)
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .expect("the execution's id");

    let status = ferry(&stack, &["status"], &[]);
    assert!(status.status.success(), "{}", text(&status));
    let out = text(&status);
    assert!(
        out.contains("upstream") && out.contains("cli-mirror") && out.contains("cli-broken"),
        "{out}"
    );
    let logs = ferry(&stack, &["logs", &id.to_string(), "--failed"], &[]);
    assert!(logs.status.success(), "{}", text(&logs));
    assert!(
        text(&logs).contains("== task") && text(&logs).contains("Failed"),
        "{}",
        text(&logs)
    );
    // The endpoint and credentials from a config file instead of the environment.
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "url: {}\nuser: admin\npassword: {ADMIN_PASSWORD}\n",
            stack.api.trim_end_matches("/api/v2.0")
        ),
    )
    .expect("written");
    let from_file = std::process::Command::new(ferry_tests::binaries_dir().join("ferry"))
        .args([
            "--config",
            &config.display().to_string(),
            "status",
            "cli-mirror",
        ])
        .env_remove("FERRY_URL")
        .env_remove("FERRY_PASSWORD")
        .env_remove("FERRY_USER")
        .output()
        .expect("ferry runs");
    assert!(from_file.status.success(), "{}", text(&from_file));
    assert!(text(&from_file).contains("Succeed"), "{}", text(&from_file));
    let missing = std::process::Command::new(ferry_tests::binaries_dir().join("ferry"))
        .args(["--config", "/nonexistent/ferry.yaml", "status"])
        .env_remove("FERRY_URL")
        .output()
        .expect("ferry runs");
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("/nonexistent/ferry.yaml"),
        "{}",
        text(&missing)
    );
    // An unknown policy is a clear error.
    let unknown = ferry(&stack, &["run", "no-such-policy"], &[]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown).contains("no policy is named \"no-such-policy\""),
        "{}",
        text(&unknown)
    );
    stack.stop().await;
}
