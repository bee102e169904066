//! Task records: created in batches with the execution's counters and a batch marker in one
//! transaction (a repeated batch creates nothing); a status change conditional on the status
//! it leaves, moving the execution's counters in the same transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Select, Update};
use serde::{Deserialize, Serialize};

use super::paging::PageQuery;
use super::{
    backend, from_item, is_condition_failure, key_id, key_pk, n, now_text, put, s, to_item, update,
    DynamoStore,
};
use crate::model::{Task, TaskStatus, TransferFigures, ValidationError};
use crate::ports::store::{check_batch_size, NewTask, Page, StoreError, TaskStore, TaskTransition};

/// Which ids a batch of tasks got, so that a repeated batch returns the same tasks.
#[derive(Serialize, Deserialize)]
struct TaskBatchMarker {
    pk: String,
    first_id: i64,
    count: i64,
}

impl DynamoStore {
    async fn tasks_of_batch(
        &self,
        execution_id: i64,
        marker: &TaskBatchMarker,
    ) -> Result<Vec<Task>, StoreError> {
        let table = &self.tables.tasks;
        let out = self
            .client
            .query()
            .table_name(table)
            .key_condition_expression("execution_id = :e AND id BETWEEN :first AND :last")
            .expression_attribute_values(":e", n(execution_id))
            .expression_attribute_values(":first", n(marker.first_id))
            .expression_attribute_values(":last", n(marker.first_id + marker.count - 1))
            .consistent_read(true)
            .select(Select::AllAttributes)
            .send()
            .await
            .map_err(|e| backend(table, "Query", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item(table, item))
            .collect()
    }
}

#[async_trait]
impl TaskStore for DynamoStore {
    async fn create_tasks(
        &self,
        execution_id: i64,
        batch_key: &str,
        tasks: &[NewTask],
    ) -> Result<Vec<Task>, StoreError> {
        check_batch_size(tasks)?;
        let marker_key = format!("task-batch#{execution_id}#{batch_key}");
        if let Some(marker) = self
            .get_item::<TaskBatchMarker>(&self.tables.meta, key_pk(&marker_key))
            .await?
        {
            return self.tasks_of_batch(execution_id, &marker).await;
        }
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let count = tasks.len() as i64;
        let first_id = self.allocate_ids("task", count).await?;
        let marker = TaskBatchMarker {
            pk: marker_key.clone(),
            first_id,
            count,
        };
        let table = &self.tables.tasks;
        let created: Vec<Task> = tasks
            .iter()
            .zip(first_id..)
            .map(|(t, id)| t.pending(execution_id, id))
            .collect();
        let mut items = vec![
            put(
                &self.tables.meta,
                to_item(&self.tables.meta, &marker)?,
                "attribute_not_exists(pk)",
                vec![],
            )?,
            // New tasks count into `total` and, pending, into `in_progress` (Execution::add_tasks).
            update(
                &self.tables.executions,
                Update::builder()
                    .set_key(Some(key_id(execution_id)))
                    .update_expression("ADD #total :n, in_progress :n")
                    .expression_attribute_names("#total", "total")
                    .condition_expression("attribute_exists(id)")
                    .expression_attribute_values(":n", n(count)),
            )?,
        ];
        for task in &created {
            items.push(put(
                table,
                to_item(table, task)?,
                "attribute_not_exists(id)",
                vec![],
            )?);
        }
        match self.transact(table, items).await? {
            Ok(()) => Ok(created),
            Err(reasons) if reasons.first() == Some(&true) => {
                // Another delivery of the same batch won the race: return what it created.
                let marker: TaskBatchMarker = self
                    .get_item(&self.tables.meta, key_pk(&marker_key))
                    .await?
                    .ok_or(StoreError::Conflict {
                        entity: "execution",
                        id: execution_id,
                    })?;
                self.tasks_of_batch(execution_id, &marker).await
            }
            Err(reasons) if reasons.get(1) == Some(&true) => Err(StoreError::NotFound {
                entity: "execution",
                id: execution_id,
            }),
            Err(_) => Err(StoreError::Conflict {
                entity: "execution",
                id: execution_id,
            }),
        }
    }

