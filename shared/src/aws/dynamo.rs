//! The DynamoDB store: registries, policies, executions, tasks, and a meta table holding id
//! sequences, name guards and task-batch markers.
//!
//! Tables and indexes (declared once, in infra/template.yaml):
//! - registries, policies: key `id` (N); index `by_list` (`list_key` S, `id` N) for id order.
//! - executions: key `id` (N); index `by_policy` (`policy_id` N, `id` N) and `by_list`.
//! - tasks: key `execution_id` (N) + `id` (N).
//! - meta: key `pk` (S).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, Select, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use base64::Engine;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::model::{
    time_format, Execution, ExecutionStatus, Registry, ReplicationPolicy, Task, TaskStatus,
    TransferFigures, TriggerType, ValidationError, SECRET_MASK,
};
use crate::ports::secrets::SecretCipher;
use crate::ports::store::{
    ExecutionStore, NewTask, Page, PolicyChange, PolicyStore, RegistryChange, RegistryStore,
    StoreError, TaskStore, TaskTransition, MAX_TASKS_PER_BATCH,
};

/// The physical names of the tables, from the environment the template sets.
#[derive(Debug, Clone)]
pub struct TableNames {
    pub registries: String,
    pub policies: String,
    pub executions: String,
    pub tasks: String,
    pub meta: String,
}

const LIST_KEY: &str = "all";
const BY_LIST: &str = "by_list";
const BY_POLICY: &str = "by_policy";
/// Attempts of a read-change-write before a conflict is reported.
const UPDATE_ATTEMPTS: u32 = 25;

