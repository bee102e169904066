//! Webhook policies in their own table (key `id`, index `by_list`), names guarded in the meta
//! table, each target's auth header sealed by the cipher; their deliveries in another (key
//! `policy_id` + `id`), expiring with DynamoDB's TTL on `expires_at`.

use async_trait::async_trait;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::paging::PageQuery;
use super::{delete, key_id, n, optimistic, put, to_item, DynamoStore, LIST_KEY};
use crate::model::notification::{WebhookDelivery, WebhookPolicy, DELIVERY_TTL_SECS};
use crate::model::time_format;
use crate::ports::notify::{WebhookPolicyChange, WebhookStore};
use crate::ports::store::{collect_pages, StoreError};

#[derive(Serialize, Deserialize)]
struct WebhookItem {
    /// Targets without their auth headers.
    #[serde(flatten)]
    policy: WebhookPolicy,
    list_key: String,
    version: i64,
    /// Per target, in order: its auth header sealed (base64), or empty for none.
    #[serde(default)]
    header_ciphertexts: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct DeliveryItem {
    #[serde(flatten)]
    delivery: WebhookDelivery,
    expires_at: i64,
}

fn name_guard(name: &str) -> String {
    format!("webhook-name#{name}")
}

fn not_found(id: i64) -> StoreError {
    StoreError::NotFound {
        entity: "webhook policy",
        id,
    }
}

fn missing(table: &'static str, variable: &str) -> StoreError {
    StoreError::Backend {
        table: table.into(),
        operation: "configuration",
        message: format!("no {table} table is configured ({variable})"),
    }
}

impl DynamoStore {
    fn webhooks_table(&self) -> Result<&str, StoreError> {
        self.tables
            .webhooks
            .as_deref()
            .ok_or_else(|| missing("webhooks", "FERRY_WEBHOOKS_TABLE"))
    }

    fn deliveries_table(&self) -> Result<&str, StoreError> {
        self.tables
            .webhook_deliveries
            .as_deref()
            .ok_or_else(|| missing("webhook_deliveries", "FERRY_WEBHOOK_DELIVERIES_TABLE"))
    }

