//! The AWS implementations of the ports: DynamoDB (the store), SQS (the queues), S3 (task
//! logs), KMS (registry secrets), EventBridge Scheduler (policy schedules), and Secrets Manager
//! (the admin password, read once per cold start).
//!
//! Every client comes from one `SdkConfig` loaded from the environment, so `AWS_ENDPOINT_URL`
//! and the per-service `AWS_ENDPOINT_URL_<SERVICE>` variables point the same binaries at AWS,
//! LocalStack or moto.

pub mod dynamo;
pub mod eventbridge;
pub mod kms;
pub mod s3;
pub mod scheduler;
pub mod secrets_manager;
pub mod sqs;

use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the shared AWS configuration: region, credentials and endpoints from the environment.
/// Requests name the function that makes them (`app/ferry-transfer` in the user agent), so
/// CloudTrail, and the end-to-end benchmark, can tell the functions apart.
pub async fn load_config() -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    match app_name() {
        Some(name) => loader.app_name(name).load().await,
        None => loader.load().await,
    }
}

/// This binary's name as an SDK app name, when it is one.
fn app_name() -> Option<aws_config::AppName> {
    let exe = std::env::current_exe().ok()?;
    let name = exe.file_name()?.to_str()?;
    aws_config::AppName::new(name.to_string()).ok()
}

/// S3 needs path-style addressing when its endpoint is overridden (moto, LocalStack): bucket
/// subdomains of 127.0.0.1 do not resolve.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config);
    let overridden =
        std::env::var_os("AWS_ENDPOINT_URL_S3").is_some() || config.endpoint_url().is_some();
    let s3_config = s3_config.force_path_style(overridden).build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// The whole chain of an SDK error, for messages that say what went wrong.
pub(crate) fn describe<E: std::error::Error>(error: &E) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(error).to_string()
}
