//! Who may call the API: robot accounts with their secrets' hashes, and the count of failed
//! logins that throttles guessing.

use async_trait::async_trait;

use super::store::{Page, StoreError};
use crate::model::robot::Robot;
use crate::model::validation::Validated;

/// A change to a stored robot, applied to what was read.
pub type RobotChange<'c> = dyn Fn(&mut Robot) -> Validated + Send + Sync + 'c;

#[async_trait]
pub trait RobotStore: Send + Sync {
    /// Stores a new robot (validated by the caller) with the hash of its secret, allocating its
    /// id; the name must be unused. Returns the record as stored.
    async fn create_robot(&self, robot: &Robot, secret_hash: &str) -> Result<Robot, StoreError>;
    async fn get_robot(&self, id: i64) -> Result<Robot, StoreError>;
    /// The robot named `name` (without the `robot$` prefix) and its secret's hash.
    async fn robot_by_name(&self, name: &str) -> Result<Option<(Robot, String)>, StoreError>;
    /// Read, change, write back conditionally on the version read.
    async fn update_robot(&self, id: i64, change: &RobotChange<'_>) -> Result<Robot, StoreError>;
    /// Replaces the robot's secret hash.
    async fn set_robot_secret(&self, id: i64, secret_hash: &str) -> Result<(), StoreError>;
    async fn delete_robot(&self, id: i64) -> Result<(), StoreError>;
    /// Robots in id order.
    async fn list_robots(
        &self,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<Robot>, StoreError>;
}

#[async_trait]
pub trait LoginAttempts: Send + Sync {
    /// The failures counted under each key, in order (0 for one never counted or expired).
    async fn failures(&self, keys: &[String]) -> Result<Vec<u32>, StoreError>;
    /// Counts one more failure under each key, kept until `expires_at` (Unix seconds).
    async fn record_failure(&self, keys: &[String], expires_at: i64) -> Result<(), StoreError>;
}
