//! The integration test harness: real parts on loopback.
//!
//! - the AWS emulators ([`emulator`]): DynamoDB Local for DynamoDB and moto server for the rest,
//!   started by this process from what `scripts/install-deps.sh` installed (stopped when the
//!   process ends);
//! - CNCF distribution registries (`docker-registry`), one process each, own storage, own port;
//! - the local event plane running the function binaries built in the target directory, on a
//!   stack of its own per test so that tests do not see each other's tables and queues.

pub mod api_client;
pub mod charts;
pub mod corpus;
pub mod emulator;
pub mod fakes;
pub mod faults;
pub mod faulty;
pub mod fleet;
pub mod images;
pub mod processor;
pub mod receiver;
pub mod registry;
pub mod swagger;

use std::path::PathBuf;
use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use ferry::adapters::aws::dynamo::{DynamoStore, TableNames};
use ferry::adapters::aws::kms::KmsSecretCipher;
use ferry::adapters::aws::s3::S3TaskLogs;
use ferry::adapters::aws::sqs::{QueueUrls, SqsQueue};
use ferry_local::stack::{BootstrapOptions, Stack};
use ferry_local::template::{StackSettings, Template};
use ferry_local::{FunctionsFrom, IamGuardSetting, Plane, PlaneConfig};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
pub const ADMIN_PASSWORD: &str = "test-admin-password";

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The directory holding the function binaries: the profile this binary was built in (a test
/// binary lives in its `deps/`, a bench binary beside the functions).
pub fn binaries_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let parent = exe.parent().expect("the binary's directory");
    let dir = if parent.file_name().is_some_and(|name| name == "deps") {
        parent.parent().expect("profile dir").to_path_buf()
    } else {
        parent.to_path_buf()
    };
    for binary in [
        "ferry-api",
        "ferry-trigger",
        "ferry-lister",
        "ferry-transfer",
    ] {
        assert!(
            dir.join(binary).exists(),
            "{binary} is not built in {}: run `cargo build --workspace --bins` first (make test does)",
            dir.display()
        );
    }
    dir
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// The SDK configuration of the tests: moto for every service but DynamoDB, DynamoDB Local for it.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_at(&emulator::endpoint(), &emulator::dynamodb_endpoint()).await
}

/// An SDK configuration with `endpoint` for every service but DynamoDB, `dynamodb` for it.
pub async fn sdk_config_at(endpoint: &str, dynamodb: &str) -> SdkConfig {
    let mut builder = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
        .into_builder();
    // As the function processes see them: AWS_ENDPOINT_URL for all, AWS_ENDPOINT_URL_DYNAMODB
    // for DynamoDB. A programmatic endpoint would win over the per-service one.
    builder.insert_origin(
        "endpoint_url",
        aws_types::origin::Origin::shared_environment_variable(),
    );
    builder
        .service_config(emulator::DynamoDbEndpoint(dynamodb.to_string()))
        .build()
}

/// Environment for function processes: the emulator and its credentials.
pub fn child_env() -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), emulator::endpoint()),
        (
            "AWS_ENDPOINT_URL_DYNAMODB".into(),
            emulator::dynamodb_endpoint(),
        ),
        ("AWS_REGION".into(), REGION.into()),
        ("AWS_DEFAULT_REGION".into(), REGION.into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("FERRY_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
        (
            "RUST_LOG".into(),
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        ),
    ]
}

pub fn unique_stack_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

pub fn settings(stack_name: &str, parameters: &[(&str, &str)]) -> StackSettings {
    let template = Template::load(&workspace_root().join("infra/template.yaml")).expect("template");
    let mut params = template.parameter_defaults();
    // The tests' registries are on loopback.
    params.insert("AllowPrivateRegistryAddresses".into(), "true".into());
    for (k, v) in parameters {
        params.insert((*k).into(), (*v).into());
    }
    StackSettings {
        stack_name: stack_name.into(),
        region: REGION.into(),
        account: ACCOUNT.into(),
        parameters: params,
    }
}

/// The library's adapters, built from a stack's environment as the functions build them.
pub struct Adapters {
    pub store: Arc<DynamoStore>,
    pub queue: Arc<SqsQueue>,
    pub logs: Arc<S3TaskLogs>,
    pub sdk: SdkConfig,
}

impl Adapters {
    /// A task's whole log, as the API answers it: the log store's entries, then the one kept
    /// with the task.
    pub async fn task_log(&self, execution_id: i64, task_id: i64) -> String {
        use ferry::ports::store::TaskStore;
        let task = self
            .store
            .get_task(execution_id, task_id)
            .await
            .expect("task");
        ferry::ports::logs::task_log(self.logs.as_ref(), &task)
            .await
            .expect("log")
    }

