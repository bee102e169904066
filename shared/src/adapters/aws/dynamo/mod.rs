//! The DynamoDB store: registries, policies, executions, tasks, and a meta table holding id
//! sequences, name guards, claims, task-batch markers and blob locations. One file per table's
//! records; this one holds what they share: ids, item codecs, conditional transactions and
//! the read-change-write loop. The rules (which timestamps a task transition sets, which
//! counter it moves, when an execution is finished) come from the domain.
//!
//! Tables and indexes (declared once, in infra/template.yaml):
//! - registries, policies: key `id` (N); index `by_list` (`list_key` S, `id` N) for id order.
//! - executions: key `id` (N); index `by_policy` (`policy_id` N, `id` N) and `by_list`.
//! - tasks: key `execution_id` (N) + `id` (N).
//! - robots: key `id` (N); index `by_list`.
//! - meta: key `pk` (S); `expires_at` (N) is its TTL attribute.
//! - webhooks: key `id` (N); index `by_list`.
//! - webhook_deliveries: key `policy_id` (N) + `id` (N); `expires_at` (N) is its TTL.

mod batch_read;
mod blobs;
mod budgets;
mod counters;
mod executions;
mod paging;
mod policies;
mod registries;
mod robots;
mod tasks;
mod webhooks;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use serde::{de::DeserializeOwned, Serialize};

use crate::model::time_format;
use crate::ports::secrets::SecretCipher;
use crate::ports::store::StoreError;

/// The physical names of the tables, from the environment the template sets.
#[derive(Debug, Clone)]
pub struct TableNames {
    pub registries: String,
    pub policies: String,
    pub executions: String,
    pub tasks: String,
    pub meta: String,
    /// Robot accounts: only the API has (and needs) this table.
    pub robots: Option<String>,
    /// Webhook policies (key `id`, index `by_list`): the API's and the notifier's.
    pub webhooks: Option<String>,
    /// Their delivery log (key `policy_id` + `id`, TTL `expires_at`).
    pub webhook_deliveries: Option<String>,
}

const LIST_KEY: &str = "all";
/// Attempts of a read-change-write before a conflict is reported.
const UPDATE_ATTEMPTS: u32 = 25;

pub struct DynamoStore {
    client: Client,
    tables: TableNames,
    cipher: Arc<dyn SecretCipher>,
    /// Transactions tried again after a conflict with another on the same items.
    conflicts_retried: std::sync::atomic::AtomicU64,
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn key_id(id: i64) -> HashMap<String, AttributeValue> {
    HashMap::from([("id".to_string(), n(id))])
}

fn key_pk(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_string(), s(pk))])
}

fn backend<E: std::error::Error>(table: &str, operation: &'static str, error: E) -> StoreError {
    StoreError::Backend {
        table: table.to_string(),
        operation,
        message: super::describe(&error),
    }
}

fn to_item<T: Serialize>(
    table: &str,
    value: &T,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt {
        table: table.to_string(),
        message: e.to_string(),
    })
}

fn from_item<T: DeserializeOwned>(
    table: &str,
    item: HashMap<String, AttributeValue>,
) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
        table: table.to_string(),
        message: e.to_string(),
    })
}

/// Now, as the RFC 3339 text items hold.
fn now_text(table: &str) -> Result<String, StoreError> {
    time_format::now()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| StoreError::Corrupt {
            table: table.to_string(),
            message: e.to_string(),
        })
}

/// The reasons DynamoDB gives for a cancelled transaction, one per item: which conditions failed.
fn cancelled_conditions(error: &SdkError<TransactWriteItemsError>) -> Option<Vec<bool>> {
    match error.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => Some(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some("ConditionalCheckFailed"))
                .collect(),
        ),
        _ => None,
    }
}

