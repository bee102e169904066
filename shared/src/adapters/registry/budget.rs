//! Per-registry request budgets: a token bucket per origin (`scheme://host:port`) shared by
//! every client this process makes for it (the lister's per invocation, the transfer's pooled),
//! so a warm process never sends one registry more than its budget, whatever the tasks.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

pub type Budget = Arc<DefaultDirectRateLimiter>;

#[derive(Default)]
pub struct Budgets(Mutex<HashMap<(String, u32), Budget>>);

impl Budgets {
    /// The budget of `origin` at `per_second` requests (a burst of as many).
    pub fn of(&self, origin: &str, per_second: u32) -> Option<Budget> {
        let rate = NonZeroU32::new(per_second)?;
        let mut budgets = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Some(Arc::clone(
            budgets
                .entry((origin.to_string(), per_second))
                .or_insert_with(|| Arc::new(RateLimiter::direct(Quota::per_second(rate)))),
        ))
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
