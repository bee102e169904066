//! "Was it the last task?" asked once per batch, not once per task. Each end has to be
//! followed by that check (it reads the execution and its counter shards) at some point after
//! it; the check taken after several ends covers them all. So a delivery that ends its task
//! while others of the same execution still run in this process leaves the check owed, and
//! the last of them to be done makes it. Lambda hands a process one batch at a time, so that
//! is one check per execution and batch; a process that dies owes nothing, for its batch is
//! delivered again and a delivery that finds its task ended checks at once.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

#[derive(Default)]
pub struct FinishChecks {
    /// Per execution: deliveries running here, and whether one of those done ended a task
    /// not checked since.
    running: Mutex<HashMap<i64, (usize, bool)>>,
}

impl FinishChecks {
    /// A delivery of `execution_id` starts running here.
    pub fn enter(&self, execution_id: i64) -> Running<'_> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.entry(execution_id).or_default().0 += 1;
        Running {
            checks: self,
            execution_id,
            left: false,
        }
    }

    fn leave(&self, execution_id: i64, ended: bool) -> bool {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((count, owed)) = running.get_mut(&execution_id) else {
            return ended;
        };
        *count = count.saturating_sub(1);
        *owed |= ended;
        if *count > 0 {
            return false;
        }
        let owed = *owed;
        running.remove(&execution_id);
        owed
    }

    /// The check could not be made: owed again, by the next delivery of the execution here
    /// (and by the one that failed to make it, which is delivered again).
    pub fn owe(&self, execution_id: i64) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, owed)) = running.get_mut(&execution_id) {
            *owed = true;
        }
    }
}

/// A delivery running; `leave` says whether the check is its to make. Dropped without
/// leaving (a panic), it only stops counting.
pub struct Running<'a> {
    checks: &'a FinishChecks,
    execution_id: i64,
    left: bool,
}

impl Running<'_> {
    /// The delivery is done, `ended` when it ended its task: true when the check is owed and
    /// no other delivery of the execution runs here any more.
    pub fn leave(mut self, ended: bool) -> bool {
        self.left = true;
        self.checks.leave(self.execution_id, ended)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.left {
            self.checks.leave(self.execution_id, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FinishChecks;

    #[test]
    fn the_last_delivery_of_an_execution_here_makes_the_check_its_ends_owe() {
        let checks = FinishChecks::default();
        let (a, b, c) = (checks.enter(1), checks.enter(1), checks.enter(2));
        assert!(!a.leave(true), "b still runs: b checks for both");
        assert!(c.leave(true), "alone of its execution");
        assert!(b.leave(false), "a's end is owed");
        // Nothing ended: nothing owed.
        assert!(!checks.enter(1).leave(false));
        // Dropped without leaving (a panic): no longer counted, owes nothing.
        let (d, e) = (checks.enter(3), checks.enter(3));
        drop(d);
        assert!(e.leave(true));
    }
}
