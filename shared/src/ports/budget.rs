//! Budgets that hold across every Ferry process at once (the transfer function's concurrent
//! invocations, the lister's, the API's): a registry's concurrent blob copies as leased slots,
//! its requests per second as grants from one-second windows. Kept where every process sees
//! them (DynamoDB's conditional writes); a holder that dies frees its slot when its lease ends.

use async_trait::async_trait;

use super::store::StoreError;

#[async_trait]
pub trait SharedBudgets: Send + Sync {
    /// Takes a free slot of the `slots` of `key` for `holder` until `until_ms` (epoch ms): a
    /// slot is free when nobody holds it or its holder's lease ended. None when all are held.
    async fn take_slot(
        &self,
        key: &str,
        slots: u32,
        holder: &str,
        until_ms: i64,
    ) -> Result<Option<u32>, StoreError>;

    /// Gives `slot` of `key` back, if `holder` still holds it.
    async fn give_back_slot(&self, key: &str, slot: u32, holder: &str) -> Result<(), StoreError>;

    /// Up to `want` requests of `key` in the one-second window `second` (epoch seconds), of
    /// which all processes together get `per_second`; how many were granted (0: spent).
    async fn grant_requests(
        &self,
        key: &str,
        second: i64,
        per_second: u32,
        want: u32,
    ) -> Result<u32, StoreError>;
}
