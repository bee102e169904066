//! Many tasks sharing blobs, copied at once by several transfer processes (two processes, four
//! messages each at a time), as Lambda runs them: every artifact arrives, every time.

use super::*;
use ferry_tests::fleet::{differences, push_fleet, FleetSize};

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_sharing_base_layers_arrives_whole_on_every_fresh_destination() {
    let size = FleetSize::from_env();
    let source = TestRegistry::start();
    let fleet = push_fleet(&source.http(), size).await;
    let (stack, api) = start("fleet").await;
    let src = add_registry(&api, "src", &source.url()).await;
    let filters = json!({"filters": [{"type": "name", "value": "fleet/**"}]});
    for round in 0..size.runs {
        let destination = TestRegistry::start();
        let dst = add_registry(&api, &format!("dst{round}"), &destination.url()).await;
        let policy = create_policy(&api, &format!("fleet{round}"), src, dst, filters.clone()).await;
        let started = std::time::Instant::now();
        let execution = run(&api, policy).await;
        println!(
            "fleet round {round}: {} artifacts, {} in {:.1?}",
            fleet.len(),
            execution["status"],
            started.elapsed()
        );
        let id = execution["id"].as_i64().expect("id");
        let failed: Vec<String> = all_tasks(&api, id, fleet.len())
            .await
            .into_iter()
            .filter(|t| t["status"] != "Succeed")
            .map(|t| {
                format!(
                    "{} {}: {}",
                    t["dst_resource"], t["status"], t["status_text"]
                )
            })
            .collect();
        assert_eq!(failed, Vec::<String>::new(), "round {round}: {execution}");
        assert_eq!(execution["status"], "Succeed", "round {round}: {execution}");
        assert_eq!(execution["total"].as_u64(), Some(fleet.len() as u64));
        let wrong = differences(&destination.http(), &fleet).await;
        assert!(wrong.is_empty(), "round {round}: {wrong:#?}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_policies_copying_overlapping_fleets_at_once_both_arrive_whole() {
    let size = FleetSize {
        runs: 1,
        ..FleetSize::from_env()
    };
    let source = TestRegistry::start();
    let destination = TestRegistry::start();
    let fleet = push_fleet(&source.http(), size).await;
    let (stack, api) = start("overlap").await;
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let all = create_policy(
        &api,
        "all",
        src,
        dst,
        json!({"filters": [{"type": "name", "value": "fleet/**"}]}),
    )
    .await;
    let some = create_policy(
        &api,
        "some",
        src,
        dst,
        json!({"filters": [{"type": "name", "value": "fleet/team{0,1}/**"}]}),
    )
    .await;
    let mut started = Vec::new();
    for policy in [all, some] {
        started.push(
            api.post("/replication/executions", &json!({"policy_id": policy}))
                .await
                .created_id(),
        );
    }
    for execution in started {
        let ended = finished(&api, execution).await;
        assert_eq!(ended["status"], "Succeed", "{ended}");
        assert_eq!(ended["failed"].as_i64(), Some(0), "{ended}");
    }
    let wrong = differences(&destination.http(), &fleet).await;
    assert!(wrong.is_empty(), "{wrong:#?}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_down_for_half_a_minute_costs_seconds_once_it_is_back() {
    let size = FleetSize {
        repositories: 20,
        runs: 1,
        ..FleetSize::from_env()
    };
    let source = TestRegistry::start();
    let mut destination = TestRegistry::start();
    let fleet = push_fleet(&source.http(), size).await;
    // The queues' visibility timeout as deployed is long: a retry that waited for it would
    // take minutes, not seconds.
    let stack = LocalStack::start(
        "outage",
        LocalStackOptions {
            visibility_timeout: 300,
            ..LocalStackOptions::default()
        },
    )
    .await;
    let api = ApiClient::new(&stack.api, ADMIN_PASSWORD);
    let src = add_registry(&api, "src", &source.url()).await;
    let dst = add_registry(&api, "dst", &destination.url()).await;
    let policy = create_policy(&api, "outage", src, dst, json!({})).await;
    let execution = api
        .post("/replication/executions", &json!({"policy_id": policy}))
        .await
        .created_id();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    destination.kill();
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    destination.restart();
    let back = std::time::Instant::now();
    let ended = eventually(
        150,
        "the execution to end after the registry is back",
        || async {
            let e = api
                .get(&format!("/replication/executions/{execution}"))
                .await
                .json();
            (e["status"] != "InProgress").then_some(e)
        },
    )
    .await;
    println!(
        "outage: ended {} {:.1?} after the registry came back",
        ended["status"],
        back.elapsed()
    );
    assert_eq!(ended["status"], "Succeed", "{ended}");
    let wrong = differences(&destination.http(), &fleet).await;
    assert!(wrong.is_empty(), "{wrong:#?}");
    stack.stop().await;
}
