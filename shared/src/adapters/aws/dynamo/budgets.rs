//! Shared budgets in the meta table. A slot is an item `slot#<key>#<n>` naming its holder and
//! when its lease ends; taking one is a conditional put (no item, or its lease ended), giving
//! it back a conditional delete (still ours). A window of requests is an item
//! `rate#<key>#<second>` whose `used` grows by atomic adds that may not pass the limit. Both
//! carry `expires_at`, so DynamoDB's TTL sweeps them.

use async_trait::async_trait;

use super::{backend, is_condition_failure, key_pk, n, s, DynamoStore};
use crate::ports::budget::SharedBudgets;
use crate::ports::store::StoreError;

/// How long after its lease or window an item is left for the TTL to sweep (seconds).
const SWEEP_AFTER_SECS: i64 = 3600;

fn slot_key(key: &str, slot: u32) -> String {
    format!("slot#{key}#{slot}")
}

impl DynamoStore {
    async fn take_one_slot(
        &self,
        key: &str,
        slot: u32,
        holder: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.meta;
        let result = self
            .client
            .put_item()
            .table_name(table)
            .item("pk", s(slot_key(key, slot)))
            .item("holder", s(holder))
            .item("until_ms", n(until_ms))
            .item("expires_at", n(until_ms / 1000 + SWEEP_AFTER_SECS))
            .condition_expression("attribute_not_exists(pk) OR until_ms < :now")
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend(table, "PutItem", e)),
        }
    }
}

#[async_trait]
impl SharedBudgets for DynamoStore {
    async fn take_slot(
        &self,
        key: &str,
        slots: u32,
        holder: &str,
        until_ms: i64,
    ) -> Result<Option<u32>, StoreError> {
        let now_ms = crate::model::time_format::now_millis();
        // From a place of this holder's own, so that takers at once try different slots first.
        let start = holder
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        for i in 0..slots {
            let slot = start.wrapping_add(i) % slots;
            if self
                .take_one_slot(key, slot, holder, until_ms, now_ms)
                .await?
            {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    async fn give_back_slot(&self, key: &str, slot: u32, holder: &str) -> Result<(), StoreError> {
        let table = &self.tables.meta;
        let result = self
            .client
            .delete_item()
            .table_name(table)
            .set_key(Some(key_pk(&slot_key(key, slot))))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        match result {
            // Not ours any more: our lease ended and another took it.
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(backend(table, "DeleteItem", e)),
        }
    }

    async fn grant_requests(
        &self,
        key: &str,
        second: i64,
        per_second: u32,
        want: u32,
    ) -> Result<u32, StoreError> {
        let table = &self.tables.meta;
        // All it asks, else one: a window nearly spent still grants what is left of it.
        let mut asks = vec![want.min(per_second)];
        if want > 1 {
            asks.push(1);
        }
        for ask in asks.into_iter().filter(|a| *a > 0) {
            let room = i64::from(per_second) - i64::from(ask);
            let result = self
                .client
                .update_item()
                .table_name(table)
                .set_key(Some(key_pk(&format!("rate#{key}#{second}"))))
                .update_expression("ADD used :ask SET expires_at = :expires")
                .condition_expression("attribute_not_exists(used) OR used <= :room")
                .expression_attribute_values(":ask", n(i64::from(ask)))
                .expression_attribute_values(":room", n(room))
                .expression_attribute_values(":expires", n(second + SWEEP_AFTER_SECS))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(ask),
                Err(e) if is_condition_failure(&e) => continue,
                Err(e) => return Err(backend(table, "UpdateItem", e)),
            }
        }
        Ok(0)
    }
}
