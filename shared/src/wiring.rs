//! The composition root: settings from the environment (the SAM template sets them in Lambda;
//! the local event plane sets the same names from the same template), and the clients, the API
//! and the workers built from them once per cold start. The functions call only this.

use std::sync::Arc;
use std::time::Duration;

use crate::adapters::aws::dynamo::{DynamoStore, TableNames};
use crate::adapters::aws::kms::KmsSecretCipher;
use crate::adapters::aws::s3::S3TaskLogs;
use crate::adapters::aws::scheduler::EventBridgeSchedules;
use crate::adapters::aws::sqs::{QueueUrls, SqsQueue};
use crate::adapters::processor::HttpProcessorClient;
use crate::adapters::registry::Registries;
use crate::api::{AdminPassword, Api};
use crate::copy::{CachedLocations, RegistryPool};
use crate::model::addresses::AddressPolicy;
use crate::model::artifact_types::ArtifactTypes;
use crate::model::login::LoginThrottle;
use crate::ports::registry::BlobLocations;
use crate::replication::list::ListWorker;
use crate::replication::reaper::{Reaper, DEFAULT_STALE};
use crate::replication::registries::CheckLimit;
use crate::replication::sweep::DEFAULT_KEEP;
use crate::replication::transfer::TransferWorker;

