//! Execution records: Harbor's counters, moved atomically with the tasks (the ends in shards,
//! see `counters`); the count of list
//! pieces still open; one-time claims of firings and events. An execution is finished once,
//! by a write conditional on the counters it read.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Update};
use serde::{Deserialize, Serialize};

use super::counters::Ended;
use super::paging::PageQuery;
use super::{
    backend, delete, is_condition_failure, is_transient_conflict, key_id, key_pk, n, now_text,
    optimistic, put, s, to_item, update, DynamoStore, LIST_KEY,
};
use crate::model::{time_format, Execution, ExecutionStatus, Task, TriggerType};
use crate::ports::store::{
    collect_pages, ExecutionStore, Launch, Page, RunningExecution, StoreError,
};

#[derive(Serialize, Deserialize)]
struct ExecutionItem {
    #[serde(flatten)]
    execution: Execution,
    list_key: String,
    listings_pending: i64,
    /// When a counter last moved (epoch milliseconds): the reaper tells silence by it.
    #[serde(default)]
    updated_ms: i64,
    /// What it was started to do (absent in items written before it was kept: a listing).
    #[serde(default)]
    launch: Launch,
    #[serde(default)]
    relaunched: bool,
}

/// Which execution of a policy runs, for `single_active_replication`.
#[derive(Serialize, Deserialize)]
struct ActiveItem {
    pk: String,
    execution_id: i64,
}

fn active_key(policy_id: i64) -> String {
    format!("active#{policy_id}")
}

impl ExecutionItem {
    /// Adds in the tasks that ended, as the counter shards hold them.
    fn add_ended(&mut self, ended: Ended) {
        self.execution.add_ended(ended.tasks);
        self.updated_ms = self.updated_ms.max(ended.updated_ms);
    }
}

impl DynamoStore {
    async fn execution_item(&self, id: i64) -> Result<ExecutionItem, StoreError> {
        Ok(self.execution_counted(id).await?.0)
    }

    /// The execution with its counters whole, and `in_progress` as its own item holds it
    /// (every task created, ended or not): what a write conditional on "no task added since"
    /// compares with.
    async fn execution_counted(&self, id: i64) -> Result<(ExecutionItem, i64), StoreError> {
        let (mut item, ended) =
            self.read_with_ended::<ExecutionItem>(id)
                .await?
                .ok_or(StoreError::NotFound {
                    entity: "execution",
                    id,
                })?;
        let created = item.execution.in_progress;
        item.add_ended(ended);
        Ok((item, created))
    }

    /// Items as read, with their counter shards added in.
    async fn with_ended(
        &self,
        mut items: Vec<ExecutionItem>,
    ) -> Result<Vec<ExecutionItem>, StoreError> {
        let ids: Vec<i64> = items.iter().map(|i| i.execution.id).collect();
        let mut ended = self.ended_of(&ids).await?;
        for item in &mut items {
            if let Some(e) = ended.remove(&item.execution.id) {
                item.add_ended(e);
            }
        }
        Ok(items)
    }

    /// Moves `listings_pending` by `delta` together with a marker, so a repeat changes nothing.
    async fn count_listing(&self, id: i64, marker: &str, delta: i64) -> Result<(), StoreError> {
        let table = &self.tables.executions;
        let items = vec![
            put(
                &self.tables.meta,
                key_pk(marker),
                "attribute_not_exists(pk)",
                vec![],
            )?,
            update(
                table,
                Update::builder()
                    .set_key(Some(key_id(id)))
                    .update_expression("ADD listings_pending :d SET updated_ms = :now")
                    .condition_expression("attribute_exists(id)")
                    .expression_attribute_values(":d", n(delta))
                    .expression_attribute_values(":now", n(time_format::now_millis())),
            )?,
        ];
        match self.transact(table, items).await? {
            Ok(()) => Ok(()),
            Err(reasons) if reasons.get(1) == Some(&true) => Err(StoreError::NotFound {
                entity: "execution",
                id,
            }),
            Err(_) => Ok(()),
        }
    }
}

#[async_trait]
impl ExecutionStore for DynamoStore {
    async fn create_execution(
        &self,
        policy_id: i64,
        trigger: TriggerType,
        listings: i64,
        launch: &Launch,
    ) -> Result<Execution, StoreError> {
        let id = self.allocate_ids("execution", 1).await?;
        let item = ExecutionItem {
            execution: launch.execution(id, policy_id, trigger, time_format::now()),
            list_key: LIST_KEY.into(),
            listings_pending: listings,
            updated_ms: time_format::now_millis(),
            launch: launch.clone(),
            relaunched: false,
        };
        let table = &self.tables.executions;
        let mut writes = vec![put(
            table,
            to_item(table, &item)?,
            "attribute_not_exists(id)",
            vec![],
        )?];
        writes.extend(self.execution_counts(policy_id, 1)?);
        match self.transact(table, writes).await? {
            Ok(()) => Ok(item.execution),
            Err(_) => Err(StoreError::Conflict {
                entity: "execution",
                id,
            }),
        }
    }

