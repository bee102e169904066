//! Robot records in their own table (key `id`, index `by_list`), names guarded in the meta
//! table, and the secret held only as its hash; failed-login counters in the meta table, one
//! item per key and window, expiring with DynamoDB's TTL on `expires_at`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::paging::PageQuery;
use super::{
    backend, delete, key_id, key_pk, n, optimistic, put, s, to_item, DynamoStore, LIST_KEY,
};
use crate::model::robot::Robot;
use crate::model::time_format;
use crate::ports::access::{LoginAttempts, RobotChange, RobotStore};
use crate::ports::store::{Page, StoreError};

#[derive(Serialize, Deserialize)]
struct RobotItem {
    #[serde(flatten)]
    robot: Robot,
    list_key: String,
    version: i64,
    secret_hash: String,
}

fn name_guard(name: &str) -> String {
    format!("robot-name#{name}")
}

#[derive(Deserialize)]
struct Guard {
    id: i64,
}

#[derive(Deserialize)]
struct Counter {
    pk: String,
    #[serde(default)]
    failures: u32,
}

impl DynamoStore {
    fn robots_table(&self) -> Result<&str, StoreError> {
        self.tables
            .robots
            .as_deref()
            .ok_or_else(|| StoreError::Backend {
                table: "robots".into(),
                operation: "configuration",
                message: "no robots table is configured (FERRY_ROBOTS_TABLE)".into(),
            })
    }

    async fn robot_item(&self, id: i64) -> Result<RobotItem, StoreError> {
        self.get_item(self.robots_table()?, key_id(id))
            .await?
            .ok_or(StoreError::NotFound {
                entity: "robot",
                id,
            })
    }
}

#[async_trait]
impl RobotStore for DynamoStore {
    async fn create_robot(&self, robot: &Robot, secret_hash: &str) -> Result<Robot, StoreError> {
        let table = self.robots_table()?;
        let id = self.allocate_ids("robot", 1).await?;
        let now = time_format::now();
        let mut record = robot.clone();
        record.id = id;
        record.creation_time = now;
        record.update_time = now;
        let item = RobotItem {
            robot: record,
            list_key: LIST_KEY.into(),
            version: 1,
            secret_hash: secret_hash.to_string(),
        };
        let items = vec![
            self.name_guard_put(&name_guard(&item.robot.name), id)?,
            put(
                table,
                to_item(table, &item)?,
                "attribute_not_exists(id)",
                vec![],
            )?,
        ];
        match self.transact(table, items).await? {
            Ok(()) => Ok(item.robot),
            Err(_) => Err(StoreError::DuplicateName {
                entity: "robot",
                name: item.robot.name,
            }),
        }
    }

    async fn get_robot(&self, id: i64) -> Result<Robot, StoreError> {
        Ok(self.robot_item(id).await?.robot)
    }

    async fn robot_by_name(&self, name: &str) -> Result<Option<(Robot, String)>, StoreError> {
        let guard: Option<Guard> = self
            .get_item(&self.tables.meta, key_pk(&name_guard(name)))
            .await?;
        let Some(guard) = guard else {
            return Ok(None);
        };
        match self.robot_item(guard.id).await {
            Ok(item) if item.robot.name == name => Ok(Some((item.robot, item.secret_hash))),
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn update_robot(&self, id: i64, change: &RobotChange<'_>) -> Result<Robot, StoreError> {
        let table = self.robots_table()?;
        optimistic("robot", id, || async move {
            let current = self.robot_item(id).await?;
            let mut robot = current.robot.clone();
            change(&mut robot)?;
            // The name and id are the robot's identity: a change keeps them.
            robot.id = id;
            robot.name = current.robot.name.clone();
            robot.update_time = time_format::now();
            let item = RobotItem {
                robot,
                version: current.version + 1,
                ..current
            };
            let write = put(
                table,
                to_item(table, &item)?,
                "version = :v",
                vec![(":v", n(item.version - 1))],
            )?;
            Ok(self
                .transact(table, vec![write])
                .await?
                .ok()
                .map(|()| item.robot))
        })
        .await
    }

    async fn set_robot_secret(&self, id: i64, secret_hash: &str) -> Result<(), StoreError> {
        let table = self.robots_table()?;
        self.set_attribute(table, ("robot", id), "secret_hash", s(secret_hash))
            .await
    }

    async fn delete_robot(&self, id: i64) -> Result<(), StoreError> {
        let table = self.robots_table()?;
        let current = self.robot_item(id).await?;
        let items = vec![
            delete(table, key_id(id), "attribute_exists(id)", vec![])?,
            self.name_guard_delete(&name_guard(&current.robot.name), id)?,
        ];
        match self.transact(table, items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::NotFound {
                entity: "robot",
                id,
            }),
        }
    }

    async fn list_robots(
        &self,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Robot>, StoreError> {
        let page: Page<RobotItem> = self
            .query_page(PageQuery::all(self.robots_table()?, true), cursor, limit)
            .await?;
        Ok(page.map(|item| item.robot))
    }
}

#[async_trait]
impl LoginAttempts for DynamoStore {
    async fn failures(&self, keys: &[String]) -> Result<Vec<u32>, StoreError> {
        let table = &self.tables.meta;
        let wanted = keys.iter().map(|k| (table.clone(), key_pk(k))).collect();
        let found: Vec<Counter> = self
            .read_items(wanted, true)
            .await?
            .remove(table.as_str())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| serde_dynamo::from_item(item).ok())
            .collect();
        Ok(keys
            .iter()
            .map(|k| found.iter().find(|c| &c.pk == k).map_or(0, |c| c.failures))
            .collect())
    }

    async fn record_failure(&self, keys: &[String], expires_at: i64) -> Result<(), StoreError> {
        let table = &self.tables.meta;
        for key in keys {
            self.client
                .update_item()
                .table_name(table)
                .set_key(Some(key_pk(key)))
                .update_expression("ADD failures :one SET expires_at = :e")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":e", n(expires_at))
                .send()
                .await
                .map_err(|e| backend(table, "UpdateItem", e))?;
        }
        Ok(())
    }
}