pub const REGISTRIES_TABLE: &str = "FERRY_REGISTRIES_TABLE";
pub const POLICIES_TABLE: &str = "FERRY_POLICIES_TABLE";
pub const EXECUTIONS_TABLE: &str = "FERRY_EXECUTIONS_TABLE";
pub const TASKS_TABLE: &str = "FERRY_TASKS_TABLE";
pub const META_TABLE: &str = "FERRY_META_TABLE";
/// The API's alone.
pub const ROBOTS_TABLE: &str = "FERRY_ROBOTS_TABLE";
/// Webhook policies and their delivery log: the API's and the notifier's.
pub const WEBHOOKS_TABLE: &str = "FERRY_WEBHOOKS_TABLE";
pub const WEBHOOK_DELIVERIES_TABLE: &str = "FERRY_WEBHOOK_DELIVERIES_TABLE";
/// The notifier's queue; unset, notifications are dropped.
pub const NOTIFY_QUEUE_URL: &str = "FERRY_NOTIFY_QUEUE_URL";
/// What the webhook payload calls this Ferry (`harbor_hostname`).
pub const PUBLIC_HOSTNAME: &str = "FERRY_PUBLIC_HOSTNAME";
/// The EventBridge bus state changes go to ("default" unless set).
pub const EVENT_BUS: &str = "FERRY_EVENT_BUS";
/// POSTs per webhook target before its delivery is Failed, and the first wait between them.
pub const WEBHOOK_ATTEMPTS: &str = "FERRY_WEBHOOK_ATTEMPTS";
pub const WEBHOOK_BACKOFF_MS: &str = "FERRY_WEBHOOK_BACKOFF_MS";
pub const LIST_QUEUE_URL: &str = "FERRY_LIST_QUEUE_URL";
pub const TRANSFER_QUEUE_URL: &str = "FERRY_TRANSFER_QUEUE_URL";
pub const LOG_BUCKET: &str = "FERRY_LOG_BUCKET";
pub const KMS_KEY_ID: &str = "FERRY_KMS_KEY_ID";
pub const SCHEDULE_GROUP: &str = "FERRY_SCHEDULE_GROUP";
pub const SCHEDULER_ROLE_ARN: &str = "FERRY_SCHEDULER_ROLE_ARN";
pub const TRIGGER_FUNCTION_ARN: &str = "FERRY_TRIGGER_FUNCTION_ARN";
/// How many times SQS delivers a transfer message before its DLQ takes it (the redrive policy).
pub const TRANSFER_MAX_RECEIVES: &str = "FERRY_TRANSFER_MAX_RECEIVES";
/// The same for list messages.
pub const LIST_MAX_RECEIVES: &str = "FERRY_LIST_MAX_RECEIVES";
/// Retries of a registry request that may heal, within one delivery.
pub const REGISTRY_MAX_RETRIES: &str = "FERRY_REGISTRY_MAX_RETRIES";
/// The admin password itself (local runs), or the Secrets Manager secret holding it (AWS).
pub const ADMIN_PASSWORD: &str = "FERRY_ADMIN_PASSWORD";
pub const ADMIN_SECRET_ARN: &str = "FERRY_ADMIN_SECRET_ARN";
/// The registry an empty side of a policy stands for (0: none).
pub const HOME_REGISTRY_ID: &str = "FERRY_HOME_REGISTRY_ID";
/// Seconds a registry's health check may take in the API.
pub const REGISTRY_CHECK_SECS: &str = "FERRY_REGISTRY_CHECK_SECS";
/// Repositories per list piece.
pub const LIST_PAGE_SIZE: &str = "FERRY_LIST_PAGE_SIZE";
/// Executions kept per policy.
pub const KEEP_EXECUTIONS: &str = "FERRY_KEEP_EXECUTIONS";
/// Blobs copied from or to one registry at once, across the tasks of an invocation.
pub const REGISTRY_MAX_BLOBS: &str = "FERRY_REGISTRY_MAX_BLOBS";
/// Time kept back from a transfer invocation's deadline to checkpoint and re-enqueue.
pub const TRANSFER_DEADLINE_MARGIN_SECS: &str = "FERRY_TRANSFER_DEADLINE_MARGIN_SECS";
/// At most this long per transfer invocation (tests force continuations with it); 0: no limit.
pub const TRANSFER_TIME_BUDGET_MS: &str = "FERRY_TRANSFER_TIME_BUDGET_MS";
/// Seconds an execution may stay still before the reaper counts its open work as lost.
pub const REAPER_STALE_SECS: &str = "FERRY_REAPER_STALE_SECS";
/// The same two for the lister.
pub const LIST_DEADLINE_MARGIN_SECS: &str = "FERRY_LIST_DEADLINE_MARGIN_SECS";
pub const LIST_TIME_BUDGET_MS: &str = "FERRY_LIST_TIME_BUDGET_MS";
/// How long a pull through the auto-sync endpoint waits for its replication (seconds,
/// default 20; keep it under API Gateway's 29 s).
pub const PULL_WAIT_SECS: &str = "FERRY_PULL_WAIT_SECS";
/// Pulls of one artifact within a window this long share one replication (seconds, default 60).
pub const PULL_CLAIM_WINDOW_SECS: &str = "FERRY_PULL_CLAIM_WINDOW_SECS";
/// The largest blob the pull endpoint passes through when the destination does not redirect.
pub const PULL_MAX_STREAM_BYTES: &str = "FERRY_PULL_MAX_STREAM_BYTES";
/// `true` lets registries sit on loopback and private addresses (the local stack, the tests, a
/// registry inside the VPC); link-local and metadata addresses are refused whatever it says.
pub const ALLOW_PRIVATE_ADDRESSES: &str = "FERRY_ALLOW_PRIVATE_ADDRESSES";

/// `processors.yaml` as a file (local runs, a Lambda layer), or as an object under `config/`
/// in Ferry's bucket (`FERRY_LOG_BUCKET`), which the template names; unset, the built-in
/// artifact types alone.
pub const PROCESSORS_FILE: &str = "FERRY_PROCESSORS_FILE";
pub const PROCESSORS_KEY: &str = "FERRY_PROCESSORS_KEY";

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

