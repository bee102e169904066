//! Where a registry holds a blob, as Ferry recorded it: one meta item per (registry, digest)
//! naming a repository to mount from. Best effort both ways: a miss only costs a copy.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};

use super::{key_pk, s, DynamoStore};
use crate::oci::{Digest, Repository};
use crate::ports::registry::{BlobLocations, FilteredIndexes};

fn filtered_key(source: &Digest, platforms: &str) -> String {
    format!("filtered#{platforms}#{source}")
}

/// One meta item per (source index, platforms) naming the index Ferry made of it.
#[async_trait]
impl FilteredIndexes for DynamoStore {
    async fn filtered_index(&self, source: &Digest, platforms: &str) -> Option<Digest> {
        let item = self
            .client
            .get_item()
            .table_name(&self.tables.meta)
            .set_key(Some(key_pk(&filtered_key(source, platforms))))
            .send()
            .await
            .ok()?
            .item?;
        Digest::parse(item.get("filtered")?.as_s().ok()?).ok()
    }

    async fn record_filtered_index(&self, source: &Digest, platforms: &str, filtered: &Digest) {
        let written = self
            .client
            .put_item()
            .table_name(&self.tables.meta)
            .item("pk", s(filtered_key(source, platforms)))
            .item("filtered", s(filtered.to_string()))
            .send()
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "filtered index not recorded");
        }
    }
}

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

    /// One BatchGetItem per 100 blobs, eventually consistent (a location recorded a moment
    /// ago and missed only costs a copy); a failed read finds nothing.
    async fn find_blobs(
        &self,
        registry_id: i64,
        digests: &[Digest],
    ) -> HashMap<Digest, Repository> {
        let table = &self.tables.meta;
        let wanted = digests
            .iter()
            .map(|d| (table.clone(), key_pk(&blob_key(registry_id, d))))
            .collect();
        let items = match self.read_items(wanted, false).await {
            Ok(mut got) => got.remove(table.as_str()).unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "blob locations not read");
                return HashMap::new();
            }
        };
        let mut found = HashMap::new();
        for item in items {
            let location = (|| {
                let pk = item.get("pk")?.as_s().ok()?;
                let digest = digests
                    .iter()
                    .find(|d| *pk == blob_key(registry_id, d))?
                    .clone();
                let repository = Repository::parse(item.get("repository")?.as_s().ok()?).ok()?;
                Some((digest, repository))
            })();
            if let Some((digest, repository)) = location {
                found.insert(digest, repository);
            }
        }
        found
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

    /// One BatchWriteItem per 25 blobs; items DynamoDB leaves unprocessed are given up (a
    /// location not recorded only costs a copy instead of a mount).
    async fn record_blobs(&self, registry_id: i64, digests: &[Digest], repository: &Repository) {
        let table = &self.tables.meta;
        for chunk in digests.chunks(25) {
            let writes: Vec<WriteRequest> = chunk
                .iter()
                .filter_map(|digest| {
                    let item = PutRequest::builder()
                        .item("pk", s(blob_key(registry_id, digest)))
                        .item("repository", s(repository.as_str()))
                        .build()
                        .ok()?;
                    Some(WriteRequest::builder().put_request(item).build())
                })
                .collect();
            let result = self
                .client
                .batch_write_item()
                .request_items(table, writes)
                .send()
                .await;
            match result {
                Ok(out) => {
                    let left = out
                        .unprocessed_items()
                        .and_then(|u| u.get(table.as_str()))
                        .map_or(0, Vec::len);
                    if left > 0 {
                        tracing::info!(left, "blob locations not recorded (throttled)");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %super::super::describe(&e), "blob locations not recorded")
                }
            }
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
