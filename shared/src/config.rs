//! Settings from the environment (the SAM template sets them in Lambda; the local event plane
//! sets the same names from the same template), and the clients built from them once per cold
//! start.

use std::sync::Arc;

use crate::aws::dynamo::{DynamoStore, TableNames};
use crate::aws::kms::KmsSecretCipher;
use crate::aws::s3::S3TaskLogs;
use crate::aws::sqs::{QueueUrls, SqsQueue};

pub const REGISTRIES_TABLE: &str = "FERRY_REGISTRIES_TABLE";
pub const POLICIES_TABLE: &str = "FERRY_POLICIES_TABLE";
pub const EXECUTIONS_TABLE: &str = "FERRY_EXECUTIONS_TABLE";
pub const TASKS_TABLE: &str = "FERRY_TASKS_TABLE";
pub const META_TABLE: &str = "FERRY_META_TABLE";
pub const LIST_QUEUE_URL: &str = "FERRY_LIST_QUEUE_URL";
pub const TRANSFER_QUEUE_URL: &str = "FERRY_TRANSFER_QUEUE_URL";
pub const LOG_BUCKET: &str = "FERRY_LOG_BUCKET";
pub const KMS_KEY_ID: &str = "FERRY_KMS_KEY_ID";
pub const SCHEDULE_GROUP: &str = "FERRY_SCHEDULE_GROUP";
pub const SCHEDULER_ROLE_ARN: &str = "FERRY_SCHEDULER_ROLE_ARN";
pub const TRIGGER_FUNCTION_ARN: &str = "FERRY_TRIGGER_FUNCTION_ARN";
/// How many times SQS delivers a transfer message before its DLQ takes it (the redrive policy).
pub const TRANSFER_MAX_RECEIVES: &str = "FERRY_TRANSFER_MAX_RECEIVES";
/// Retries of a registry request that may heal, within one delivery.
pub const REGISTRY_MAX_RETRIES: &str = "FERRY_REGISTRY_MAX_RETRIES";
/// The same for list messages.
pub const LIST_MAX_RECEIVES: &str = "FERRY_LIST_MAX_RECEIVES";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is not set")]
    Missing { name: &'static str },
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing { name })
}

pub fn parsed_or<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value.parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            value,
            reason: e.to_string(),
        }),
        _ => Ok(default),
    }
}

impl TableNames {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            registries: required(REGISTRIES_TABLE)?,
            policies: required(POLICIES_TABLE)?,
            executions: required(EXECUTIONS_TABLE)?,
            tasks: required(TASKS_TABLE)?,
            meta: required(META_TABLE)?,
        })
    }
}

impl QueueUrls {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            list: required(LIST_QUEUE_URL)?,
            transfer: required(TRANSFER_QUEUE_URL)?,
        })
    }
}

/// The clients a function needs, built once per cold start.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<DynamoStore>,
    pub queue: Arc<SqsQueue>,
    pub logs: Arc<S3TaskLogs>,
}

impl Services {
    /// Builds the clients from `config` (see [`crate::aws::load_config`]) and the variables above.
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let cipher = Arc::new(KmsSecretCipher::new(
            aws_sdk_kms::Client::new(config),
            required(KMS_KEY_ID)?,
        ));
        Ok(Self {
            store: Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::new(config),
                TableNames::from_env()?,
                cipher,
            )),
            queue: Arc::new(SqsQueue::new(
                aws_sdk_sqs::Client::new(config),
                QueueUrls::from_env()?,
            )),
            logs: Arc::new(S3TaskLogs::new(
                crate::aws::s3_client(config),
                required(LOG_BUCKET)?,
            )),
        })
    }
}

/// How a function connects to registries: HTTP, retrying what may heal as often as
/// `FERRY_REGISTRY_MAX_RETRIES` says, else `default_retries` (workers retry more than the API,
/// whose caller is waiting).
pub fn registry_connector(
    default_retries: usize,
) -> Result<std::sync::Arc<crate::replication::transfer::Connect>, ConfigError> {
    let retries: usize = parsed_or(REGISTRY_MAX_RETRIES, default_retries)?;
    Ok(std::sync::Arc::new(move |registry| {
        Ok(Box::new(
            crate::registry::http::HttpRegistryClient::new(registry)?.with_max_retries(retries),
        ) as _)
    }))
}

/// The schedules of scheduled policies, in the group and with the role and target the template
/// gives the API.
pub fn schedules_from_env(
    config: &aws_config::SdkConfig,
) -> Result<std::sync::Arc<crate::aws::scheduler::EventBridgeSchedules>, ConfigError> {
    Ok(std::sync::Arc::new(
        crate::aws::scheduler::EventBridgeSchedules {
            client: aws_sdk_scheduler::Client::new(config),
            group: required(SCHEDULE_GROUP)?,
            role_arn: required(SCHEDULER_ROLE_ARN)?,
            trigger_arn: required(TRIGGER_FUNCTION_ARN)?,
        },
    ))
}

/// The namespaces a destination kind needs made: Harbor's projects; other kinds have none.
pub fn namespaces_connector() -> std::sync::Arc<crate::replication::list::NamespacesConnect> {
    std::sync::Arc::new(|registry| match registry.kind {
        Some(crate::model::RegistryType::Harbor) => Ok(Some(Box::new(
            crate::registry::harbor::HarborProjects::new(registry)?,
        ) as _)),
        _ => Ok(None),
    })
}
