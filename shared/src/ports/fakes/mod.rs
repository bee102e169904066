//! In-memory fakes of every port, for fast unit tests of the use cases (beside, never instead
//! of, the integration tests against real parts). Each keeps its port's promises by the
//! domain's own rules (conditional status changes, idempotent batches, counters), and each can
//! be told to fail a named operation a number of times, as a real backend might.

mod access;
mod budget;
mod connect;
mod notify;
mod processor;
mod queue;
mod registry;
mod store;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

pub use access::MemoryAccess;
pub use budget::MemoryBudgets;
pub use connect::{FakeRegistries, MemoryNamespaces};
pub use notify::{MemoryBus, MemoryWebhooks, Received, RecordingSender};
pub use processor::RecordingProcessors;
pub use queue::{MemoryLogs, MemoryQueue, MemorySchedules};
pub use registry::MemoryRegistry;
pub use store::MemoryStore;

/// What an injected failure looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// A failure that may heal: a 503, a throttled write, a lost connection.
    Transient,
    /// A refusal that will not heal, with its HTTP status where that means anything.
    Refused(u16),
}

/// Failures to inject, by operation name: the next `times` calls of it fail. Every call is
/// counted, so a test can tell how many writes a use case made.
#[derive(Default)]
pub struct Faults(
    Mutex<HashMap<&'static str, (u32, Injected)>>,
    Mutex<HashMap<&'static str, u32>>,
);

impl Faults {
    /// How many times each operation was called.
    pub fn all_calls(&self) -> HashMap<&'static str, u32> {
        self.1
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many times `operation` was called.
    pub fn calls(&self, operation: &'static str) -> u32 {
        self.1
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    pub fn fail(&self, operation: &'static str, times: u32, how: Injected) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(operation, (times, how));
    }

    /// Whether this call of `operation` fails, and how.
    pub fn take(&self, operation: &'static str) -> Option<Injected> {
        *self
            .1
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(operation)
            .or_default() += 1;
        let mut faults = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (left, how) = faults.get_mut(operation)?;
        if *left == 0 {
            return None;
        }
        *left -= 1;
        Some(*how)
    }
}

/// Locks a fake's state; a test that panicked while holding it must not hide other failures.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One page of `items` after the opaque `cursor` (an offset here).
fn page_of<T: Clone>(
    items: Vec<T>,
    cursor: Option<&str>,
    limit: i32,
) -> Result<super::store::Page<T>, super::store::StoreError> {
    let start = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| super::store::StoreError::InvalidCursor)?,
        None => 0,
    };
    let limit = usize::try_from(limit.clamp(1, 1000)).unwrap_or(1);
    let end = (start + limit).min(items.len());
    Ok(super::store::Page {
        items: items.get(start..end).map(<[T]>::to_vec).unwrap_or_default(),
        next: (end < items.len()).then(|| end.to_string()),
    })
}