    async fn get_execution(&self, id: i64) -> Result<Execution, StoreError> {
        Ok(self.execution_item(id).await?.execution)
    }

    async fn count_executions(&self, policy_id: Option<i64>) -> Result<i64, StoreError> {
        #[derive(serde::Deserialize)]
        struct Count {
            #[serde(default)]
            count: i64,
        }
        let count: Option<Count> = self
            .get_item(&self.tables.meta, key_pk(&count_key(policy_id)))
            .await?;
        Ok(count.map_or(0, |c| c.count.max(0)))
    }

    async fn list_executions(
        &self,
        policy_id: Option<i64>,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Execution>, StoreError> {
        let table = &self.tables.executions;
        let query = match policy_id {
            Some(policy_id) => PageQuery::of_policy(table, policy_id),
            None => PageQuery::all(table, false),
        };
        let page: Page<ExecutionItem> = self.query_page(query, cursor, limit).await?;
        let items = self.with_ended(page.items).await?;
        Ok(Page {
            items: items.into_iter().map(|i| i.execution).collect(),
            next: page.next,
        })
    }

    async fn claim_once(&self, key: &str) -> Result<bool, StoreError> {
        let table = &self.tables.meta;
        match self
            .client
            .put_item()
            .table_name(table)
            .item("pk", s(format!("claim#{key}")))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend(table, "PutItem", e)),
        }
    }

    async fn claim_once_until(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        let table = &self.tables.meta;
        match self
            .client
            .put_item()
            .table_name(table)
            .item("pk", s(format!("claim#{key}")))
            .item("expires_at", n(expires_at))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend(table, "PutItem", e)),
        }
    }

    async fn release_claim(&self, key: &str) -> Result<(), StoreError> {
        let table = &self.tables.meta;
        self.client
            .delete_item()
            .table_name(table)
            .set_key(Some(key_pk(&format!("claim#{key}"))))
            .send()
            .await
            .map_err(|e| backend(table, "DeleteItem", e))?;
        Ok(())
    }

    async fn open_listing(&self, id: i64, piece: &str) -> Result<(), StoreError> {
        self.count_listing(id, &format!("listing-open#{id}#{piece}"), 1)
            .await
    }

    async fn close_listing(&self, id: i64, piece: &str) -> Result<(), StoreError> {
        self.count_listing(id, &format!("listing-done#{id}#{piece}"), -1)
            .await
    }

    async fn listings_pending(&self, id: i64) -> Result<i64, StoreError> {
        Ok(self.execution_item(id).await?.listings_pending)
    }

    async fn finish_if_done(&self, id: i64) -> Result<Option<ExecutionStatus>, StoreError> {
        let table = &self.tables.executions;
        optimistic("execution", id, || async move {
            let (item, created) = self.execution_counted(id).await?;
            let Some(status) = item.execution.final_status(item.listings_pending) else {
                return Ok(Some(None));
            };
            // Every task created has ended, so no counter moves any more; written only if no
            // task or list piece was added since the read.
            let result = self
                .client
                .update_item()
                .table_name(table)
                .set_key(Some(key_id(id)))
                .update_expression("SET #status = :final, end_time = :end")
                .condition_expression(
                    "#status = :running AND in_progress = :created AND listings_pending = :zero",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":final", s(status.as_str()))
                .expression_attribute_values(":end", s(now_text(table)?))
                .expression_attribute_values(":running", s(ExecutionStatus::InProgress.as_str()))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":created", n(created))
                .send()
                .await;
            match result {
                Ok(_) => Ok(Some(Some(status))),
                Err(err) if is_condition_failure(&err) || is_transient_conflict(&err) => Ok(None),
                Err(err) => Err(backend(table, "UpdateItem", err)),
            }
        })
        .await
    }

    async fn end_execution(
        &self,
        id: i64,
        status: ExecutionStatus,
        status_text: &str,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.executions;
        let result = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(key_id(id)))
            .update_expression("SET #status = :final, end_time = :end, status_text = :text")
            .condition_expression("#status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":final", s(status.as_str()))
            .expression_attribute_values(":end", s(now_text(table)?))
            .expression_attribute_values(":text", s(status_text))
            .expression_attribute_values(":running", s(ExecutionStatus::InProgress.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => {
                self.execution_item(id).await?;
                Ok(false)
            }
            Err(err) => Err(backend(table, "UpdateItem", err)),
        }
    }

    async fn delete_execution(&self, id: i64) -> Result<(), StoreError> {
        let tasks_table = &self.tables.tasks;
        let tasks: Vec<Task> = collect_pages(|cursor| async move {
            self.query_page(
                PageQuery::of_execution(tasks_table, id),
                cursor.as_deref(),
                100,
            )
            .await
        })
        .await?;
        for task in &tasks {
            self.client
                .delete_item()
                .table_name(tasks_table)
                .key("execution_id", n(id))
                .key("id", n(task.id))
                .send()
                .await
                .map_err(|e| backend(tasks_table, "DeleteItem", e))?;
        }
        let table = &self.tables.executions;
        let Some(current) = self.get_item::<ExecutionItem>(table, key_id(id)).await? else {
            return Ok(());
        };
        // The counters move only with the delete that removed the item: a second delete of
        // the same execution fails its condition and counts nothing.
        let mut writes = vec![delete(table, key_id(id), "attribute_exists(id)", vec![])?];
        writes.extend(self.execution_counts(current.execution.policy_id, -1)?);
        writes.extend(self.delete_shards(id)?);
        self.transact(table, writes).await?.ok();
        Ok(())
    }

    async fn claim_active(
        &self,
        policy_id: i64,
        execution_id: i64,
    ) -> Result<Option<i64>, StoreError> {
        let meta = &self.tables.meta;
        let key = active_key(policy_id);
        optimistic("policy", policy_id, || async {
            let holder: Option<ActiveItem> = self.get_item(meta, key_pk(&key)).await?;
            let condition = match &holder {
                None => "attribute_not_exists(pk)",
                Some(held) if held.execution_id == execution_id => return Ok(Some(None)),
                Some(held) => match self.execution_item(held.execution_id).await {
                    Ok(item) if !item.execution.status.is_final() => {
                        return Ok(Some(Some(held.execution_id)))
                    }
                    // Ended or gone: its place is free.
                    Ok(_) | Err(StoreError::NotFound { .. }) => "execution_id = :held",
                    Err(e) => return Err(e),
                },
            };
            let item = ActiveItem {
                pk: key.clone(),
                execution_id,
            };
            let mut write = self
                .client
                .put_item()
                .table_name(meta)
                .set_item(Some(to_item(meta, &item)?))
                .condition_expression(condition);
            if let Some(held) = &holder {
                write = write.expression_attribute_values(":held", n(held.execution_id));
            }
            match write.send().await {
                Ok(_) => Ok(Some(None)),
                Err(e) if is_condition_failure(&e) => Ok(None),
                Err(e) => Err(backend(meta, "PutItem", e)),
            }
        })
        .await
    }

    async fn running_executions(&self) -> Result<Vec<RunningExecution>, StoreError> {
        let table = &self.tables.executions;
        let items: Vec<ExecutionItem> = collect_pages(|cursor| async move {
            self.query_page(PageQuery::all(table, false), cursor.as_deref(), 1000)
                .await
        })
        .await?;
        let running: Vec<ExecutionItem> = items
            .into_iter()
            .filter(|i| !i.execution.status.is_final())
            .collect();
        Ok(self
            .with_ended(running)
            .await?
            .into_iter()
            .map(|i| RunningExecution {
                execution: i.execution,
                listings_pending: i.listings_pending,
                updated_ms: i.updated_ms,
                launch: i.launch,
                relaunched: i.relaunched,
            })
            .collect())
    }

    async fn mark_relaunched(&self, id: i64) -> Result<bool, StoreError> {
        let table = &self.tables.executions;
        let result = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(key_id(id)))
            .update_expression("SET relaunched = :yes, updated_ms = :now")
            .condition_expression(
                "attribute_exists(id) AND (attribute_not_exists(relaunched) OR relaunched = :no)",
            )
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":now", n(time_format::now_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend(table, "UpdateItem", e)),
        }
    }
}

/// The meta item counting the executions of one policy, or of all.
fn count_key(policy_id: Option<i64>) -> String {
    match policy_id {
        Some(policy_id) => format!("count#executions#policy#{policy_id}"),
        None => "count#executions".into(),
    }
}

impl DynamoStore {
    /// Moves both execution counters (all, and the policy's) by `delta`, in a transaction.
    fn execution_counts(
        &self,
        policy_id: i64,
        delta: i64,
    ) -> Result<Vec<aws_sdk_dynamodb::types::TransactWriteItem>, StoreError> {
        [None, Some(policy_id)]
            .into_iter()
            .map(|scope| {
                update(
                    &self.tables.meta,
                    Update::builder()
                        .set_key(Some(key_pk(&count_key(scope))))
                        .update_expression("ADD #count :d")
                        .expression_attribute_names("#count", "count")
                        .expression_attribute_values(":d", n(delta)),
                )
            })
            .collect()
    }
}