/// A short random pause after losing a race, growing with the attempt, so that writers that
/// collided do not collide again in lockstep.
async fn back_off(attempt: u32) {
    let jitter = (uuid::Uuid::new_v4().as_u128() % 20) as u64;
    let millis = jitter + u64::from(attempt.min(10)) * 5;
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

pub struct DynamoStore {
    client: Client,
    tables: TableNames,
    cipher: Arc<dyn SecretCipher>,
}

#[derive(Serialize, Deserialize)]
struct RegistryItem {
    #[serde(flatten)]
    registry: Registry,
    list_key: String,
    version: i64,
    #[serde(default)]
    policy_refs: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_ciphertext: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct PolicyItem {
    #[serde(flatten)]
    policy: ReplicationPolicy,
    src_registry_id: i64,
    dest_registry_id: i64,
    list_key: String,
    version: i64,
}

#[derive(Serialize, Deserialize)]
struct ExecutionItem {
    #[serde(flatten)]
    execution: Execution,
    list_key: String,
    listings_pending: i64,
}

#[derive(Serialize, Deserialize)]
struct TaskBatchMarker {
    pk: String,
    first_id: i64,
    count: i64,
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

fn registry_name_guard(name: &str) -> String {
    format!("registry-name#{name}")
}

fn policy_name_guard(name: &str) -> String {
    format!("policy-name#{name}")
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

/// The reasons DynamoDB gives for a cancelled transaction, one per item: which conditions failed.
fn cancelled_conditions(
    error: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    >,
) -> Option<Vec<bool>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
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
fn is_transient_conflict<E, R>(error: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
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

fn is_condition_failure<E, R>(error: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// Cursors are the last evaluated key, as base64url JSON: opaque to clients, checked on the way in.
fn encode_cursor(key: Option<&HashMap<String, AttributeValue>>) -> Option<String> {
    let key = key?;
    let json: serde_json::Value = serde_dynamo::from_item(key.clone()).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string()))
}

fn decode_cursor(
    cursor: Option<&str>,
    expected: &[&str],
) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let mut names: Vec<&str> = json.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut wanted = expected.to_vec();
    wanted.sort_unstable();
    if names != wanted {
        return Err(StoreError::InvalidCursor);
    }
    serde_dynamo::to_item(json)
        .map(Some)
        .map_err(|_| StoreError::InvalidCursor)
}

fn clamp_limit(limit: i32) -> i32 {
    limit.clamp(1, 1000)
}

/// A query over one partition, in key order (`forward`) or newest first.
struct PageQuery<'a> {
    table: &'a str,
    index: Option<&'a str>,
    key_condition: &'a str,
    values: Vec<(&'a str, AttributeValue)>,
    forward: bool,
    /// The key attributes a cursor of this query holds.
    cursor_keys: &'a [&'a str],
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames, cipher: Arc<dyn SecretCipher>) -> Self {
        Self {
            client,
            tables,
            cipher,
        }
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

    async fn registry_item(&self, id: i64) -> Result<RegistryItem, StoreError> {
        self.get_item(&self.tables.registries, key_id(id))
            .await?
            .ok_or(StoreError::NotFound {
                entity: "registry",
                id,
            })
    }

    async fn policy_item(&self, id: i64) -> Result<PolicyItem, StoreError> {
        self.get_item(&self.tables.policies, key_id(id))
            .await?
            .ok_or(StoreError::NotFound {
                entity: "policy",
                id,
            })
    }

    async fn execution_item(&self, id: i64) -> Result<ExecutionItem, StoreError> {
        self.get_item(&self.tables.executions, key_id(id))
            .await?
            .ok_or(StoreError::NotFound {
                entity: "execution",
                id,
            })
    }

    async fn seal_secret(
        &self,
        id: i64,
        secret: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        match secret.filter(|s| !s.is_empty()) {
            Some(secret) => {
                let ciphertext = self.cipher.encrypt(id, secret).await?;
                Ok(Some(
                    base64::engine::general_purpose::STANDARD.encode(ciphertext),
                ))
            }
            None => Ok(None),
        }
    }

    /// The registry as stored, never carrying plaintext.
    fn registry_record(
        registry: &Registry,
        ciphertext: Option<String>,
        version: i64,
        refs: i64,
    ) -> RegistryItem {
        let mut stored = registry.clone();
        if let Some(credential) = stored.credential.as_mut() {
            credential.access_secret = None;
        }
        RegistryItem {
            registry: stored,
            list_key: LIST_KEY.into(),
            version,
            policy_refs: refs,
            secret_ciphertext: ciphertext,
        }
    }

    fn registry_read(item: RegistryItem) -> Registry {
        let mut registry = item.registry;
        if let Some(credential) = registry.credential.as_mut() {
            credential.access_secret = item.secret_ciphertext.map(|_| SECRET_MASK.to_string());
        }
        registry
    }

    fn policy_read(item: PolicyItem) -> ReplicationPolicy {
        let mut policy = item.policy;
        let reference = |id: i64| {
            (id != 0).then(|| Registry {
                id,
                ..Registry::default()
            })
        };
        policy.src_registry = reference(item.src_registry_id);
        policy.dest_registry = reference(item.dest_registry_id);
        policy
    }

    fn policy_record(policy: &ReplicationPolicy, version: i64) -> PolicyItem {
        let mut stored = policy.clone();
        stored.src_registry = None;
        stored.dest_registry = None;
        PolicyItem {
            src_registry_id: policy.src_registry_id(),
            dest_registry_id: policy.dest_registry_id(),
            policy: stored,
            list_key: LIST_KEY.into(),
            version,
        }
    }

    /// Counts one more (or one fewer) policy on a registry; the registry must exist.
    fn registry_ref_update(
        &self,
        registry_id: i64,
        delta: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.tables.registries)
            .set_key(Some(key_id(registry_id)))
            .update_expression("ADD policy_refs :d, version :one")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_values(":d", n(delta))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(|e| backend(&self.tables.registries, "TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn put(
        &self,
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
        &self,
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

    fn name_guard_put(&self, guard: &str, id: i64) -> Result<TransactWriteItem, StoreError> {
        let item = HashMap::from([("pk".to_string(), s(guard)), ("id".to_string(), n(id))]);
        self.put(&self.tables.meta, item, "attribute_not_exists(pk)", vec![])
    }

    fn name_guard_delete(&self, guard: &str, id: i64) -> Result<TransactWriteItem, StoreError> {
        self.delete(
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
            back_off(attempt).await;
        }
    }

    async fn query_page<T: DeserializeOwned>(
        &self,
        q: PageQuery<'_>,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<T>, StoreError> {
        let PageQuery {
            table,
            index,
            key_condition,
            values,
            forward,
            cursor_keys,
        } = q;
        let mut query = self
            .client
            .query()
            .table_name(table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(key_condition)
            .scan_index_forward(forward)
            .limit(clamp_limit(limit))
            .set_exclusive_start_key(decode_cursor(cursor, cursor_keys)?);
        for (name, value) in values {
            query = query.expression_attribute_values(name, value);
        }
        let out = query.send().await.map_err(|e| backend(table, "Query", e))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item(table, item))
            .collect::<Result<Vec<T>, _>>()?;
        Ok(Page {
            items,
            next: encode_cursor(out.last_evaluated_key.as_ref()),
        })
    }
}

#[async_trait]
impl RegistryStore for DynamoStore {
    async fn create_registry(&self, registry: &Registry) -> Result<Registry, StoreError> {
        let id = self.allocate_ids("registry", 1).await?;
        let now = time_format::now();
        let mut record = registry.clone();
        record.id = id;
        record.creation_time = now;
        record.update_time = now;
        let secret = record
            .credential
            .as_ref()
            .and_then(|c| c.access_secret.clone());
        let ciphertext = self.seal_secret(id, secret.as_deref()).await?;
        let item = Self::registry_record(&record, ciphertext, 1, 0);
        let table = &self.tables.registries;
        let items = vec![
            self.name_guard_put(&registry_name_guard(&record.name), id)?,
            self.put(
                table,
                to_item(table, &item)?,
                "attribute_not_exists(id)",
                vec![],
            )?,
        ];
        match self.transact(table, items).await? {
            Ok(()) => Ok(Self::registry_read(item)),
            Err(_) => Err(StoreError::DuplicateName {
                entity: "registry",
                name: record.name,
            }),
        }
    }

    async fn get_registry(&self, id: i64) -> Result<Registry, StoreError> {
        Ok(Self::registry_read(self.registry_item(id).await?))
    }

    async fn get_registry_with_secret(&self, id: i64) -> Result<Registry, StoreError> {
        let item = self.registry_item(id).await?;
        let secret = match &item.secret_ciphertext {
            Some(encoded) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|e| StoreError::Corrupt {
                        table: self.tables.registries.clone(),
                        message: format!("registry {id}: secret_ciphertext: {e}"),
                    })?;
                Some(self.cipher.decrypt(id, &bytes).await?)
            }
            None => None,
        };
        let mut registry = item.registry;
        if let Some(credential) = registry.credential.as_mut() {
            credential.access_secret = secret;
        }
        Ok(registry)
    }

    async fn update_registry(
        &self,
        id: i64,
        change: &RegistryChange<'_>,
    ) -> Result<Registry, StoreError> {
        let table = &self.tables.registries;
        for attempt in 0..UPDATE_ATTEMPTS {
            if attempt > 0 {
                back_off(attempt).await;
            }
            let current = self.registry_item(id).await?;
            let old_name = current.registry.name.clone();
            let old_ciphertext = current.secret_ciphertext.clone();
            let (version, refs) = (current.version, current.policy_refs);
            let mut updated = Self::registry_read(current);
            change(&mut updated)?;
            updated.id = id;
            updated.update_time = time_format::now();
            let new_secret = updated
                .credential
                .as_ref()
                .and_then(|c| c.access_secret.clone());
            let ciphertext = match new_secret.as_deref() {
                Some(SECRET_MASK) => old_ciphertext,
                other => self.seal_secret(id, other).await?,
            };
            let item = Self::registry_record(&updated, ciphertext, version + 1, refs);
            let mut items = vec![self.put(
                table,
                to_item(table, &item)?,
                "version = :v",
                vec![(":v", n(version))],
            )?];
            let renamed = updated.name != old_name;
            if renamed {
                items.push(self.name_guard_put(&registry_name_guard(&updated.name), id)?);
                items.push(self.name_guard_delete(&registry_name_guard(&old_name), id)?);
            }
            match self.transact(table, items).await? {
                Ok(()) => return Ok(Self::registry_read(item)),
                Err(reasons) if renamed && reasons.get(1) == Some(&true) => {
                    return Err(StoreError::DuplicateName {
                        entity: "registry",
                        name: updated.name,
                    })
                }
                Err(_) => continue,
            }
        }
        Err(StoreError::Conflict {
            entity: "registry",
            id,
        })
    }

    async fn delete_registry(&self, id: i64) -> Result<(), StoreError> {
        let table = &self.tables.registries;
        for attempt in 0..UPDATE_ATTEMPTS {
            if attempt > 0 {
                back_off(attempt).await;
            }
            let current = self.registry_item(id).await?;
            if current.policy_refs > 0 {
                return Err(StoreError::InUse {
                    entity: "registry",
                    id,
                    reason: format!("{} replication policies refer to it", current.policy_refs),
                });
            }
            let items = vec![
                self.delete(
                    table,
                    key_id(id),
                    "version = :v AND (attribute_not_exists(policy_refs) OR policy_refs = :zero)",
                    vec![(":v", n(current.version)), (":zero", n(0))],
                )?,
                self.name_guard_delete(&registry_name_guard(&current.registry.name), id)?,
            ];
            if self.transact(table, items).await?.is_ok() {
                return Ok(());
            }
        }
        Err(StoreError::Conflict {
            entity: "registry",
            id,
        })
    }

    async fn list_registries(
        &self,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Registry>, StoreError> {
        let page: Page<RegistryItem> = self
            .query_page(
                PageQuery {
                    table: &self.tables.registries,
                    index: Some(BY_LIST),
                    key_condition: "list_key = :k",
                    values: vec![(":k", s(LIST_KEY))],
                    forward: true,
                    cursor_keys: &["id", "list_key"],
                },
                cursor,
                limit,
            )
            .await?;
        Ok(Page {
            items: page.items.into_iter().map(Self::registry_read).collect(),
            next: page.next,
        })
    }
}

fn missing_registry(field: &str, id: i64) -> StoreError {
    StoreError::Invalid(ValidationError::new(
        field,
        format!("registry {id} does not exist"),
    ))
}

#[async_trait]
impl PolicyStore for DynamoStore {
    async fn create_policy(
        &self,
        policy: &ReplicationPolicy,
    ) -> Result<ReplicationPolicy, StoreError> {
        let id = self.allocate_ids("policy", 1).await?;
        let now = time_format::now();
        let mut record = policy.clone();
        record.id = id;
        record.creation_time = now;
        record.update_time = now;
        let item = Self::policy_record(&record, 1);
        let table = &self.tables.policies;
        let mut items = vec![
            self.name_guard_put(&policy_name_guard(&record.name), id)?,
            self.put(
                table,
                to_item(table, &item)?,
                "attribute_not_exists(id)",
                vec![],
            )?,
        ];
        let refs = [
            ("src_registry.id", item.src_registry_id),
            ("dest_registry.id", item.dest_registry_id),
        ];
        for (_, registry_id) in refs.iter().filter(|(_, id)| *id != 0) {
            items.push(self.registry_ref_update(*registry_id, 1)?);
        }
        match self.transact(table, items).await? {
            Ok(()) => Ok(Self::policy_read(item)),
            Err(reasons) => {
                if reasons.first() == Some(&true) {
                    return Err(StoreError::DuplicateName {
                        entity: "policy",
                        name: record.name,
                    });
                }
                let failed_refs = refs.iter().filter(|(_, id)| *id != 0).enumerate();
                for (i, (field, registry_id)) in failed_refs {
                    if reasons.get(2 + i) == Some(&true) {
                        return Err(missing_registry(field, *registry_id));
                    }
                }
                Err(StoreError::Conflict {
                    entity: "policy",
                    id,
                })
            }
        }
    }

    async fn get_policy(&self, id: i64) -> Result<ReplicationPolicy, StoreError> {
        Ok(Self::policy_read(self.policy_item(id).await?))
    }

    async fn update_policy(
        &self,
        id: i64,
        change: &PolicyChange<'_>,
    ) -> Result<ReplicationPolicy, StoreError> {
        let table = &self.tables.policies;
        for attempt in 0..UPDATE_ATTEMPTS {
            if attempt > 0 {
                back_off(attempt).await;
            }
            let current = self.policy_item(id).await?;
            let (version, old_name) = (current.version, current.policy.name.clone());
            let (old_src, old_dest) = (current.src_registry_id, current.dest_registry_id);
            let mut updated = Self::policy_read(current);
            change(&mut updated)?;
            updated.id = id;
            updated.update_time = time_format::now();
            let item = Self::policy_record(&updated, version + 1);
            let mut items = vec![self.put(
                table,
                to_item(table, &item)?,
                "version = :v",
                vec![(":v", n(version))],
            )?];
            let renamed = updated.name != old_name;
            if renamed {
                items.push(self.name_guard_put(&policy_name_guard(&updated.name), id)?);
                items.push(self.name_guard_delete(&policy_name_guard(&old_name), id)?);
            }
            // Reference counts move only for registries that changed, one update per registry
            // (a swap of source and destination moves nothing); a new one must exist.
            let mut deltas: Vec<(i64, i64, &str)> = Vec::new();
            for (field, old, new) in [
                ("src_registry.id", old_src, item.src_registry_id),
                ("dest_registry.id", old_dest, item.dest_registry_id),
            ] {
                for (registry_id, delta) in [(new, 1), (old, -1)] {
                    if registry_id == 0 || old == new {
                        continue;
                    }
                    match deltas.iter_mut().find(|(id, _, _)| *id == registry_id) {
                        Some(entry) => entry.1 += delta,
                        None => deltas.push((registry_id, delta, field)),
                    }
                }
            }
            let mut new_refs = Vec::new();
            for (registry_id, delta, field) in deltas.into_iter().filter(|(_, d, _)| *d != 0) {
                if delta > 0 {
                    new_refs.push((items.len(), field, registry_id));
                }
                items.push(self.registry_ref_update(registry_id, delta)?);
            }
            match self.transact(table, items).await? {
                Ok(()) => return Ok(Self::policy_read(item)),
                Err(reasons) => {
                    if renamed && reasons.get(1) == Some(&true) {
                        return Err(StoreError::DuplicateName {
                            entity: "policy",
                            name: updated.name,
                        });
                    }
                    for (index, field, registry_id) in new_refs {
                        if reasons.get(index) == Some(&true) {
                            return Err(missing_registry(field, registry_id));
                        }
                    }
                }
            }
        }
        Err(StoreError::Conflict {
            entity: "policy",
            id,
        })
    }

    async fn delete_policy(&self, id: i64) -> Result<(), StoreError> {
        let table = &self.tables.policies;
        for attempt in 0..UPDATE_ATTEMPTS {
            if attempt > 0 {
                back_off(attempt).await;
            }
            let current = self.policy_item(id).await?;
            let mut items = vec![
                self.delete(
                    table,
                    key_id(id),
                    "version = :v",
                    vec![(":v", n(current.version))],
                )?,
                self.name_guard_delete(&policy_name_guard(&current.policy.name), id)?,
            ];
            for registry_id in [current.src_registry_id, current.dest_registry_id] {
                if registry_id != 0 {
                    items.push(self.registry_ref_update(registry_id, -1)?);
                }
            }
            if self.transact(table, items).await?.is_ok() {
                return Ok(());
            }
        }
        Err(StoreError::Conflict {
            entity: "policy",
            id,
        })
    }

    async fn list_policies(
        &self,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<ReplicationPolicy>, StoreError> {
        let page: Page<PolicyItem> = self
            .query_page(
                PageQuery {
                    table: &self.tables.policies,
                    index: Some(BY_LIST),
                    key_condition: "list_key = :k",
                    values: vec![(":k", s(LIST_KEY))],
                    forward: true,
                    cursor_keys: &["id", "list_key"],
                },
                cursor,
                limit,
            )
            .await?;
        Ok(Page {
            items: page.items.into_iter().map(Self::policy_read).collect(),
            next: page.next,
        })
    }
}

/// The counter an execution keeps for tasks that ended in `status`.
fn final_counter(status: TaskStatus) -> Option<&'static str> {
    match status {
        TaskStatus::Succeed => Some("succeed"),
        TaskStatus::Failed => Some("failed"),
        TaskStatus::Stopped => Some("stopped"),
        TaskStatus::Pending | TaskStatus::InProgress => None,
    }
}

#[async_trait]
impl ExecutionStore for DynamoStore {
    async fn create_execution(
        &self,
        policy_id: i64,
        trigger: TriggerType,
        listings: i64,
    ) -> Result<Execution, StoreError> {
        let id = self.allocate_ids("execution", 1).await?;
        let execution = Execution {
            id,
            policy_id,
            status: ExecutionStatus::InProgress,
            trigger,
            start_time: time_format::now(),
            end_time: None,
            status_text: String::new(),
            total: 0,
            failed: 0,
            succeed: 0,
            in_progress: 0,
            stopped: 0,
        };
        let item = ExecutionItem {
            execution,
            list_key: LIST_KEY.into(),
            listings_pending: listings,
        };
        let table = &self.tables.executions;
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(to_item(table, &item)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await
            .map_err(|e| backend(table, "PutItem", e))?;
        Ok(item.execution)
    }

    async fn get_execution(&self, id: i64) -> Result<Execution, StoreError> {
        Ok(self.execution_item(id).await?.execution)
    }

    async fn list_executions(
        &self,
        policy_id: Option<i64>,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Execution>, StoreError> {
        let table = &self.tables.executions;
        let page: Page<ExecutionItem> = match policy_id {
            Some(policy_id) => {
                self.query_page(
                    PageQuery {
                        table,
                        index: Some(BY_POLICY),
                        key_condition: "policy_id = :p",
                        values: vec![(":p", n(policy_id))],
                        forward: false,
                        cursor_keys: &["id", "policy_id"],
                    },
                    cursor,
                    limit,
                )
                .await?
            }
            None => {
                self.query_page(
                    PageQuery {
                        table,
                        index: Some(BY_LIST),
                        key_condition: "list_key = :k",
                        values: vec![(":k", s(LIST_KEY))],
                        forward: false,
                        cursor_keys: &["id", "list_key"],
                    },
                    cursor,
                    limit,
                )
                .await?
            }
        };
        Ok(Page {
            items: page.items.into_iter().map(|i| i.execution).collect(),
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
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
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

    async fn finish_if_done(&self, id: i64) -> Result<Option<ExecutionStatus>, StoreError> {
        let table = &self.tables.executions;
        for attempt in 0..UPDATE_ATTEMPTS {
            if attempt > 0 {
                back_off(attempt).await;
            }
            let item = self.execution_item(id).await?;
            let e = &item.execution;
            if e.status.is_final() || e.in_progress > 0 || item.listings_pending > 0 {
                return Ok(None);
            }
            let status = ExecutionStatus::aggregate(e.in_progress, e.failed, e.stopped);
            let end = time::OffsetDateTime::format(
                time_format::now(),
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|err| StoreError::Corrupt {
                table: table.clone(),
                message: err.to_string(),
            })?;
            let result = self
                .client
                .update_item()
                .table_name(table)
                .set_key(Some(key_id(id)))
                .update_expression("SET #status = :final, end_time = :end")
                .condition_expression(
                    "#status = :running AND in_progress = :zero AND listings_pending = :zero \
                     AND #failed = :failed AND #stopped = :stopped",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#failed", "failed")
                .expression_attribute_names("#stopped", "stopped")
                .expression_attribute_values(":final", s(status.as_str()))
                .expression_attribute_values(":end", s(end))
                .expression_attribute_values(":running", s(ExecutionStatus::InProgress.as_str()))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":failed", n(e.failed))
                .expression_attribute_values(":stopped", n(e.stopped))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Some(status)),
                Err(err) if is_condition_failure(&err) || is_transient_conflict(&err) => continue,
                Err(err) => return Err(backend(table, "UpdateItem", err)),
            }
        }
        Err(StoreError::Conflict {
            entity: "execution",
            id,
        })
    }

    async fn end_execution(
        &self,
        id: i64,
        status: ExecutionStatus,
        status_text: &str,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.executions;
        let end = time::OffsetDateTime::format(
            time_format::now(),
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|err| StoreError::Corrupt {
            table: table.clone(),
            message: err.to_string(),
        })?;
        let result = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(key_id(id)))
            .update_expression("SET #status = :final, end_time = :end, status_text = :text")
            .condition_expression("#status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":final", s(status.as_str()))
            .expression_attribute_values(":end", s(end))
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
        let mut cursor: Option<String> = None;
        loop {
            let page: Page<Task> = self
                .query_page(
                    PageQuery {
                        table: tasks_table,
                        index: None,
                        key_condition: "execution_id = :e",
                        values: vec![(":e", n(id))],
                        forward: true,
                        cursor_keys: &["execution_id", "id"],
                    },
                    cursor.as_deref(),
                    25,
                )
                .await?;
            for task in &page.items {
                self.client
                    .delete_item()
                    .table_name(tasks_table)
                    .key("execution_id", n(id))
                    .key("id", n(task.id))
                    .send()
                    .await
                    .map_err(|e| backend(tasks_table, "DeleteItem", e))?;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let table = &self.tables.executions;
        self.client
            .delete_item()
            .table_name(table)
            .set_key(Some(key_id(id)))
            .send()
            .await
            .map_err(|e| backend(table, "DeleteItem", e))?;
        Ok(())
    }
}

impl DynamoStore {
    /// Moves `listings_pending` by `delta` together with a marker, so a repeat changes nothing.
    async fn count_listing(&self, id: i64, marker: &str, delta: i64) -> Result<(), StoreError> {
        let table = &self.tables.executions;
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(key_id(id)))
            .update_expression("ADD listings_pending :d")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_values(":d", n(delta))
            .build()
            .map_err(|e| backend(table, "TransactWriteItems", e))?;
        let items = vec![
            self.put(
                &self.tables.meta,
                key_pk(marker),
                "attribute_not_exists(pk)",
                vec![],
            )?,
            TransactWriteItem::builder().update(update).build(),
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
        if tasks.len() > MAX_TASKS_PER_BATCH {
            return Err(StoreError::Invalid(ValidationError::new(
                "tasks",
                format!(
                    "at most {MAX_TASKS_PER_BATCH} tasks a batch, not {}",
                    tasks.len()
                ),
            )));
        }
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
            .map(|(t, id)| Task {
                id,
                execution_id,
                job_id: format!("{execution_id}-{id}"),
                status: TaskStatus::Pending,
                status_text: String::new(),
                operation: t.operation,
                resource_type: t.resource_type,
                src_resource: t.src_resource.clone(),
                dst_resource: t.dst_resource.clone(),
                start_time: None,
                end_time: None,
                figures: TransferFigures::default(),
                resource: t.resource.clone(),
                continuations: 0,
            })
            .collect();
        let mut items = vec![
            self.put(
                &self.tables.meta,
                to_item(&self.tables.meta, &marker)?,
                "attribute_not_exists(pk)",
                vec![],
            )?,
            {
                let update = Update::builder()
                    .table_name(&self.tables.executions)
                    .set_key(Some(key_id(execution_id)))
                    .update_expression("ADD #total :n, in_progress :n")
                    .expression_attribute_names("#total", "total")
                    .condition_expression("attribute_exists(id)")
                    .expression_attribute_values(":n", n(count))
                    .build()
                    .map_err(|e| backend(&self.tables.executions, "TransactWriteItems", e))?;
                TransactWriteItem::builder().update(update).build()
            },
        ];
        for task in &created {
            items.push(self.put(
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
            PageQuery {
                table: &self.tables.tasks,
                index: None,
                key_condition: "execution_id = :e",
                values: vec![(":e", n(execution_id))],
                forward: true,
                cursor_keys: &["execution_id", "id"],
            },
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
        if t.from.is_final() {
            return Err(StoreError::Invalid(ValidationError::new(
                "status",
                format!("a {} task does not change any more", t.from.as_str()),
            )));
        }
        let now = time::OffsetDateTime::format(
            time_format::now(),
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|err| StoreError::Corrupt {
            table: self.tables.tasks.clone(),
            message: err.to_string(),
        })?;
        let mut set = vec!["#status = :to"];
        let mut values = vec![(":to", s(t.to.as_str())), (":from", s(t.from.as_str()))];
        if t.to == TaskStatus::InProgress && t.from == TaskStatus::Pending {
            set.push("start_time = :now");
        }
        if t.to.is_final() {
            set.push("end_time = :now");
        }
        if t.to == TaskStatus::InProgress && t.from == TaskStatus::Pending || t.to.is_final() {
            values.push((":now", s(now)));
        }
        if let Some(text) = &t.status_text {
            set.push("status_text = :text");
            values.push((":text", s(text.clone())));
        }
        if let Some(f) = &t.figures {
            set.push("bytes_copied = :bytes, blobs_copied = :copied, blobs_skipped = :skipped, blobs_mounted = :mounted");
            values.push((":bytes", n(f.bytes_copied)));
            values.push((":copied", n(f.blobs_copied)));
            values.push((":skipped", n(f.blobs_skipped)));
            values.push((":mounted", n(f.blobs_mounted)));
        }
        let mut task_update = Update::builder()
            .table_name(&self.tables.tasks)
            .key("execution_id", n(t.execution_id))
            .key("id", n(t.task_id))
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status");
        for (name, value) in values {
            task_update = task_update.expression_attribute_values(name, value);
        }
        let task_update = task_update
            .build()
            .map_err(|e| backend(&self.tables.tasks, "TransactWriteItems", e))?;
        let mut items = vec![TransactWriteItem::builder().update(task_update).build()];
        if let Some(counter) = final_counter(t.to) {
            let update = Update::builder()
                .table_name(&self.tables.executions)
                .set_key(Some(key_id(t.execution_id)))
                .update_expression("ADD in_progress :minus, #counter :one")
                .expression_attribute_names("#counter", counter)
                .condition_expression("attribute_exists(id)")
                .expression_attribute_values(":minus", n(-1))
                .expression_attribute_values(":one", n(1))
                .build()
                .map_err(|e| backend(&self.tables.executions, "TransactWriteItems", e))?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        // A change that moves no counter touches the task alone, keeping the execution item
        // (every task's hot spot) out of the transaction.
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

#[async_trait]
impl crate::ports::registry::BlobLocations for DynamoStore {
    async fn find_blob(&self, registry_id: i64, digest: &str) -> Option<String> {
        let item: Option<HashMap<String, AttributeValue>> = self
            .client
            .get_item()
            .table_name(&self.tables.meta)
            .set_key(Some(key_pk(&format!("blob#{registry_id}#{digest}"))))
            .send()
            .await
            .ok()?
            .item;
        item?.get("repository")?.as_s().ok().cloned()
    }

    async fn record_blob(&self, registry_id: i64, digest: &str, repository: &str) {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.meta)
            .item("pk", s(format!("blob#{registry_id}#{digest}")))
            .item("repository", s(repository))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %super::describe(&e), digest, "blob location not recorded");
        }
    }
}
