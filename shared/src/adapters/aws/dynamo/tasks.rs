//! Task records: created in batches with the execution's counters and a batch marker in one
//! transaction (a repeated batch creates nothing); a status change conditional on the status
//! it leaves, moving the execution's counters (the shard the task ends in) in the same
//! transaction.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Select, Update};
use serde::{Deserialize, Serialize};

use super::counters;
use super::paging::PageQuery;
use super::{
    backend, from_item, is_condition_failure, key_id, key_pk, n, now_text, put, s, to_item, update,
    DynamoStore,
};
use crate::model::{
    time_format, EndedTasks, Take, Task, TaskLease, TaskStatus, TransferFigures, ValidationError,
};
use crate::ports::store::{
    check_batch_size, collect_pages, NewTask, Page, StoreError, TaskStore, TaskTransition,
};

/// A task's status and who holds it, as its item carries them beside the task.
#[derive(Deserialize)]
struct TaskHold {
    status: TaskStatus,
    #[serde(flatten)]
    lease: TaskLease,
}

/// A task with who holds it, as its item carries them.
#[derive(Deserialize)]
struct TaskWithHold {
    #[serde(flatten)]
    task: Task,
    handed_on: Option<u32>,
    lease_until: Option<i64>,
    holder: Option<String>,
}

fn task_key(execution_id: i64, task_id: i64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("execution_id".to_string(), n(execution_id)),
        ("id".to_string(), n(task_id)),
    ])
}

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
                    .update_expression("ADD #total :n, in_progress :n SET updated_ms = :now")
                    .expression_attribute_names("#total", "total")
                    .condition_expression("attribute_exists(id)")
                    .expression_attribute_values(":n", n(count))
                    .expression_attribute_values(":now", n(time_format::now_millis())),
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
        self.get_item(&self.tables.tasks, task_key(execution_id, task_id))
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

    async fn take_task(
        &self,
        execution_id: i64,
        task_id: i64,
        continuation: u32,
        until_ms: i64,
        holder: &str,
    ) -> Result<Take, StoreError> {
        let table = &self.tables.tasks;
        let now_ms = time_format::now_millis();
        // TaskLease::take, as a condition: not ended, this continuation or newer, not handed
        // on from, nobody else holding it.
        let result = self
            .client
            .update_item()
            .table_name(table)
            .key("execution_id", n(execution_id))
            .key("id", n(task_id))
            // A take starts the task: Pending becomes InProgress here, not in a second write.
            .update_expression(
                "SET continuations = :c, lease_until = :until, holder = :holder, \
                 #status = :running, start_time = if_not_exists(start_time, :started)",
            )
            .condition_expression(
                "#status IN (:pending, :running) \
                 AND (attribute_not_exists(continuations) OR continuations <= :c) \
                 AND (attribute_not_exists(handed_on) OR handed_on < :c) \
                 AND (attribute_not_exists(lease_until) OR lease_until <= :now OR holder = :holder)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(TaskStatus::Pending.as_str()))
            .expression_attribute_values(":running", s(TaskStatus::InProgress.as_str()))
            .expression_attribute_values(":c", n(i64::from(continuation)))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":holder", s(holder.to_string()))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":started", s(now_text(table)?))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Take::Granted),
            Err(e) if is_condition_failure(&e) => {
                let held: TaskHold = self
                    .get_item(table, task_key(execution_id, task_id))
                    .await?
                    .ok_or(StoreError::NotFound {
                        entity: "task",
                        id: task_id,
                    })?;
                // Granted cannot come back: the condition said otherwise a moment ago.
                Ok(
                    match held.lease.take(held.status, continuation, now_ms, holder) {
                        Take::Granted => Take::Held,
                        other => other,
                    },
                )
            }
            Err(e) => Err(backend(table, "UpdateItem", e)),
        }
    }

    async fn release_task(
        &self,
        execution_id: i64,
        task_id: i64,
        continuation: u32,
        handed_on: bool,
        holder: &str,
    ) -> Result<(), StoreError> {
        let table = &self.tables.tasks;
        let set = if handed_on {
            "SET lease_until = :now, handed_on = :c"
        } else {
            "SET lease_until = :now"
        };
        let result = self
            .client
            .update_item()
            .table_name(table)
            .key("execution_id", n(execution_id))
            .key("id", n(task_id))
            .update_expression(set)
            .condition_expression("continuations = :c AND holder = :holder")
            .expression_attribute_values(":c", n(i64::from(continuation)))
            .expression_attribute_values(":holder", s(holder.to_string()))
            .expression_attribute_values(":now", n(time_format::now_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Taken since by a newer continuation or another message: not this one's to
            // release.
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(backend(table, "UpdateItem", e)),
        }
    }

    async fn open_tasks(&self, execution_id: i64) -> Result<Vec<(Task, TaskLease)>, StoreError> {
        let table = &self.tables.tasks;
        let items: Vec<TaskWithHold> = collect_pages(|cursor| async move {
            self.query_page(
                PageQuery::of_execution(table, execution_id),
                cursor.as_deref(),
                1000,
            )
            .await
        })
        .await?;
        Ok(items
            .into_iter()
            .filter(|i| !i.task.status.is_final())
            .map(|i| {
                let lease = TaskLease {
                    continuations: i.task.continuations,
                    handed_on: i.handed_on,
                    lease_until: i.lease_until,
                    holder: i.holder,
                };
                (i.task, lease)
            })
            .collect())
    }

    /// Up to 92 tasks and the counter shards they end in (at most 8) in one transaction; a
    /// chunk whose transaction fails a condition (a task moved on already) goes one task at a
    /// time.
    async fn transition_tasks(&self, transitions: &[TaskTransition]) -> Result<usize, StoreError> {
        let mut moved = 0;
        for chunk in transitions.chunks(100 - counters::SHARDS as usize) {
            let Some(execution_id) = chunk.first().map(|t| t.execution_id) else {
                continue;
            };
            let mut items = Vec::with_capacity(chunk.len() + 1);
            let mut ended: BTreeMap<i64, EndedTasks> = BTreeMap::new();
            let mut one_execution = true;
            for t in chunk {
                one_execution &= t.execution_id == execution_id;
                let (change, task_update) = self.task_update(t)?;
                if let Some(counter) = change.ends {
                    ended
                        .entry(counters::shard_of(t.task_id))
                        .or_default()
                        .count(counter);
                }
                items.push(update(&self.tables.tasks, task_update)?);
            }
            if !one_execution {
                for t in chunk {
                    moved += usize::from(self.transition_task(t).await?);
                }
                continue;
            }
            items.extend(self.count_ended(execution_id, &ended)?);
            match self.transact(&self.tables.tasks, items).await? {
                Ok(()) => moved += chunk.len(),
                Err(_) => {
                    for t in chunk {
                        moved += usize::from(self.transition_task(t).await?);
                    }
                }
            }
        }
        Ok(moved)
    }

    async fn transition_task(&self, t: &TaskTransition) -> Result<bool, StoreError> {
        let (change, task_update) = self.task_update(t)?;
        let mut items = vec![update(&self.tables.tasks, task_update)?];
        // An end counts in the shard of the task, never in the execution's item (every task's
        // hot spot otherwise).
        if let Some(counter) = change.ends {
            let mut ended = EndedTasks::default();
            ended.count(counter);
            let shard = BTreeMap::from([(counters::shard_of(t.task_id), ended)]);
            items.extend(self.count_ended(t.execution_id, &shard)?);
        }
        match self.transact(&self.tables.tasks, items).await? {
            Ok(()) => Ok(true),
            Err(_) => {
                // The task is not in `from`: gone, or moved on by another delivery.
                self.get_task(t.execution_id, t.task_id).await?;
                Ok(false)
            }
        }
    }
}

