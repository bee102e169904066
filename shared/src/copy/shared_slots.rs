//! A registry's budget of blobs copied at once by every Ferry process together
//! (`options.budget.concurrent_blobs`): a slot leased in the store for as long as this
//! invocation may run, waited for with backoff while all are held. A copy that cannot get one
//! before its time is up goes on in the next invocation, as one out of time does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::time_format;
use crate::ports::budget::SharedBudgets;
use crate::ports::deadline;
use crate::telemetry::metrics::{self, On};

/// The longest a lease runs when the invocation has no deadline (a local run): a holder that
/// dies keeps its slot no longer.
const LEASE_WITHOUT_DEADLINE: Duration = Duration::from_secs(15 * 60);
/// Waits between tries, doubling from the first to the last.
const FIRST_WAIT: Duration = Duration::from_millis(50);
const LONGEST_WAIT: Duration = Duration::from_secs(1);

/// Why no slot was taken.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    /// Every slot stayed held until the copy's time was up: it goes on in the next invocation.
    #[error("every blob slot of the registry stayed taken until the time was up")]
    OutOfTime,
    /// The store could not be asked (may heal).
    #[error("{0}")]
    Unreadable(String),
}

/// One registry's shared slots.
pub struct SharedBlobSlots {
    pub budgets: Arc<dyn SharedBudgets>,
    /// The registry's id: its slots' key.
    pub registry_id: i64,
    pub slots: u32,
    /// The registry's host, for the metrics and the log.
    pub label: String,
}

/// A slot held; given back by [`HeldSlot::give_back`], or by its drop should the copy be cut.
pub struct HeldSlot {
    budgets: Arc<dyn SharedBudgets>,
    key: String,
    slot: u32,
    holder: String,
    given_back: bool,
}

/// Each take has a holder name of its own: this process's, and a count.
fn holder() -> String {
    static PROCESS: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string());
    static TAKES: AtomicU64 = AtomicU64::new(0);
    format!("{}#{}", *PROCESS, TAKES.fetch_add(1, Ordering::Relaxed))
}

/// When a slot taken now is free again should its holder die: when the invocation ends.
fn lease_end_ms() -> i64 {
    let left = deadline::remaining().unwrap_or(LEASE_WITHOUT_DEADLINE);
    time_format::now_millis() + i64::try_from(left.as_millis()).unwrap_or(i64::MAX / 4)
}

impl SharedBlobSlots {
    fn key(&self) -> String {
        format!("blobs#{}", self.registry_id)
    }

    /// Waits for a slot until `deadline` (the copy's); past it, the copy is out of time.
    pub async fn take(&self, deadline: Option<Instant>) -> Result<HeldSlot, SlotError> {
        let (key, holder) = (self.key(), holder());
        let give_up_at = deadline.unwrap_or_else(|| Instant::now() + LEASE_WITHOUT_DEADLINE);
        let mut wait = FIRST_WAIT;
        let mut waited = false;
        loop {
            let taken = self
                .budgets
                .take_slot(&key, self.slots, &holder, lease_end_ms())
                .await
                .map_err(|e| {
                    SlotError::Unreadable(format!(
                        "the budget of {} concurrent blobs of {} could not be read: {e}",
                        self.slots, self.label
                    ))
                })?;
            if let Some(slot) = taken {
                return Ok(HeldSlot {
                    budgets: Arc::clone(&self.budgets),
                    key,
                    slot,
                    holder,
                    given_back: false,
                });
            }
            if !waited {
                waited = true;
                metrics::count(metrics::BUDGET_WAITS, On::Registry(self.label.clone()), 1);
                tracing::info!(
                    registry = %self.label,
                    slots = self.slots,
                    "every blob slot of the registry is taken; waiting"
                );
            }
            let jitter = Duration::from_millis((uuid::Uuid::new_v4().as_u128() % 50) as u64);
            if Instant::now() + wait + jitter >= give_up_at {
                tracing::warn!(registry = %self.label, "no blob slot before the time ran out");
                return Err(SlotError::OutOfTime);
            }
            tokio::time::sleep(wait + jitter).await;
            wait = (wait * 2).min(LONGEST_WAIT);
        }
    }
}

impl HeldSlot {
    pub async fn give_back(mut self) {
        self.given_back = true;
        give_back(&*self.budgets, &self.key, self.slot, &self.holder).await;
    }
}

async fn give_back(budgets: &dyn SharedBudgets, key: &str, slot: u32, holder: &str) {
    if let Err(e) = budgets.give_back_slot(key, slot, holder).await {
        // Its lease ends with the invocation: the slot is free again then.
        tracing::warn!(key, slot, error = %e, "blob slot not given back");
    }
}

impl Drop for HeldSlot {
    fn drop(&mut self) {
        if self.given_back {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (budgets, key, holder, slot) = (
            Arc::clone(&self.budgets),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.holder),
            self.slot,
        );
        runtime.spawn(async move { give_back(&*budgets, &key, slot, &holder).await });
    }
}
