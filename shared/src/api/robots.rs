//! `/robots`: system robot accounts in the shape of Harbor's robot API. A robot's secret is
//! shown when it is made (create, refresh) and never again; only its Argon2 hash is stored.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::access::hash_secret;
use super::errors::ApiError;
use super::listing::{ListRequest, ListSpec};
use super::{json, parse_body, Api, BASE_PATH};
use crate::model::robot::{validate_robot_secret, Robot, RobotPermission};
use crate::model::{time_format, ValidationError};
use crate::ports::store::collect_pages;

const ROBOTS: ListSpec = ListSpec {
    query: Some(&["id", "name", "description", "disable"]),
    sort: &["id", "name", "creation_time", "update_time"],
    default_sort: "id",
};

/// Harbor's `RobotCreate`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RobotCreate {
    pub name: String,
    pub description: String,
    /// Optional: 8 to 128 characters with upper, lower case and a digit; generated when absent.
    pub secret: Option<String>,
    pub level: Option<String>,
    pub disable: bool,
    pub duration: Option<i64>,
    pub permissions: Vec<RobotPermission>,
}

/// Harbor's `RobotCreated`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RobotCreated {
    pub id: i64,
    pub name: String,
    pub secret: String,
    #[serde(with = "time_format::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub creation_time: time::OffsetDateTime,
    pub expires_at: i64,
}

/// Harbor's `RobotSec`.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RobotSec {
    pub secret: Option<String>,
}

/// The secret given (checked), or a new random one.
fn secret_or_new(given: Option<String>) -> Result<String, ApiError> {
    match given.filter(|s| !s.is_empty()) {
        Some(secret) => {
            validate_robot_secret(&secret)?;
            Ok(secret)
        }
        None => super::auth::new_secret(),
    }
}

/// The hash, computed off the async threads (Argon2 is slow on purpose).
async fn hashed(secret: &str) -> Result<String, ApiError> {
    let secret = secret.to_string();
    tokio::task::spawn_blocking(move || hash_secret(&secret))
        .await
        .map_err(|e| ApiError::internal(format!("hashing a secret: {e}")))?
}

impl Api {
    pub(super) async fn list_robots(
        &self,
        query: Option<&str>,
        path: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let request = ListRequest::parse(query, &ROBOTS)?;
        let robots = collect_pages(|cursor| async move {
            self.robots.list_robots(cursor.as_deref(), 1000).await
        })
        .await?;
        Ok(request.answer(robots.into_iter().map(Robot::shown), path))
    }

    pub(super) async fn create_robot(&self, body: &Bytes) -> Result<Response<Bytes>, ApiError> {
        let create: RobotCreate = parse_body(body)?;
        let robot = Robot {
            name: create.name,
            description: create.description,
            level: create.level.unwrap_or_else(|| "system".into()),
            disable: create.disable,
            duration: create.duration.unwrap_or(-1),
            permissions: create.permissions,
            ..Robot::default()
        };
        robot.validate()?;
        let secret = secret_or_new(create.secret)?;
        let robot = robot.normalized(time_format::now());
        let stored = self
            .robots
            .create_robot(&robot, &hashed(&secret).await?)
            .await?;
        let mut response = json(
            StatusCode::CREATED,
            &RobotCreated {
                id: stored.id,
                name: stored.clone().shown().name,
                secret,
                creation_time: stored.creation_time,
                expires_at: stored.expires_at,
            },
        );
        if let Ok(location) = HeaderValue::from_str(&format!("{BASE_PATH}/robots/{}", stored.id)) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Ok(response)
    }

    pub(super) async fn get_robot(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        Ok(json(
            StatusCode::OK,
            &self.robots.get_robot(id).await?.shown(),
        ))
    }

    /// Harbor's PUT: the whole robot; its description, permissions, duration and `disable`
    /// change, its name cannot.
    pub(super) async fn update_robot(
        &self,
        id: i64,
        body: &Bytes,
    ) -> Result<Response<Bytes>, ApiError> {
        let update: Robot = parse_body(body)?;
        self.robots
            .update_robot(id, &|robot: &mut Robot| {
                if !update.name.is_empty() && Robot::bare_name(&update.name) != robot.name {
                    return Err(ValidationError::new("name", "a robot cannot be renamed"));
                }
                robot.description = update.description.clone();
                robot.disable = update.disable;
                robot.duration = update.duration;
                robot.permissions = update.permissions.clone();
                robot.validate()?;
                *robot = robot.clone().normalized(robot.creation_time);
                Ok(())
            })
            .await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }

    /// Harbor's PATCH: a new secret, the one sent or a generated one, shown this once.
    pub(super) async fn refresh_robot_secret(
        &self,
        id: i64,
        body: &Bytes,
    ) -> Result<Response<Bytes>, ApiError> {
        let sent: RobotSec = if body.iter().all(u8::is_ascii_whitespace) {
            RobotSec::default()
        } else {
            parse_body(body)?
        };
        self.robots.get_robot(id).await?;
        let secret = secret_or_new(sent.secret)?;
        self.robots
            .set_robot_secret(id, &hashed(&secret).await?)
            .await?;
        Ok(json(
            StatusCode::OK,
            &RobotSec {
                secret: Some(secret),
            },
        ))
    }

    pub(super) async fn delete_robot(&self, id: i64) -> Result<Response<Bytes>, ApiError> {
        self.robots.delete_robot(id).await?;
        Ok(json(StatusCode::OK, &serde_json::json!({})))
    }
}
