//! Shared budgets in memory, by the port's rules: a slot is free when unheld or its lease
//! ended; a window grants no more than its limit.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::ports::budget::SharedBudgets;
use crate::ports::store::StoreError;

#[derive(Default)]
pub struct MemoryBudgets {
    /// (key, slot) -> (holder, until_ms)
    slots: Mutex<HashMap<(String, u32), (String, i64)>>,
    /// (key, second) -> used
    windows: Mutex<HashMap<(String, i64), u32>>,
}

impl MemoryBudgets {
    /// Slots of `key` held now.
    pub fn held(&self, key: &str) -> usize {
        let now = crate::model::time_format::now_millis();
        lock(&self.slots)
            .iter()
            .filter(|((k, _), (_, until))| k == key && *until >= now)
            .count()
    }
}

#[async_trait]
impl SharedBudgets for MemoryBudgets {
    async fn take_slot(
        &self,
        key: &str,
        slots: u32,
        holder: &str,
        until_ms: i64,
    ) -> Result<Option<u32>, StoreError> {
        let now = crate::model::time_format::now_millis();
        let mut held = lock(&self.slots);
        for slot in 0..slots {
            let k = (key.to_string(), slot);
            if held.get(&k).is_none_or(|(_, until)| *until < now) {
                held.insert(k, (holder.to_string(), until_ms));
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    async fn give_back_slot(&self, key: &str, slot: u32, holder: &str) -> Result<(), StoreError> {
        let mut held = lock(&self.slots);
        let k = (key.to_string(), slot);
        if held.get(&k).is_some_and(|(h, _)| h == holder) {
            held.remove(&k);
        }
        Ok(())
    }

    async fn grant_requests(
        &self,
        key: &str,
        second: i64,
        per_second: u32,
        want: u32,
    ) -> Result<u32, StoreError> {
        let mut windows = lock(&self.windows);
        let used = windows.entry((key.to_string(), second)).or_default();
        let granted = want.min(per_second.saturating_sub(*used));
        *used += granted;
        Ok(granted)
    }
}
