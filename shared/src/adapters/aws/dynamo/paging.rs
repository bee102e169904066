//! Listings one page at a time, in key order: the query of each listing, and cursors that
//! are the last evaluated key as base64url JSON, opaque to clients and checked on the way in.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde::de::DeserializeOwned;

use super::{backend, from_item, n, s, DynamoStore, LIST_KEY};
use crate::ports::store::{Page, StoreError};

const BY_LIST: &str = "by_list";
const BY_POLICY: &str = "by_policy";

/// A query over one partition, in key order (`forward`) or newest first.
pub(super) struct PageQuery<'a> {
    table: &'a str,
    index: Option<&'static str>,
    key_condition: &'static str,
    values: Vec<(&'static str, AttributeValue)>,
    forward: bool,
    /// The key attributes a cursor of this query holds.
    cursor_keys: &'static [&'static str],
}

impl<'a> PageQuery<'a> {
    /// Every record of a table, in id order (`forward`) or newest first.
    pub fn all(table: &'a str, forward: bool) -> Self {
        Self {
            table,
            index: Some(BY_LIST),
            key_condition: "list_key = :k",
            values: vec![(":k", s(LIST_KEY))],
            forward,
            cursor_keys: &["id", "list_key"],
        }
    }

    /// The executions of one policy, newest first.
    pub fn of_policy(table: &'a str, policy_id: i64) -> Self {
        Self {
            table,
            index: Some(BY_POLICY),
            key_condition: "policy_id = :p",
            values: vec![(":p", n(policy_id))],
            forward: false,
            cursor_keys: &["id", "policy_id"],
        }
    }

    /// The webhook deliveries of one policy, newest first.
    pub fn deliveries_of(table: &'a str, policy_id: i64) -> Self {
        Self {
            table,
            index: None,
            key_condition: "policy_id = :p",
            values: vec![(":p", n(policy_id))],
            forward: false,
            cursor_keys: &["policy_id", "id"],
        }
    }

    /// The tasks of one execution, in id order.
    pub fn of_execution(table: &'a str, execution_id: i64) -> Self {
        Self {
            table,
            index: None,
            key_condition: "execution_id = :e",
            values: vec![(":e", n(execution_id))],
            forward: true,
            cursor_keys: &["execution_id", "id"],
        }
    }
}

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

impl DynamoStore {
    /// One page of `q` after `cursor`, of at most `limit` (1 to 1000) items.
    pub(super) async fn query_page<T: DeserializeOwned>(
        &self,
        q: PageQuery<'_>,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<T>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(q.table)
            .set_index_name(q.index.map(str::to_string))
            .key_condition_expression(q.key_condition)
            .scan_index_forward(q.forward)
            .limit(limit.clamp(1, 1000))
            .set_exclusive_start_key(decode_cursor(cursor, q.cursor_keys)?);
        for (name, value) in q.values {
            query = query.expression_attribute_values(name, value);
        }
        let out = query
            .send()
            .await
            .map_err(|e| backend(q.table, "Query", e))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item(q.table, item))
            .collect::<Result<Vec<T>, _>>()?;
        Ok(Page {
            items,
            next: encode_cursor(out.last_evaluated_key.as_ref()),
        })
    }
}