impl DynamoStore {
    /// A task's status change as an update conditional on its `from`, and what it changes.
    fn task_update(
        &self,
        t: &TaskTransition,
    ) -> Result<
        (
            crate::model::TaskChange,
            aws_sdk_dynamodb::types::builders::UpdateBuilder,
        ),
        StoreError,
    > {
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
        if let Some(log) = &t.log {
            set.push("#log = :log");
            values.push((
                ":log",
                aws_sdk_dynamodb::types::AttributeValue::M(std::collections::HashMap::from([
                    ("entry".to_string(), s(log.entry.clone())),
                    ("text".to_string(), s(log.text.clone())),
                ])),
            ));
        }
        if let Some(artifact) = &t.artifact {
            set.push("resource_type = :kind, artifact = :artifact");
            values.push((":kind", s(artifact.resource_type.as_str())));
            values.push((":artifact", s(profile_text(artifact))));
        }
        let mut task_update = Update::builder()
            .key("execution_id", n(t.execution_id))
            .key("id", n(t.task_id))
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status");
        if t.log.is_some() {
            task_update = task_update.expression_attribute_names("#log", "log");
        }
        for (name, value) in values {
            task_update = task_update.expression_attribute_values(name, value);
        }
        Ok((change, task_update))
    }
}

/// Largest profile kept with a task: an item holds 400 KB, a task shares it with its log.
const MAX_PROFILE_BYTES: usize = 64 * 1024;

/// A profile as the JSON text kept; one too large for the item keeps all but its
/// `extra_attrs` and says why.
fn profile_text(profile: &crate::model::artifact_types::ArtifactProfile) -> String {
    let text = serde_json::to_string(profile).unwrap_or_default();
    if text.len() <= MAX_PROFILE_BYTES {
        return text;
    }
    let mut smaller = profile.clone();
    smaller.extra_attrs.clear();
    smaller.processor_error = Some(format!(
        "extra_attrs of {} bytes not kept: over {MAX_PROFILE_BYTES}",
        text.len()
    ));
    serde_json::to_string(&smaller).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::artifact_types::ArtifactProfile;
    use crate::model::ResourceType;

    #[test]
    fn a_profile_too_large_for_the_item_keeps_all_but_its_attributes() {
        let mut profile = ArtifactProfile {
            resource_type: ResourceType::CHART,
            digest: format!("sha256:{}", "a".repeat(64)),
            manifest_media_type: crate::oci::media::OCI_MANIFEST.into(),
            media_type: crate::oci::media::HELM_CONFIG.into(),
            extra_attrs: serde_json::from_value(serde_json::json!({"name": "small"})).expect("map"),
            additions: Vec::new(),
            processor: Some("general".into()),
            processor_error: None,
        };
        let kept: ArtifactProfile =
            serde_json::from_str(&profile_text(&profile)).expect("kept whole");
        assert_eq!(kept, profile);
        profile.extra_attrs.insert(
            "readme".into(),
            serde_json::json!("x".repeat(MAX_PROFILE_BYTES)),
        );
        let kept: ArtifactProfile =
            serde_json::from_str(&profile_text(&profile)).expect("kept smaller");
        assert!(kept.extra_attrs.is_empty());
        assert_eq!(kept.resource_type, ResourceType::CHART);
        assert!(kept.processor_error.is_some_and(|e| e.contains("not kept")));
    }
}