    pub fn for_stack(stack: &Stack, sdk: &SdkConfig) -> Self {
        let env = &stack
            .function("ferry-transfer")
            .expect("transfer function")
            .environment;
        let var = |name: &str| {
            env.get(name)
                .cloned()
                .unwrap_or_else(|| panic!("{name} not in the template's environment"))
        };
        let cipher = Arc::new(KmsSecretCipher::new(
            aws_sdk_kms::Client::new(sdk),
            var("FERRY_KMS_KEY_ID"),
        ));
        Self {
            store: Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                TableNames {
                    registries: var("FERRY_REGISTRIES_TABLE"),
                    policies: var("FERRY_POLICIES_TABLE"),
                    executions: var("FERRY_EXECUTIONS_TABLE"),
                    tasks: var("FERRY_TASKS_TABLE"),
                    meta: var("FERRY_META_TABLE"),
                    robots: None,
                    webhooks: env.get("FERRY_WEBHOOKS_TABLE").cloned(),
                    webhook_deliveries: env.get("FERRY_WEBHOOK_DELIVERIES_TABLE").cloned(),
                },
                cipher,
            )),
            queue: Arc::new(SqsQueue::new(
                aws_sdk_sqs::Client::new(sdk),
                QueueUrls {
                    list: var("FERRY_LIST_QUEUE_URL"),
                    transfer: var("FERRY_TRANSFER_QUEUE_URL"),
                    notify: env.get("FERRY_NOTIFY_QUEUE_URL").cloned(),
                },
            )),
            logs: Arc::new(S3TaskLogs::new(
                ferry::adapters::aws::s3_client(sdk),
                var("FERRY_LOG_BUCKET"),
            )),
            sdk: sdk.clone(),
        }
    }
}

/// Only the stack's resources, no functions: for store and adapter tests.
pub async fn resources_only(prefix: &str) -> (Stack, Adapters) {
    init_tracing();
    let sdk = sdk_config().await;
    let template = Template::load(&workspace_root().join("infra/template.yaml")).expect("template");
    let stack = ferry_local::stack::bootstrap(
        &sdk,
        &template,
        settings(&unique_stack_name(prefix), &[]),
        &BootstrapOptions::default(),
    )
    .await
    .expect("bootstrap");
    let adapters = Adapters::for_stack(&stack, &sdk);
    (stack, adapters)
}

pub struct LocalStack {
    pub plane: Plane,
    pub adapters: Adapters,
    pub api: String,
}

pub struct LocalStackOptions<'a> {
    pub parameters: &'a [(&'a str, &'a str)],
    pub visibility_timeout: i32,
    pub transfer_instances: usize,
    /// Give the functions the admin password in `FERRY_ADMIN_PASSWORD`; off, the API reads it
    /// from the Secrets Manager secret the `AdminPasswordSecretArn` parameter names.
    pub admin_password_env: bool,
    /// More environment for the function processes.
    pub extra_env: &'a [(&'a str, &'a str)],
    /// Queues (logical ids) no function consumes in this test.
    pub unpolled_queues: &'a [&'a str],
}

impl Default for LocalStackOptions<'_> {
    fn default() -> Self {
        Self {
            parameters: &[],
            visibility_timeout: 2,
            transfer_instances: 2,
            admin_password_env: true,
            extra_env: &[],
            unpolled_queues: &[],
        }
    }
}

impl LocalStack {
    /// The whole system for one test: its own stack on the emulator, the function binaries
    /// behind the event plane, and the API gateway on a free port.
    pub async fn start(prefix: &str, options: LocalStackOptions<'_>) -> Self {
        init_tracing();
        let sdk = sdk_config().await;
        let plane = Plane::start(PlaneConfig {
            template: workspace_root().join("infra/template.yaml"),
            sdk: sdk.clone(),
            settings: settings(&unique_stack_name(prefix), options.parameters),
            bootstrap: BootstrapOptions {
                visibility_timeout: Some(options.visibility_timeout),
            },
            functions: FunctionsFrom::Binaries(binaries_dir()),
            concurrency: vec![("ferry-transfer".into(), options.transfer_instances)],
            http: Some("127.0.0.1:0".parse().expect("address")),
            child_env: child_env()
                .into_iter()
                .filter(|(k, _)| options.admin_password_env || k != "FERRY_ADMIN_PASSWORD")
                .chain(
                    options
                        .extra_env
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string())),
                )
                .collect(),
            schedules: true,
            unpolled_queues: options
                .unpolled_queues
                .iter()
                .map(|q| q.to_string())
                .collect(),
            // The functions' calls are held to their policies in the template, as in AWS.
            iam_guard: IamGuardSetting::default(),
        })
        .await
        .expect("event plane starts");
        let adapters = Adapters::for_stack(&plane.stack, &sdk);
        let api = format!("http://{}/api/v2.0", plane.http_address.expect("gateway"));
        Self {
            plane,
            adapters,
            api,
        }
    }

    pub fn queue_url(&self, logical_id: &str) -> String {
        self.plane
            .stack
            .queues
            .get(logical_id)
            .cloned()
            .unwrap_or_else(|| panic!("no queue {logical_id}"))
    }

    /// Stops everything; fails the test when a function made a call its IAM policy in the
    /// template does not allow, even one whose failure it shrugged off (a blob location not
    /// recorded only costs a copy, but in AWS it would never be recorded).
    pub async fn stop(self) {
        let denials = self.plane.iam_denials();
        self.plane.stop().await;
        assert_eq!(
            denials, 0,
            "the IAM guard refused calls the functions made: see the plane's error log"
        );
    }
}

/// Polls `check` every 200 ms until it returns Some, or panics after `seconds`.
pub async fn eventually<T, F, Fut>(seconds: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {seconds}s waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
