//! Where a registry holds a blob, as Ferry recorded it: one meta item per (registry, digest)
//! naming a repository to mount from. Best effort both ways: a miss only costs a copy.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{key_pk, s, DynamoStore};
use crate::oci::{Digest, Repository};
use crate::ports::registry::BlobLocations;

fn blob_key(registry_id: i64, digest: &Digest) -> String {
    format!("blob#{registry_id}#{digest}")
}

#[async_trait]
impl BlobLocations for DynamoStore {
    async fn find_blob(&self, registry_id: i64, digest: &Digest) -> Option<Repository> {
        let item: Option<HashMap<String, AttributeValue>> = self
            .client
            .get_item()
            .table_name(&self.tables.meta)
            .set_key(Some(key_pk(&blob_key(registry_id, digest))))
            .send()
            .await
            .ok()?
            .item;
        Repository::parse(item?.get("repository")?.as_s().ok()?).ok()
    }

    async fn record_blob(&self, registry_id: i64, digest: &Digest, repository: &Repository) {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.meta)
            .item("pk", s(blob_key(registry_id, digest)))
            .item("repository", s(repository.as_str()))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %super::super::describe(&e), %digest, "blob location not recorded");
        }
    }

    async fn forget_blob(&self, registry_id: i64, digest: &Digest) {
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.meta)
            .set_key(Some(key_pk(&blob_key(registry_id, digest))))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %super::super::describe(&e), %digest, "blob location not forgotten");
        }
    }
}
