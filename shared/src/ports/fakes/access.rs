//! Robots and failed-login counters in memory, with the DynamoDB store's promises: unique
//! names, versioned changes, counters per key.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{lock, page_of};
use crate::model::robot::Robot;
use crate::model::time_format;
use crate::ports::access::{LoginAttempts, RobotChange, RobotStore};
use crate::ports::store::{Page, StoreError};

/// The last id given, and each robot with its secret's hash.
type Robots = (i64, BTreeMap<i64, (Robot, String)>);

#[derive(Default)]
pub struct MemoryAccess {
    robots: Mutex<Robots>,
    failures: Mutex<HashMap<String, u32>>,
}

fn not_found(id: i64) -> StoreError {
    StoreError::NotFound {
        entity: "robot",
        id,
    }
}

#[async_trait]
impl RobotStore for MemoryAccess {
    async fn create_robot(&self, robot: &Robot, secret_hash: &str) -> Result<Robot, StoreError> {
        let mut robots = lock(&self.robots);
        if robots.1.values().any(|(r, _)| r.name == robot.name) {
            return Err(StoreError::DuplicateName {
                entity: "robot",
                name: robot.name.clone(),
            });
        }
        robots.0 += 1;
        let mut record = robot.clone();
        record.id = robots.0;
        record.creation_time = time_format::now();
        record.update_time = record.creation_time;
        robots
            .1
            .insert(record.id, (record.clone(), secret_hash.into()));
        Ok(record)
    }

    async fn get_robot(&self, id: i64) -> Result<Robot, StoreError> {
        lock(&self.robots)
            .1
            .get(&id)
            .map(|(r, _)| r.clone())
            .ok_or_else(|| not_found(id))
    }

    async fn robot_by_name(&self, name: &str) -> Result<Option<(Robot, String)>, StoreError> {
        Ok(lock(&self.robots)
            .1
            .values()
            .find(|(r, _)| r.name == name)
            .cloned())
    }

    async fn update_robot(&self, id: i64, change: &RobotChange<'_>) -> Result<Robot, StoreError> {
        let mut robots = lock(&self.robots);
        let (current, _) = robots.1.get_mut(&id).ok_or_else(|| not_found(id))?;
        let mut robot = current.clone();
        change(&mut robot)?;
        robot.id = id;
        robot.name = current.name.clone();
        robot.update_time = time_format::now();
        *current = robot.clone();
        Ok(robot)
    }

    async fn set_robot_secret(&self, id: i64, secret_hash: &str) -> Result<(), StoreError> {
        let mut robots = lock(&self.robots);
        let (_, hash) = robots.1.get_mut(&id).ok_or_else(|| not_found(id))?;
        *hash = secret_hash.to_string();
        Ok(())
    }

    async fn delete_robot(&self, id: i64) -> Result<(), StoreError> {
        lock(&self.robots)
            .1
            .remove(&id)
            .map(|_| ())
            .ok_or_else(|| not_found(id))
    }

    async fn list_robots(
        &self,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Robot>, StoreError> {
        let all = lock(&self.robots)
            .1
            .values()
            .map(|(r, _)| r.clone())
            .collect();
        page_of(all, cursor, limit)
    }
}

#[async_trait]
impl LoginAttempts for MemoryAccess {
    async fn failures(&self, keys: &[String]) -> Result<Vec<u32>, StoreError> {
        let failures = lock(&self.failures);
        Ok(keys
            .iter()
            .map(|k| failures.get(k).copied().unwrap_or(0))
            .collect())
    }

    async fn record_failure(&self, keys: &[String], _expires_at: i64) -> Result<(), StoreError> {
        let mut failures = lock(&self.failures);
        for key in keys {
            *failures.entry(key.clone()).or_default() += 1;
        }
        Ok(())
    }
}
