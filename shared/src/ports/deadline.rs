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

/// How a worker spends an invocation that started at `started` and ends at `deadline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invocation {
    /// When it takes on nothing new: `margin` before the deadline, or after `budget`,
    /// whichever comes first.
    pub stop_at: Option<Instant>,
    /// When every wait inside must have ended: `settle` before the deadline, the time kept to
    /// record where the work stands.
    pub waits_end: Option<Instant>,
}

impl Invocation {
    pub fn plan(
        started: Instant,
        deadline: Option<Instant>,
        margin: Duration,
        budget: Option<Duration>,
        settle: Duration,
    ) -> Self {
        let before_deadline =
            |keep: Duration| deadline.map(|d| d.checked_sub(keep).unwrap_or(started));
        Self {
            stop_at: [before_deadline(margin), budget.map(|b| started + b)]
                .into_iter()
                .flatten()
                .min(),
            waits_end: before_deadline(settle),
        }
    }
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

    #[test]
    fn an_invocation_stops_at_its_margin_or_budget_and_settles_before_its_deadline() {
        let started = Instant::now();
        let secs = Duration::from_secs;
        let deadline = Some(started + secs(900));
        let plan = Invocation::plan(started, deadline, secs(30), None, secs(10));
        assert_eq!(plan.stop_at, Some(started + secs(870)));
        assert_eq!(plan.waits_end, Some(started + secs(890)));
        let budgeted = Invocation::plan(started, deadline, secs(30), Some(secs(3)), secs(10));
        assert_eq!(
            budgeted.stop_at,
            Some(started + secs(3)),
            "the sooner of the two"
        );
        let unlimited = Invocation::plan(started, None, secs(30), None, secs(10));
        assert_eq!((unlimited.stop_at, unlimited.waits_end), (None, None));
    }
}
