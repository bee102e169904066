//! An execution's ended-task counters, spread over shards: a task's end adds one to the shard
//! of its id (an item of the meta table) in the same transaction as the task's status, so
//! concurrent ends do not all write, and conflict on, the execution's item (DynamoDB's
//! per-item throughput bounds a hot key). The execution's item keeps what the lister counts
//! (`total`, and `in_progress` as tasks are created); a read adds the shards in, in the same
//! BatchGetItem as the item (`Execution::add_ended`).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use serde::Deserialize;

use super::{backend, from_item, key_id, key_pk, n, update, DynamoStore};
use crate::model::{time_format, EndedTasks};
use crate::ports::store::StoreError;

/// Shards per execution: enough that tens of concurrent transfers rarely meet on one.
pub(super) const SHARDS: i64 = 8;

fn shard_key(execution_id: i64, shard: i64) -> String {
    format!("ended#{execution_id}#{shard}")
}

/// The shard a task's end counts in.
pub(super) fn shard_of(task_id: i64) -> i64 {
    task_id.rem_euclid(SHARDS)
}

/// One shard as its item holds it.
#[derive(Deserialize)]
struct ShardItem {
    pk: String,
    #[serde(flatten)]
    ended: EndedTasks,
    /// When a task of this shard last ended (epoch milliseconds).
    #[serde(default)]
    updated_ms: i64,
}

/// The ended tasks of one execution, summed over its shards, and when one last ended.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Ended {
    pub tasks: EndedTasks,
    pub updated_ms: i64,
}

impl DynamoStore {
    /// The transaction items adding `ended` to the shards (by shard), each stamped now.
    pub(super) fn count_ended(
        &self,
        execution_id: i64,
        ended: &BTreeMap<i64, EndedTasks>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let meta = &self.tables.meta;
        let now = time_format::now_millis();
        let mut items = Vec::new();
        for (shard, tasks) in ended.iter().filter(|(_, t)| !t.is_empty()) {
            let mut adds = Vec::new();
            let mut shard_update = Update::builder()
                .set_key(Some(key_pk(&shard_key(execution_id, *shard))))
                .expression_attribute_values(":now", n(now));
            for (i, (field, count)) in tasks.fields().into_iter().enumerate() {
                if count != 0 {
                    adds.push(format!("#c{i} :c{i}"));
                    shard_update = shard_update
                        .expression_attribute_names(format!("#c{i}"), field)
                        .expression_attribute_values(format!(":c{i}"), n(count));
                }
            }
            items.push(update(
                meta,
                shard_update
                    .update_expression(format!("ADD {} SET updated_ms = :now", adds.join(", "))),
            )?);
        }
        Ok(items)
    }

    /// The transaction items deleting an execution's shards.
    pub(super) fn delete_shards(
        &self,
        execution_id: i64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let meta = &self.tables.meta;
        (0..SHARDS)
            .map(|shard| {
                let delete = Delete::builder()
                    .table_name(meta)
                    .set_key(Some(key_pk(&shard_key(execution_id, shard))))
                    .build()
                    .map_err(|e| backend(meta, "TransactWriteItems", e))?;
                Ok(TransactWriteItem::builder().delete(delete).build())
            })
            .collect()
    }

    /// The execution's item and its shards, read together in one strongly consistent
    /// BatchGetItem: the item (None when there is none) and the ends summed.
    pub(super) async fn read_with_ended<T: serde::de::DeserializeOwned>(
        &self,
        id: i64,
    ) -> Result<Option<(T, Ended)>, StoreError> {
        let (executions, meta) = (&self.tables.executions, &self.tables.meta);
        let mut wanted = vec![(executions.clone(), key_id(id))];
        wanted.extend(shard_keys(&[id]).into_iter().map(|k| (meta.clone(), k)));
        let mut got = self.read_items(wanted, true).await?;
        let ended = sum_shards(meta, got.remove(meta.as_str()).unwrap_or_default())?
            .remove(&id)
            .unwrap_or_default();
        got.remove(executions.as_str())
            .and_then(|items| items.into_iter().next())
            .map(|item| from_item(executions, item).map(|item| (item, ended)))
            .transpose()
    }

    /// The ends of these executions, by execution, summed over their shards.
    pub(super) async fn ended_of(&self, ids: &[i64]) -> Result<HashMap<i64, Ended>, StoreError> {
        let meta = &self.tables.meta;
        let wanted = shard_keys(ids)
            .into_iter()
            .map(|k| (meta.clone(), k))
            .collect();
        let mut got = self.read_items(wanted, true).await?;
        sum_shards(meta, got.remove(meta.as_str()).unwrap_or_default())
    }
}

fn shard_keys(ids: &[i64]) -> Vec<HashMap<String, AttributeValue>> {
    ids.iter()
        .flat_map(|id| (0..SHARDS).map(move |shard| key_pk(&shard_key(*id, shard))))
        .collect()
}

/// Shard items summed by execution.
fn sum_shards(
    meta: &str,
    items: Vec<HashMap<String, AttributeValue>>,
) -> Result<HashMap<i64, Ended>, StoreError> {
    let mut by_execution: HashMap<i64, Ended> = HashMap::new();
    for item in items {
        let shard: ShardItem = from_item(meta, item)?;
        let id = shard
            .pk
            .split('#')
            .nth(1)
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| StoreError::Corrupt {
                table: meta.to_string(),
                message: format!("{} is not a counter shard's key", shard.pk),
            })?;
        let ended = by_execution.entry(id).or_default();
        ended.tasks += shard.ended;
        ended.updated_ms = ended.updated_ms.max(shard.updated_ms);
    }
    Ok(by_execution)
}