/// The pull endpoint's settings from `FERRY_PULL_*`.
fn pull_settings() -> Result<crate::replication::pull::PullSettings, ConfigError> {
    let defaults = crate::replication::pull::PullSettings::default();
    let wait: u64 = parsed_or(PULL_WAIT_SECS, defaults.wait.as_secs())?;
    if wait > 28 {
        return Err(ConfigError::Invalid {
            name: PULL_WAIT_SECS,
            value: wait.to_string(),
            reason: "must be at most 28: API Gateway answers 503 itself after 29 s".into(),
        });
    }
    Ok(crate::replication::pull::PullSettings {
        wait: Duration::from_secs(wait),
        claim_window: Duration::from_secs(
            parsed_or(PULL_CLAIM_WINDOW_SECS, defaults.claim_window.as_secs())?.max(1),
        ),
        max_stream_bytes: parsed_or(PULL_MAX_STREAM_BYTES, defaults.max_stream_bytes)?,
        ..defaults
    })
}

/// Where registry clients may connect, from `FERRY_ALLOW_PRIVATE_ADDRESSES`.
pub fn address_policy() -> Result<AddressPolicy, ConfigError> {
    Ok(AddressPolicy::allowing_private(parsed_or(
        ALLOW_PRIVATE_ADDRESSES,
        false,
    )?))
}

/// A duration in milliseconds, where 0 or unset means none.
fn millis(name: &'static str) -> Result<Option<Duration>, ConfigError> {
    let millis: u64 = parsed_or(name, 0)?;
    Ok((millis > 0).then(|| Duration::from_millis(millis)))
}

impl TableNames {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            registries: required(REGISTRIES_TABLE)?,
            policies: required(POLICIES_TABLE)?,
            executions: required(EXECUTIONS_TABLE)?,
            tasks: required(TASKS_TABLE)?,
            meta: required(META_TABLE)?,
            robots: required(ROBOTS_TABLE).ok(),
            webhooks: required(WEBHOOKS_TABLE).ok(),
            webhook_deliveries: required(WEBHOOK_DELIVERIES_TABLE).ok(),
        })
    }
}

impl QueueUrls {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            list: required(LIST_QUEUE_URL)?,
            transfer: required(TRANSFER_QUEUE_URL)?,
            notify: required(NOTIFY_QUEUE_URL).ok(),
        })
    }
}

/// The clients every function needs, built once per cold start.
#[derive(Clone)]
pub struct Services {
    pub sdk: aws_config::SdkConfig,
    pub store: Arc<DynamoStore>,
    pub queue: Arc<SqsQueue>,
    pub logs: Arc<S3TaskLogs>,
    /// The artifact types, with those `processors.yaml` registers.
    pub types: Arc<ArtifactTypes>,
}

/// Reads `processors.yaml` from `FERRY_PROCESSORS_FILE`, else from `FERRY_PROCESSORS_KEY` in
/// the bucket; a file that does not read stops the cold start, naming what is wrong.
async fn artifact_types(config: &aws_config::SdkConfig) -> Result<ArtifactTypes, ConfigError> {
    let invalid = |name, value: &str, reason: String| ConfigError::Invalid {
        name,
        value: value.to_string(),
        reason,
    };
    let env = |name: &str| std::env::var(name).ok();
    let (name, value, text) = if let Ok(path) = required(PROCESSORS_FILE) {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| invalid(PROCESSORS_FILE, &path, e.to_string()))?;
        (PROCESSORS_FILE, path, text)
    } else if let Ok(key) = required(PROCESSORS_KEY) {
        if !key.starts_with("config/") || key.contains("..") {
            let reason = "must be a key under config/ (the functions may read only there)";
            return Err(invalid(PROCESSORS_KEY, &key, reason.into()));
        }
        let text = crate::adapters::aws::s3::read_text(
            &crate::adapters::aws::s3_client(config),
            &required(LOG_BUCKET)?,
            &key,
        )
        .await
        .map_err(|reason| invalid(PROCESSORS_KEY, &key, reason))?;
        (PROCESSORS_KEY, key, text)
    } else {
        return Ok(ArtifactTypes::built_in());
    };
    ArtifactTypes::from_yaml(&text, &env).map_err(|e| invalid(name, &value, e.to_string()))
}