    async fn webhook_item(&self, id: i64) -> Result<WebhookItem, StoreError> {
        self.get_item(self.webhooks_table()?, key_id(id))
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// The item of `policy`: its headers sealed, bound to its id.
    async fn seal_headers(
        &self,
        policy: &WebhookPolicy,
        version: i64,
    ) -> Result<WebhookItem, StoreError> {
        let mut header_ciphertexts = Vec::new();
        let mut bare = policy.clone();
        for target in &mut bare.targets {
            let sealed = match target.auth_header.take().filter(|h| !h.is_empty()) {
                Some(header) => base64::engine::general_purpose::STANDARD.encode(
                    self.cipher
                        .encrypt_webhook_header(policy.id, &header)
                        .await?,
                ),
                None => String::new(),
            };
            header_ciphertexts.push(sealed);
        }
        Ok(WebhookItem {
            policy: bare,
            list_key: LIST_KEY.into(),
            version,
            header_ciphertexts,
        })
    }

    /// The policy with its headers opened.
    async fn open_headers(&self, item: WebhookItem) -> Result<WebhookPolicy, StoreError> {
        let mut policy = item.policy;
        for (target, sealed) in policy.targets.iter_mut().zip(&item.header_ciphertexts) {
            if sealed.is_empty() {
                continue;
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(sealed)
                .map_err(|e| StoreError::Corrupt {
                    table: "webhooks".into(),
                    message: format!("auth header of policy {}: {e}", policy.id),
                })?;
            target.auth_header = Some(
                self.cipher
                    .decrypt_webhook_header(policy.id, &bytes)
                    .await?,
            );
        }
        Ok(policy)
    }

    /// The policy as reads show it: a sealed header is shown as the mask.
    fn masked(item: WebhookItem) -> WebhookPolicy {
        let mut policy = item.policy;
        for (target, sealed) in policy.targets.iter_mut().zip(&item.header_ciphertexts) {
            if !sealed.is_empty() {
                target.auth_header = Some(crate::model::SECRET_MASK.to_string());
            }
        }
        policy
    }

    async fn all_webhook_items(&self) -> Result<Vec<WebhookItem>, StoreError> {
        let table = self.webhooks_table()?;
        collect_pages(|cursor| async move {
            self.query_page(PageQuery::all(table, true), cursor.as_deref(), 1000)
                .await
        })
        .await
    }
}

#[async_trait]
impl WebhookStore for DynamoStore {
    async fn create_webhook_policy(
        &self,
        policy: &WebhookPolicy,
    ) -> Result<WebhookPolicy, StoreError> {
        let table = self.webhooks_table()?;
        let id = self.allocate_ids("webhook", 1).await?;
        let now = time_format::now();
        let mut record = policy.clone();
        record.id = id;
        record.creation_time = now;
        record.update_time = now;
        let item = self.seal_headers(&record, 1).await?;
        let items = vec![
            self.name_guard_put(&name_guard(&record.name), id)?,
            put(
                table,
                to_item(table, &item)?,
                "attribute_not_exists(id)",
                vec![],
            )?,
        ];
        match self.transact(table, items).await? {
            Ok(()) => Ok(Self::masked(item)),
            Err(_) => Err(StoreError::DuplicateName {
                entity: "webhook policy",
                name: record.name,
            }),
        }
    }

    async fn get_webhook_policy(&self, id: i64) -> Result<WebhookPolicy, StoreError> {
        Ok(Self::masked(self.webhook_item(id).await?))
    }

    async fn update_webhook_policy(
        &self,
        id: i64,
        change: &WebhookPolicyChange<'_>,
    ) -> Result<WebhookPolicy, StoreError> {
        let table = self.webhooks_table()?;
        optimistic("webhook policy", id, || async move {
            let current = self.webhook_item(id).await?;
            let version = current.version;
            let old_name = current.policy.name.clone();
            let creation_time = current.policy.creation_time;
            let mut policy = self.open_headers(current).await?;
            change(&mut policy)?;
            policy.id = id;
            policy.creation_time = creation_time;
            policy.update_time = time_format::now();
            let item = self.seal_headers(&policy, version + 1).await?;
            let mut writes = vec![put(
                table,
                to_item(table, &item)?,
                "version = :v",
                vec![(":v", n(version))],
            )?];
            let renamed = policy.name != old_name;
            if renamed {
                writes.push(self.name_guard_put(&name_guard(&policy.name), id)?);
                writes.push(self.name_guard_delete(&name_guard(&old_name), id)?);
            }
            match self.transact(table, writes).await? {
                Ok(()) => Ok(Some(Self::masked(item))),
                // The new name's guard is taken: a duplicate, not a race.
                Err(failed) if renamed && failed.get(1) == Some(&true) => {
                    Err(StoreError::DuplicateName {
                        entity: "webhook policy",
                        name: policy.name.clone(),
                    })
                }
                Err(_) => Ok(None),
            }
        })
        .await
    }

    async fn delete_webhook_policy(&self, id: i64) -> Result<(), StoreError> {
        let table = self.webhooks_table()?;
        let current = self.webhook_item(id).await?;
        let items = vec![
            delete(table, key_id(id), "attribute_exists(id)", vec![])?,
            self.name_guard_delete(&name_guard(&current.policy.name), id)?,
        ];
        match self.transact(table, items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(not_found(id)),
        }
    }

    async fn list_webhook_policies(&self) -> Result<Vec<WebhookPolicy>, StoreError> {
        Ok(self
            .all_webhook_items()
            .await?
            .into_iter()
            .map(Self::masked)
            .collect())
    }

    async fn webhook_policies_with_secrets(&self) -> Result<Vec<WebhookPolicy>, StoreError> {
        let mut out = Vec::new();
        for item in self.all_webhook_items().await? {
            out.push(self.open_headers(item).await?);
        }
        Ok(out)
    }

    async fn record_delivery(
        &self,
        delivery: &WebhookDelivery,
    ) -> Result<WebhookDelivery, StoreError> {
        let table = self.deliveries_table()?;
        let mut record = delivery.clone();
        record.id = self.allocate_ids("webhook-delivery", 1).await?;
        let item = DeliveryItem {
            expires_at: time_format::now().unix_timestamp() + DELIVERY_TTL_SECS,
            delivery: record.clone(),
        };
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(to_item(table, &item)?))
            .send()
            .await
            .map_err(|e| super::backend(table, "PutItem", e))?;
        Ok(record)
    }

    async fn list_deliveries(&self, policy_id: i64) -> Result<Vec<WebhookDelivery>, StoreError> {
        let table = self.deliveries_table()?;
        let items: Vec<DeliveryItem> = collect_pages(|cursor| async move {
            self.query_page(
                PageQuery::deliveries_of(table, policy_id),
                cursor.as_deref(),
                1000,
            )
            .await
        })
        .await?;
        Ok(items.into_iter().map(|i| i.delivery).collect())
    }
}
