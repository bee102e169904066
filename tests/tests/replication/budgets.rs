//! A registry's budget of concurrent blob copies holds across every transfer process: three
//! processes copying many artifacts at once never have more blob reads under way at the
//! source than its budget; the same source without one sees more (so the count can tell).

use super::*;
use ferry_tests::faults::{Action, Fault, FaultProxy};

/// Every blob read slowed, so that copies overlap wherever nothing holds them apart.
fn slow_blob_reads() -> Vec<Fault> {
    vec![Fault {
        method: "GET",
        path: "/blobs/sha256:".into(),
        action: Action::Delay(150),
        times: 100_000,
    }]
}

#[tokio::test(flavor = "multi_thread")]
async fn three_transfer_processes_keep_to_a_registrys_budget_of_concurrent_blobs() {
    let source = TestRegistry::start();
    let http = source.http();
    for i in 0..8u64 {
        let layers = [
            layer(7100 + 2 * i, 64 * 1024),
            layer(7101 + 2 * i, 64 * 1024),
        ];
        http.push_image(&format!("budget/app{i}"), "v1", &layers)
            .await;
    }
    let budgeted = FaultProxy::start(&source.url(), slow_blob_reads()).await;
    let unbounded = FaultProxy::start(&source.url(), slow_blob_reads()).await;
    let stack = LocalStack::start(
        "budget",
        LocalStackOptions {
            transfer_instances: 3,
            // Longer than a delivery waiting for a slot runs, as the template's queue is
            // longer than the function's timeout: no second delivery while the first runs.
            visibility_timeout: 60,
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let with_budget = api
        .post(
            "/registries",
            &json!({
                "name": "budgeted", "type": "docker-registry", "url": budgeted.url(),
                "options": {"budget": {"concurrent_blobs": 2}},
            }),
        )
        .await
        .created_id();
    let read: Value = api.get(&format!("/registries/{with_budget}")).await.json();
    assert_eq!(read["options"]["budget"]["concurrent_blobs"], 2, "{read}");
    let without = add_registry(&api, "unbounded", &unbounded.url()).await;
    let filters = json!({"filters": [{"type": "name", "value": "budget/**"}]});
    for (name, src, proxy) in [
        ("with", with_budget, &budgeted),
        ("without", without, &unbounded),
    ] {
        let destination = TestRegistry::start();
        let dst = add_registry(&api, &format!("dst-{name}"), &destination.url()).await;
        let policy = create_policy(&api, name, src, dst, filters.clone()).await;
        let execution = run(&api, policy).await;
        assert_eq!(execution["status"], "Succeed", "{name}: {execution}");
        assert_eq!(execution["succeed"], 8, "{name}: {execution}");
        let most = proxy.most_blob_reads_at_once();
        println!("{name} a budget: at most {most} blob reads at once");
        if src == with_budget {
            assert!((1..=2).contains(&most), "a budget of 2, and {most} at once");
        } else {
            assert!(
                most > 2,
                "without a budget only {most} at once: the test cannot tell"
            );
        }
    }
    // A budget out of range is refused, naming the field.
    let refused = api
        .post(
            "/registries",
            &json!({
                "name": "zero", "type": "docker-registry", "url": source.url(),
                "options": {"budget": {"concurrent_blobs": 0}},
            }),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.text.contains("options.budget.concurrent_blobs"),
        "{}",
        refused.text
    );
    stack.stop().await;
}
