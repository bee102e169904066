//! `ferry run`, `ferry status` and `ferry logs`: an execution started and watched to its end
//! with a progress bar, the registries and the latest executions at a glance, and an
//! execution's task logs.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::client::{Api, ApiError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("no policy is named {0:?}")]
    NoPolicy(String),
    #[error("execution {id} was still {status} after {waited:?}")]
    TimedOut {
        id: i64,
        status: String,
        waited: Duration,
    },
}

/// A policy given by id or by name.
pub async fn policy_id(api: &Api, policy: &str) -> Result<i64, RunError> {
    if let Ok(id) = policy.parse::<i64>() {
        return Ok(id);
    }
    api.list("/replication/policies")
        .await?
        .iter()
        .find(|p| p["name"] == policy)
        .and_then(|p| p["id"].as_i64())
        .ok_or_else(|| RunError::NoPolicy(policy.to_string()))
}

/// Starts an execution of the policy; its id.
pub async fn start(api: &Api, policy_id: i64) -> Result<i64, RunError> {
    Ok(api
        .create("/replication/executions", &json!({"policy_id": policy_id}))
        .await?)
}

fn is_final(status: &str) -> bool {
    matches!(status, "Succeed" | "Failed" | "Stopped")
}

fn count(execution: &Value, field: &str) -> u64 {
    execution[field].as_u64().unwrap_or(0)
}

/// Polls the execution until it ends (or `timeout` passes), drawing its progress; the
/// execution as it ended.
pub async fn wait(api: &Api, id: i64, timeout: Option<Duration>) -> Result<Value, RunError> {
    let started = Instant::now();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} execution {prefix} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(id.to_string());
    loop {
        let execution = api.get(&format!("/replication/executions/{id}")).await?;
        let status = execution["status"].as_str().unwrap_or_default().to_string();
        let ended = count(&execution, "succeed")
            + count(&execution, "failed")
            + count(&execution, "stopped");
        bar.set_length(count(&execution, "total"));
        bar.set_position(ended);
        bar.set_message(format!(
            "{status}: {} succeeded, {} failed",
            count(&execution, "succeed"),
            count(&execution, "failed")
        ));
        if is_final(&status) {
            bar.finish_and_clear();
            return Ok(execution);
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            bar.abandon();
            return Err(RunError::TimedOut {
                id,
                status,
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One line of an execution.
pub fn summary(execution: &Value) -> String {
    let text = execution["status_text"].as_str().unwrap_or_default();
    format!(
        "execution {} of policy {}: {} ({} of {} succeeded, {} failed, {} stopped){}{}",
        execution["id"],
        execution["policy_id"],
        execution["status"].as_str().unwrap_or_default(),
        count(execution, "succeed"),
        count(execution, "total"),
        count(execution, "failed"),
        count(execution, "stopped"),
        if text.is_empty() { "" } else { ": " },
        text
    )
}

/// The registries with their health, and the latest executions (of one policy, if given).
pub async fn status(api: &Api, policy: Option<i64>, last: usize) -> Result<String, RunError> {
    let mut out = String::from("REGISTRIES\n");
    for r in api.list("/registries").await? {
        let reason = r["health"]["reason"].as_str().unwrap_or_default();
        out.push_str(&format!(
            "  {:>4}  {:<24} {:<16} {:<9} {}{}\n",
            r["id"],
            r["name"].as_str().unwrap_or_default(),
            r["type"].as_str().unwrap_or_default(),
            r["status"].as_str().unwrap_or_default(),
            r["url"].as_str().unwrap_or_default(),
            if reason.is_empty() {
                String::new()
            } else {
                format!(" ({reason})")
            }
        ));
    }
    let names: std::collections::BTreeMap<i64, String> = api
        .list("/replication/policies")
        .await?
        .iter()
        .filter_map(|p| Some((p["id"].as_i64()?, p["name"].as_str()?.to_string())))
        .collect();
    let query = match policy {
        Some(id) => format!("/replication/executions?policy_id={id}&page=1&page_size={last}"),
        None => format!("/replication/executions?page=1&page_size={last}"),
    };
    out.push_str("EXECUTIONS\n");
    let executions = match api.get(&query).await? {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    for e in executions {
        let policy = e["policy_id"].as_i64().unwrap_or_default();
        out.push_str(&format!(
            "  {:>5}  {:<24} {:<10} {:<10} {:>4}/{:<4} {}\n",
            e["id"],
            names.get(&policy).map_or("?", String::as_str),
            e["status"].as_str().unwrap_or_default(),
            e["trigger"].as_str().unwrap_or_default(),
            count(&e, "succeed"),
            count(&e, "total"),
            e["start_time"].as_str().unwrap_or_default()
        ));
    }
    Ok(out)
}

/// Every task of the execution (only the failed ones when asked) with its log.
pub async fn logs(api: &Api, execution: i64, failed_only: bool) -> Result<String, RunError> {
    let mut out = String::new();
    let tasks = api
        .list(&format!("/replication/executions/{execution}/tasks"))
        .await?;
    for task in tasks
        .iter()
        .filter(|t| !failed_only || t["status"] == "Failed")
    {
        let id = task["id"].as_i64().unwrap_or_default();
        out.push_str(&format!(
            "== task {id}: {} -> {}: {} {}\n",
            task["src_resource"].as_str().unwrap_or_default(),
            task["dst_resource"].as_str().unwrap_or_default(),
            task["status"].as_str().unwrap_or_default(),
            task["status_text"].as_str().unwrap_or_default()
        ));
        let log = api
            .get_text(&format!(
                "/replication/executions/{execution}/tasks/{id}/log"
            ))
            .await?;
        out.push_str(&log);
        if !log.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}
