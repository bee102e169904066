//! Keeping a policy's history bounded: executions older than the newest `keep` go, with their
//! tasks and task logs, as Harbor's execution sweeper does.

use crate::ports::logs::TaskLogSink;
use crate::ports::store::{collect_pages, Store, StoreError};

/// Executions kept per policy when nothing else is configured.
pub const DEFAULT_KEEP: usize = 50;

/// Deletes the ended executions of `policy_id` beyond the newest `keep` (running ones stay,
/// however old); how many went. A log that cannot be deleted is reported and kept.
pub async fn sweep_executions(
    store: &dyn Store,
    logs: &dyn TaskLogSink,
    policy_id: i64,
    keep: usize,
) -> Result<usize, StoreError> {
    // Newest first.
    let executions = collect_pages(|cursor| async move {
        store
            .list_executions(Some(policy_id), cursor.as_deref(), 100)
            .await
    })
    .await?;
    let old: Vec<i64> = executions
        .into_iter()
        .skip(keep)
        .filter(|e| e.status.is_final())
        .map(|e| e.id)
        .collect();
    for id in &old {
        if let Err(e) = logs.delete_execution(*id).await {
            tracing::warn!(execution_id = id, error = %e, "task logs not swept");
        }
        match store.delete_execution(*id).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    if !old.is_empty() {
        tracing::info!(policy_id, swept = old.len(), keep, "old executions swept");
    }
    Ok(old.len())
}

/// After `execution_id` finished: sweep its policy's history, best effort (a sweep that fails
/// now happens when the next execution finishes).
pub async fn sweep_after(
    store: &dyn Store,
    logs: &dyn TaskLogSink,
    execution_id: i64,
    keep: usize,
) {
    let policy_id = match store.get_execution(execution_id).await {
        Ok(e) => e.policy_id,
        Err(e) => {
            tracing::warn!(error = %e, "no sweep: execution not read");
            return;
        }
    };
    if let Err(e) = sweep_executions(store, logs, policy_id, keep).await {
        tracing::warn!(error = %e, policy_id, "old executions not swept");
    }
}