    async fn get_task(&self, execution_id: i64, task_id: i64) -> Result<Task, StoreError> {
        let key = HashMap::from([
            ("execution_id".to_string(), n(execution_id)),
            ("id".to_string(), n(task_id)),
        ]);
        self.get_item(&self.tables.tasks, key)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "task",
                id: task_id,
            })
    }

    async fn list_tasks(
        &self,
        execution_id: i64,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Task>, StoreError> {
        self.query_page(
            PageQuery::of_execution(&self.tables.tasks, execution_id),
            cursor,
            limit,
        )
        .await
    }

    async fn advance_continuation(
        &self,
        execution_id: i64,
        task_id: i64,
        from: u32,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.tasks;
        let result = self
            .client
            .update_item()
            .table_name(table)
            .key("execution_id", n(execution_id))
            .key("id", n(task_id))
            .update_expression("SET continuations = :next")
            .condition_expression("#status = :running AND (continuations = :from OR (attribute_not_exists(continuations) AND :from = :zero))")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(TaskStatus::InProgress.as_str()))
            .expression_attribute_values(":from", n(i64::from(from)))
            .expression_attribute_values(":next", n(i64::from(from) + 1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend(table, "UpdateItem", e)),
        }
    }

    async fn transition_task(&self, t: &TaskTransition) -> Result<bool, StoreError> {
        let change = t
            .from
            .change_to(t.to)
            .map_err(|e| StoreError::Invalid(ValidationError::new("status", e.to_string())))?;
        let mut set = vec!["#status = :to"];
        let mut values = vec![(":to", s(t.to.as_str())), (":from", s(t.from.as_str()))];
        if change.starts {
            set.push("start_time = :now");
        }
        if change.ends.is_some() {
            set.push("end_time = :now");
        }
        if change.starts || change.ends.is_some() {
            values.push((":now", s(now_text(&self.tables.tasks)?)));
        }
        if let Some(text) = &t.status_text {
            set.push("status_text = :text");
            values.push((":text", s(text.clone())));
        }
        if let Some(f) = &t.figures {
            set.push(FIGURES);
            values.extend(figure_values(f));
        }
        let mut task_update = Update::builder()
            .key("execution_id", n(t.execution_id))
            .key("id", n(t.task_id))
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status");
        for (name, value) in values {
            task_update = task_update.expression_attribute_values(name, value);
        }
        let mut items = vec![update(&self.tables.tasks, task_update)?];
        // A change that moves no counter touches the task alone, keeping the execution item
        // (every task's hot spot) out of the transaction.
        if let Some(counter) = change.ends {
            items.push(update(
                &self.tables.executions,
                Update::builder()
                    .set_key(Some(key_id(t.execution_id)))
                    .update_expression("ADD in_progress :minus, #counter :one")
                    .expression_attribute_names("#counter", counter.field())
                    .condition_expression("attribute_exists(id)")
                    .expression_attribute_values(":minus", n(-1))
                    .expression_attribute_values(":one", n(1)),
            )?);
        }
        match self.transact(&self.tables.tasks, items).await? {
            Ok(()) => Ok(true),
            Err(reasons) if reasons.get(1) == Some(&true) => Err(StoreError::NotFound {
                entity: "execution",
                id: t.execution_id,
            }),
            Err(_) => {
                // The task is not in `from`: gone, or moved on by another delivery.
                self.get_task(t.execution_id, t.task_id).await?;
                Ok(false)
            }
        }
    }
}

const FIGURES: &str = "bytes_copied = :bytes, blobs_copied = :copied, \
                       blobs_skipped = :skipped, blobs_mounted = :mounted";

fn figure_values(
    f: &TransferFigures,
) -> [(&'static str, aws_sdk_dynamodb::types::AttributeValue); 4] {
    [
        (":bytes", n(f.bytes_copied)),
        (":copied", n(f.blobs_copied)),
        (":skipped", n(f.blobs_skipped)),
        (":mounted", n(f.blobs_mounted)),
    ]
}
