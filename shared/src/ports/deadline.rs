//! The invocation's deadline, as everything below a worker sees it. A worker runs its work
//! [`within`] the deadline; whatever waits underneath (a retry's backoff, a registry's
//! `Retry-After`, a request's total time) asks [`remaining`] and never waits past it, so a
//! function is not killed mid-step: its worker checkpoints or hands the message back instead.
//!
//! A task-local rather than a parameter: the waits happen deep in the transport, under ports
//! whose methods should not all carry it.

use std::future::Future;
use std::time::{Duration, Instant};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` (none: no limit) for the waits inside it.
pub async fn within<F: Future>(deadline: Option<Instant>, work: F) -> F::Output {
    match deadline {
        Some(deadline) => DEADLINE.scope(deadline, work).await,
        None => work.await,
    }
}

/// The time left before the deadline of the work this runs in; None when it has none.
pub fn remaining() -> Option<Duration> {
    DEADLINE
        .try_with(|deadline| deadline.saturating_duration_since(Instant::now()))
        .ok()
}

/// Whether waiting `wait` still leaves the time `then` needs before the deadline.
pub fn allows(wait: Duration, then: Duration) -> bool {
    remaining().is_none_or(|left| left > wait + then)
}

/// `limit`, or less when the deadline comes sooner.
pub fn capped(limit: Duration) -> Duration {
    remaining().map_or(limit, |left| left.min(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_know_the_deadline_of_the_work_they_are_in() {
        assert_eq!(remaining(), None);
        assert!(allows(Duration::from_secs(3600), Duration::ZERO));
        let soon = Instant::now() + Duration::from_secs(5);
        within(Some(soon), async {
            let left = remaining().expect("a deadline");
            assert!(left <= Duration::from_secs(5) && left > Duration::from_secs(4));
            assert!(allows(Duration::from_secs(1), Duration::from_secs(1)));
            assert!(!allows(Duration::from_secs(4), Duration::from_secs(2)));
            assert!(capped(Duration::from_secs(60)) <= Duration::from_secs(5));
        })
        .await;
        assert_eq!(remaining(), None, "only inside");
    }
}