/// A write that lost a race with a transaction on the same item, or was throttled: it may go
/// through if tried again.
fn is_transient_conflict<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    let code = error
        .as_service_error()
        .and_then(|e| e.code())
        .unwrap_or_default();
    let conflict_reason = error
        .as_service_error()
        .and_then(|e| e.message())
        .unwrap_or_default();
    matches!(
        code,
        "TransactionConflictException"
            | "ThrottlingException"
            | "ProvisionedThroughputExceededException"
    ) || (code == "TransactionCanceledException" && conflict_reason.contains("TransactionConflict"))
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// A short random pause after losing a race, growing with the attempt, so that writers that
/// collided do not collide again in lockstep.
async fn back_off(attempt: u32) {
    let jitter = (uuid::Uuid::new_v4().as_u128() % 20) as u64;
    let millis = jitter + u64::from(attempt.min(10)) * 5;
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

/// Read, change, write conditionally on what was read, again after losing a race: `attempt`
/// answers Some when it is done (written, or nothing to write) and None when another writer
/// got there first. After [`UPDATE_ATTEMPTS`] losses the entity is reported in conflict.
async fn optimistic<T, F, Fut>(
    entity: &'static str,
    id: i64,
    mut attempt: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, StoreError>>,
{
    for round in 0..UPDATE_ATTEMPTS {
        if round > 0 {
            back_off(round).await;
        }
        if let Some(done) = attempt().await? {
            return Ok(done);
        }
    }
    Err(StoreError::Conflict { entity, id })
}

/// One item of a transaction: a conditional put, delete or update.
fn put(
    table: &str,
    item: HashMap<String, AttributeValue>,
    condition: &str,
    values: Vec<(&str, AttributeValue)>,
) -> Result<TransactWriteItem, StoreError> {
    let mut put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition);
    for (name, value) in values {
        put = put.expression_attribute_values(name, value);
    }
    let put = put
        .build()
        .map_err(|e| backend(table, "TransactWriteItems", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn delete(
    table: &str,
    key: HashMap<String, AttributeValue>,
    condition: &str,
    values: Vec<(&str, AttributeValue)>,
) -> Result<TransactWriteItem, StoreError> {
    let mut delete = Delete::builder()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression(condition);
    for (name, value) in values {
        delete = delete.expression_attribute_values(name, value);
    }
    let delete = delete
        .build()
        .map_err(|e| backend(table, "TransactWriteItems", e))?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

fn update(
    table: &str,
    update: aws_sdk_dynamodb::types::builders::UpdateBuilder,
) -> Result<TransactWriteItem, StoreError> {
    let update: Update = update
        .table_name(table)
        .build()
        .map_err(|e| backend(table, "TransactWriteItems", e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames, cipher: Arc<dyn SecretCipher>) -> Self {
        Self {
            client,
            tables,
            cipher,
            conflicts_retried: Default::default(),
        }
    }

    /// How many transactions this store tried again after a conflict (a load test's figure).
    pub fn conflicts_retried(&self) -> u64 {
        self.conflicts_retried
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Allocates `count` consecutive ids of one kind; returns the first.
    async fn allocate_ids(&self, kind: &str, count: i64) -> Result<i64, StoreError> {
        let table = &self.tables.meta;
        let out = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(key_pk(&format!("seq#{kind}"))))
            .update_expression("ADD next_id :n")
            .expression_attribute_values(":n", n(count))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| backend(table, "UpdateItem", e))?;
        let last = out
            .attributes()
            .and_then(|a| a.get("next_id"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| StoreError::Corrupt {
                table: table.clone(),
                message: format!("sequence {kind} returned no number"),
            })?;
        Ok(last - count + 1)
    }

    async fn get_item<T: DeserializeOwned>(
        &self,
        table: &str,
        key: HashMap<String, AttributeValue>,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend(table, "GetItem", e))?;
        out.item.map(|item| from_item(table, item)).transpose()
    }

    /// A name kept unique: the guard item is written with the record, in one transaction.
    /// Sets one attribute of the record `(entity, id)` in `table` and moves its version; the
    /// record must exist.
    async fn set_attribute(
        &self,
        table: &str,
        (entity, id): (&'static str, i64),
        attribute: &str,
        value: AttributeValue,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(key_id(id)))
            .update_expression("SET #a = :v ADD version :one")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":v", value)
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::NotFound { entity, id }),
            Err(e) => Err(backend(table, "UpdateItem", e)),
        }
    }

    fn name_guard_put(&self, guard: &str, id: i64) -> Result<TransactWriteItem, StoreError> {
        let item = HashMap::from([("pk".to_string(), s(guard)), ("id".to_string(), n(id))]);
        put(&self.tables.meta, item, "attribute_not_exists(pk)", vec![])
    }

    fn name_guard_delete(&self, guard: &str, id: i64) -> Result<TransactWriteItem, StoreError> {
        delete(
            &self.tables.meta,
            key_pk(guard),
            "attribute_not_exists(pk) OR id = :id",
            vec![(":id", n(id))],
        )
    }

    /// Runs a transaction. Ok(Err(reasons)) when conditions failed (which items, in order);
    /// a conflict with another transaction on the same items is tried again after a pause.
    async fn transact(
        &self,
        table: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<bool>>, StoreError> {
        let mut attempt = 0;
        loop {
            let error = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(Ok(())),
                Err(e) => e,
            };
            if let Some(reasons) = cancelled_conditions(&error) {
                if reasons.iter().any(|failed| *failed) {
                    return Ok(Err(reasons));
                }
            }
            attempt += 1;
            if !is_transient_conflict(&error) || attempt >= UPDATE_ATTEMPTS {
                return Err(backend(table, "TransactWriteItems", error));
            }
            self.conflicts_retried
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            back_off(attempt).await;
        }
    }
}
