//! BatchGetItem as the store uses it: up to 100 keys a request, and the keys DynamoDB leaves
//! unprocessed (throttling, or a response over 16 MB) asked for again, a few times.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::{backend, DynamoStore};
use crate::ports::store::StoreError;

pub(super) type Key = HashMap<String, AttributeValue>;
pub(super) type Item = HashMap<String, AttributeValue>;

/// BatchGetItem takes up to 100 keys.
const KEYS_PER_READ: usize = 100;
/// Unprocessed keys are asked for again this many times.
const READ_ROUNDS: u32 = 5;

impl DynamoStore {
    /// The items of these keys that exist, by table; `consistent` for strongly consistent
    /// reads. An error when keys are still unprocessed after the last round.
    pub(super) async fn read_items(
        &self,
        wanted: Vec<(String, Key)>,
        consistent: bool,
    ) -> Result<HashMap<String, Vec<Item>>, StoreError> {
        let mut found: HashMap<String, Vec<Item>> = HashMap::new();
        for chunk in wanted.chunks(KEYS_PER_READ) {
            let mut left: HashMap<String, Vec<Key>> = HashMap::new();
            for (table, key) in chunk {
                left.entry(table.clone()).or_default().push(key.clone());
            }
            for round in 0.. {
                let (got, unprocessed) = self.batch_get(left, consistent).await?;
                for (table, items) in got {
                    found.entry(table).or_default().extend(items);
                }
                if unprocessed.is_empty() {
                    break;
                }
                if round + 1 >= READ_ROUNDS {
                    return Err(StoreError::Backend {
                        table: unprocessed.keys().next().cloned().unwrap_or_default(),
                        operation: "BatchGetItem",
                        message: format!("keys still unprocessed after {READ_ROUNDS} rounds"),
                    });
                }
                left = unprocessed;
            }
        }
        Ok(found)
    }

    /// One BatchGetItem: the items by table, and the keys left unprocessed.
    async fn batch_get(
        &self,
        wanted: HashMap<String, Vec<Key>>,
        consistent: bool,
    ) -> Result<(HashMap<String, Vec<Item>>, HashMap<String, Vec<Key>>), StoreError> {
        let mut request = self.client.batch_get_item();
        let first_table = wanted.keys().next().cloned().unwrap_or_default();
        for (table, keys) in wanted {
            let keys = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .build()
                .map_err(|e| backend(&table, "BatchGetItem", e))?;
            request = request.request_items(table, keys);
        }
        let out = request
            .send()
            .await
            .map_err(|e| backend(&first_table, "BatchGetItem", e))?;
        let left = out
            .unprocessed_keys
            .unwrap_or_default()
            .into_iter()
            .map(|(table, keys)| (table, keys.keys))
            .filter(|(_, keys)| !keys.is_empty())
            .collect();
        Ok((out.responses.unwrap_or_default(), left))
    }
}