impl Services {
    /// Loads the AWS configuration (region, credentials, `AWS_ENDPOINT_URL*`) and builds the
    /// store, the queues and the task logs from the variables above.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = crate::adapters::aws::load_config().await;
        let mut services = Self::with_config(&config)?;
        services.types = Arc::new(artifact_types(&config).await?);
        Ok(services)
    }

    pub fn with_config(config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let cipher = Arc::new(KmsSecretCipher::new(
            aws_sdk_kms::Client::new(config),
            required(KMS_KEY_ID)?,
        ));
        Ok(Self {
            sdk: config.clone(),
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
                crate::adapters::aws::s3_client(config),
                required(LOG_BUCKET)?,
            )),
            types: Arc::new(ArtifactTypes::built_in()),
        })
    }

    /// Registries of every kind, retrying what may heal as often as
    /// `FERRY_REGISTRY_MAX_RETRIES` says, else `default_retries`.
    /// Registries whose shared budgets (`options.budget`) are kept in the store.
    fn registries(&self, default_retries: usize) -> Result<Arc<Registries>, ConfigError> {
        Ok(Arc::new(
            Registries::new(
                parsed_or(REGISTRY_MAX_RETRIES, default_retries)?,
                address_policy()?,
                Some(self.sdk.clone()),
            )
            .with_shared_budgets(self.store.clone()),
        ))
    }

    /// The HTTP API. Its registry requests retry once: its caller is waiting.
    pub async fn api(&self) -> Result<Api, ConfigError> {
        let home: i64 = parsed_or(HOME_REGISTRY_ID, 0)?;
        Ok(Api {
            admin: self.admin_password().await?,
            robots: self.store.clone(),
            logins: self.store.clone(),
            throttle: LoginThrottle::default(),
            store: self.store.clone(),
            queue: self.queue.clone(),
            logs: self.logs.clone(),
            connect: self.registries(1)?,
            schedules: Arc::new(EventBridgeSchedules {
                client: aws_sdk_scheduler::Client::new(&self.sdk),
                group: required(SCHEDULE_GROUP)?,
                role_arn: required(SCHEDULER_ROLE_ARN)?,
                trigger_arn: required(TRIGGER_FUNCTION_ARN)?,
            }),
            home_registry: (home > 0).then_some(home),
            check_limit: CheckLimit(Duration::from_secs(parsed_or(
                REGISTRY_CHECK_SECS,
                CheckLimit::default().0.as_secs(),
            )?)),
            webhooks: self.store.clone(),
            addresses: address_policy()?,
            types: self.types.clone(),
            pull: crate::api::pull_state::PullState::new(pull_settings()?),
        })
    }

    /// `FERRY_ADMIN_PASSWORD` if set, else the Secrets Manager secret `FERRY_ADMIN_SECRET_ARN`
    /// names; with neither, every authenticated request is refused.
    async fn admin_password(&self) -> Result<AdminPassword, ConfigError> {
        if let Ok(password) = required(ADMIN_PASSWORD) {
            return Ok(AdminPassword::new(Some(password)));
        }
        let Ok(arn) = required(ADMIN_SECRET_ARN) else {
            tracing::warn!(
                "no admin password configured: authenticated routes refuse every request"
            );
            return Ok(AdminPassword::new(None));
        };
        let secret = crate::adapters::aws::secrets_manager::read_secret_string(&self.sdk, &arn)
            .await
            .map_err(|reason| ConfigError::Invalid {
                name: ADMIN_SECRET_ARN,
                value: arn.clone(),
                reason,
            })?;
        Ok(AdminPassword::new(secret))
    }

    pub fn list_worker(&self) -> Result<ListWorker, ConfigError> {
        Ok(ListWorker {
            store: self.store.clone(),
            queue: self.queue.clone(),
            connect: self.registries(6)?,
            page_size: parsed_or(LIST_PAGE_SIZE, 100)?,
            max_receives: parsed_or(LIST_MAX_RECEIVES, 5)?,
            logs: self.logs.clone(),
            keep_executions: parsed_or(KEEP_EXECUTIONS, DEFAULT_KEEP)?,
            deadline_margin: Duration::from_secs(parsed_or(LIST_DEADLINE_MARGIN_SECS, 30)?),
            time_budget: millis(LIST_TIME_BUDGET_MS)?,
            types: self.types.clone(),
        })
    }

    /// The notifier: webhooks over the egress address policy, state changes on the default
    /// EventBridge bus.
    pub fn notify_worker(&self) -> Result<crate::replication::notify::NotifyWorker, ConfigError> {
        let sender = crate::adapters::webhook::HttpWebhookSender::new(
            address_policy()?,
            crate::adapters::webhook::SEND_TIMEOUT,
        )
        .map_err(|e| ConfigError::Invalid {
            name: ALLOW_PRIVATE_ADDRESSES,
            value: String::new(),
            reason: e.to_string(),
        })?;
        Ok(crate::replication::notify::NotifyWorker {
            store: self.store.clone(),
            webhooks: self.store.clone(),
            sender: Arc::new(sender),
            bus: Some(Arc::new(
                crate::adapters::aws::eventbridge::EventBridgeBus {
                    client: aws_sdk_eventbridge::Client::new(&self.sdk),
                    bus: std::env::var(EVENT_BUS)
                        .ok()
                        .filter(|b| !b.is_empty())
                        .unwrap_or_else(|| "default".into()),
                },
            )),
            hostname: std::env::var(PUBLIC_HOSTNAME)
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "ferry".into()),
            attempts: parsed_or(
                WEBHOOK_ATTEMPTS,
                crate::replication::notify::DEFAULT_ATTEMPTS,
            )?,
            backoff: Duration::from_millis(parsed_or(WEBHOOK_BACKOFF_MS, 500)?),
        })
    }

    /// The registry health monitor, checking as a create does, within the same time limit.
    pub fn health_monitor(&self) -> Result<crate::replication::health::HealthMonitor, ConfigError> {
        Ok(crate::replication::health::HealthMonitor {
            store: self.store.clone(),
            connect: self.registries(1)?,
            limit: CheckLimit(Duration::from_secs(parsed_or(
                REGISTRY_CHECK_SECS,
                CheckLimit::default().0.as_secs(),
            )?)),
        })
    }

    pub fn reaper(&self) -> Result<Reaper, ConfigError> {
        Ok(Reaper {
            store: self.store.clone(),
            queue: self.queue.clone(),
            logs: self.logs.clone(),
            keep_executions: parsed_or(KEEP_EXECUTIONS, DEFAULT_KEEP)?,
            stale: Duration::from_secs(parsed_or(REAPER_STALE_SECS, DEFAULT_STALE.as_secs())?),
        })
    }

    pub fn transfer_worker(&self) -> Result<TransferWorker, ConfigError> {
        let backing: Arc<dyn BlobLocations> = self.store.clone();
        Ok(TransferWorker {
            locations: Arc::new(CachedLocations::new(Some(backing))),
            recent: Default::default(),
            finish_checks: Default::default(),
            registries: RegistryPool::new(self.registries(6)?, parsed_or(REGISTRY_MAX_BLOBS, 8)?)
                .with_shared_budgets(self.store.clone()),
            store: self.store.clone(),
            queue: self.queue.clone(),
            logs: self.logs.clone(),
            max_receives: parsed_or(TRANSFER_MAX_RECEIVES, 5)?,
            keep_executions: parsed_or(KEEP_EXECUTIONS, DEFAULT_KEEP)?,
            deadline_margin: Duration::from_secs(parsed_or(TRANSFER_DEADLINE_MARGIN_SECS, 30)?),
            time_budget: millis(TRANSFER_TIME_BUDGET_MS)?,
            types: self.types.clone(),
            processors: Arc::new(HttpProcessorClient::new(address_policy()?).map_err(|e| {
                ConfigError::Invalid {
                    name: ALLOW_PRIVATE_ADDRESSES,
                    value: String::new(),
                    reason: format!("the processor HTTP client: {e}"),
                }
            })?),
        })
    }
}
