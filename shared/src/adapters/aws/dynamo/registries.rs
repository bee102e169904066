//! Registry records: the registry with its secret sealed by the cipher (never plaintext), a
//! version for conditional updates, and the count of policies that refer to it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::paging::PageQuery;
use super::{
    backend, delete, is_condition_failure, key_id, n, optimistic, put, s, to_item, update,
    DynamoStore, LIST_KEY,
};
use crate::model::{time_format, Registry, RegistryHealth, RegistryStatus, SECRET_MASK};
use crate::ports::store::{Page, RegistryChange, RegistryStore, StoreError};

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
    /// The webhook token, sealed like the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webhook_ciphertext: Option<String>,
}

fn name_guard(name: &str) -> String {
    format!("registry-name#{name}")
}

impl RegistryItem {
    /// The registry as stored, never carrying plaintext.
    fn of(registry: &Registry, ciphertext: Option<String>, version: i64, refs: i64) -> Self {
        let mut stored = registry.clone();
        if let Some(credential) = stored.credential.as_mut() {
            credential.access_secret = None;
        }
        Self {
            registry: stored,
            list_key: LIST_KEY.into(),
            version,
            policy_refs: refs,
            secret_ciphertext: ciphertext,
            webhook_ciphertext: None,
        }
    }

    /// The registry as a read returns it: the secret masked.
    fn read(self) -> Registry {
        let mut registry = self.registry;
        if let Some(credential) = registry.credential.as_mut() {
            credential.access_secret = self.secret_ciphertext.map(|_| SECRET_MASK.to_string());
        }
        registry
    }
}

impl DynamoStore {
    async fn registry_item(&self, id: i64) -> Result<RegistryItem, StoreError> {
        self.get_item(&self.tables.registries, key_id(id))
            .await?
            .ok_or(StoreError::NotFound {
                entity: "registry",
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

    /// A sealed secret read back (`field` names it in the error if it cannot be).
    async fn open_secret(
        &self,
        id: i64,
        field: &str,
        sealed: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let Some(encoded) = sealed else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| StoreError::Corrupt {
                table: self.tables.registries.clone(),
                message: format!("registry {id}: {field}: {e}"),
            })?;
        Ok(Some(self.cipher.decrypt(id, &bytes).await?))
    }

    /// Counts one more (or one fewer) policy on a registry; the registry must exist.
    pub(super) fn registry_ref_update(
        &self,
        registry_id: i64,
        delta: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        update(
            &self.tables.registries,
            Update::builder()
                .set_key(Some(key_id(registry_id)))
                .update_expression("ADD policy_refs :d, version :one")
                .condition_expression("attribute_exists(id)")
                .expression_attribute_values(":d", n(delta))
                .expression_attribute_values(":one", n(1)),
        )
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
        let item = RegistryItem::of(&record, ciphertext, 1, 0);
        let table = &self.tables.registries;
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
            Ok(()) => Ok(item.read()),
            Err(_) => Err(StoreError::DuplicateName {
                entity: "registry",
                name: record.name,
            }),
        }
    }

    async fn get_registry(&self, id: i64) -> Result<Registry, StoreError> {
        Ok(self.registry_item(id).await?.read())
    }

    async fn get_registry_with_secret(&self, id: i64) -> Result<Registry, StoreError> {
        let item = self.registry_item(id).await?;
        let secret = self
            .open_secret(id, "secret_ciphertext", item.secret_ciphertext.as_deref())
            .await?;
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
        optimistic("registry", id, || async move {
            let current = self.registry_item(id).await?;
            let old_name = current.registry.name.clone();
            let old_ciphertext = current.secret_ciphertext.clone();
            let webhook_ciphertext = current.webhook_ciphertext.clone();
            let (version, refs) = (current.version, current.policy_refs);
            let mut updated = current.read();
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
            let item = RegistryItem {
                webhook_ciphertext,
                ..RegistryItem::of(&updated, ciphertext, version + 1, refs)
            };
            let mut items = vec![put(
                table,
                to_item(table, &item)?,
                "version = :v",
                vec![(":v", n(version))],
            )?];
            let renamed = updated.name != old_name;
            if renamed {
                items.push(self.name_guard_put(&name_guard(&updated.name), id)?);
                items.push(self.name_guard_delete(&name_guard(&old_name), id)?);
            }
            match self.transact(table, items).await? {
                Ok(()) => Ok(Some(item.read())),
                Err(reasons) if renamed && reasons.get(1) == Some(&true) => {
                    Err(StoreError::DuplicateName {
                        entity: "registry",
                        name: updated.name,
                    })
                }
                Err(_) => Ok(None),
            }
        })
        .await
    }

    async fn record_health(
        &self,
        id: i64,
        status: RegistryStatus,
        health: &RegistryHealth,
    ) -> Result<(), StoreError> {
        let table = &self.tables.registries;
        let health = serde_dynamo::to_attribute_value(health)
            .map_err(|e| backend(table, "UpdateItem", e))?;
        let status = serde_dynamo::to_attribute_value(status)
            .map_err(|e| backend(table, "UpdateItem", e))?;
        let result = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(key_id(id)))
            .update_expression("SET #status = :status, health = :health")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", status)
            .expression_attribute_values(":health", health)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(StoreError::NotFound {
                entity: "registry",
                id,
            }),
            Err(err) => Err(backend(table, "UpdateItem", err)),
        }
    }

    async fn delete_registry(&self, id: i64) -> Result<(), StoreError> {
        let table = &self.tables.registries;
        optimistic("registry", id, || async move {
            let current = self.registry_item(id).await?;
            if current.policy_refs > 0 {
                return Err(StoreError::InUse {
                    entity: "registry",
                    id,
                    reason: format!("{} replication policies refer to it", current.policy_refs),
                });
            }
            let items = vec![
                delete(
                    table,
                    key_id(id),
                    "version = :v AND (attribute_not_exists(policy_refs) OR policy_refs = :zero)",
                    vec![(":v", n(current.version)), (":zero", n(0))],
                )?,
                self.name_guard_delete(&name_guard(&current.registry.name), id)?,
            ];
            Ok(self.transact(table, items).await?.ok())
        })
        .await
    }

    async fn list_registries(
        &self,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Registry>, StoreError> {
        let page: Page<RegistryItem> = self
            .query_page(PageQuery::all(&self.tables.registries, true), cursor, limit)
            .await?;
        Ok(page.map(RegistryItem::read))
    }

    async fn set_webhook_token(&self, id: i64, token: &str) -> Result<(), StoreError> {
        let table = &self.tables.registries;
        let sealed = self.seal_secret(id, Some(token)).await?;
        self.set_attribute(
            table,
            ("registry", id),
            "webhook_ciphertext",
            s(sealed.unwrap_or_default()),
        )
        .await
    }

    async fn webhook_token(&self, id: i64) -> Result<Option<String>, StoreError> {
        let item = self.registry_item(id).await?;
        self.open_secret(id, "webhook_ciphertext", item.webhook_ciphertext.as_deref())
            .await
    }
}
