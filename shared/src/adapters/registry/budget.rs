//! Per-registry request budgets, two of them:
//! - this process's: a token bucket per origin (`scheme://host:port`) shared by every client
//!   the process makes for it (the lister's per invocation, the transfer's pooled), so a warm
//!   process never sends one registry more than its `requests_per_second`, whatever the tasks;
//! - every process's together (`options.budget.requests_per_second`): grants of the store's
//!   one-second windows ([`SharedBudgets`]), taken a batch at a time and spent here.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::model::time_format;
use crate::ports::budget::SharedBudgets;

pub type Budget = Arc<DefaultDirectRateLimiter>;

#[derive(Default)]
pub struct Budgets {
    own: Mutex<HashMap<(String, u32), Budget>>,
    shared: Mutex<HashMap<(String, u32), Arc<SharedRate>>>,
}

impl Budgets {
    /// The budget of `origin` at `per_second` requests (a burst of as many).
    pub fn of(&self, origin: &str, per_second: u32) -> Option<Budget> {
        let rate = NonZeroU32::new(per_second)?;
        let mut budgets = self.own.lock().unwrap_or_else(PoisonError::into_inner);
        Some(Arc::clone(
            budgets
                .entry((origin.to_string(), per_second))
                .or_insert_with(|| Arc::new(RateLimiter::direct(Quota::per_second(rate)))),
        ))
    }

    /// The budget every process shares for `origin` at `per_second`, kept in `store`.
    pub fn shared(
        &self,
        origin: &str,
        per_second: u32,
        store: &Arc<dyn SharedBudgets>,
    ) -> Arc<SharedRate> {
        let mut rates = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            rates
                .entry((origin.to_string(), per_second))
                .or_insert_with(|| {
                    Arc::new(SharedRate::new(Arc::clone(store), origin, per_second))
                }),
        )
    }
}

/// Requests of one registry per second across every Ferry process: this process takes grants
/// from the store's window of the current second, a batch at a time (a tenth of the rate), and
/// spends them; a spent window is waited out. A store that cannot be read lets the request go
/// (logged): the budget protects the registry, it must not stop replication.
pub struct SharedRate {
    store: Arc<dyn SharedBudgets>,
    key: String,
    per_second: u32,
    batch: u32,
    /// The second of the grants held and how many are left of them.
    left: tokio::sync::Mutex<(i64, u32)>,
}

impl SharedRate {
    fn new(store: Arc<dyn SharedBudgets>, origin: &str, per_second: u32) -> Self {
        Self {
            store,
            key: format!("requests#{origin}"),
            per_second,
            batch: (per_second / 10).clamp(1, 50),
            left: tokio::sync::Mutex::new((0, 0)),
        }
    }

    /// Waits until one more request is granted.
    pub async fn spend(&self) {
        // Held while waiting: this process's requests to the registry queue up here.
        let mut left = self.left.lock().await;
        loop {
            let now_ms = time_format::now_millis();
            let second = now_ms / 1000;
            if left.0 == second && left.1 > 0 {
                left.1 -= 1;
                return;
            }
            match self
                .store
                .grant_requests(&self.key, second, self.per_second, self.batch)
                .await
            {
                Ok(granted @ 1..) => {
                    *left = (second, granted - 1);
                    return;
                }
                Ok(_) => {
                    let rest = u64::try_from(1000 - now_ms % 1000).unwrap_or(1000);
                    let jitter = (uuid::Uuid::new_v4().as_u128() % 20) as u64;
                    tokio::time::sleep(Duration::from_millis(rest + jitter)).await;
                }
                Err(e) => {
                    tracing::warn!(key = %self.key, error = %e, "shared request budget not read; sending");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_budget_per_origin_and_rate() {
        let budgets = Budgets::default();
        let a = budgets.of("https://hub.docker.com", 2).expect("a budget");
        let again = budgets.of("https://hub.docker.com", 2).expect("a budget");
        assert!(Arc::ptr_eq(&a, &again));
        let other = budgets.of("https://ghcr.io", 2).expect("a budget");
        assert!(!Arc::ptr_eq(&a, &other));
        assert!(budgets.of("https://x", 0).is_none());
        // A burst of the rate passes at once; the next request waits.
        assert!(a.check().is_ok() && a.check().is_ok());
        assert!(a.check().is_err());
    }
}

#[cfg(test)]
mod shared_tests {
    use super::*;
    use crate::ports::fakes::MemoryBudgets;

    #[tokio::test]
    async fn every_process_together_keeps_to_the_shared_rate() {
        let store: Arc<dyn SharedBudgets> = Arc::new(MemoryBudgets::default());
        // Two processes' budgets of the same registry, over one store.
        let (one, two) = (Budgets::default(), Budgets::default());
        let rates = [
            one.shared("https://hub.example", 20, &store),
            two.shared("https://hub.example", 20, &store),
        ];
        assert!(Arc::ptr_eq(
            &rates[0],
            &one.shared("https://hub.example", 20, &store)
        ));
        let started = std::time::Instant::now();
        let spent = std::sync::atomic::AtomicU32::new(0);
        // 50 requests from the two at 20 per second: at least two windows after the first.
        let sends = (0..50).map(|i| {
            let rate = Arc::clone(&rates[i % 2]);
            let spent = &spent;
            async move {
                rate.spend().await;
                spent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        futures::future::join_all(sends).await;
        assert_eq!(spent.into_inner(), 50);
        assert!(
            started.elapsed() >= Duration::from_millis(1000),
            "50 requests at 20/s took {:?}",
            started.elapsed()
        );
    }
}
