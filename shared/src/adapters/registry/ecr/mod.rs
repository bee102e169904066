//! AWS ECR, through the AWS SDK for everything but blobs and manifests: `GetAuthorizationToken`
//! for the registry's Basic credential (kept until shortly before its 12 hours are up),
//! `DescribeRepositories` and `DescribeImages` to list (ECR has no `_catalog`),
//! `CreateRepository` before a push, `BatchDeleteImage` to delete. Credentials: the registry's
//! access key and secret, or the function's own role; a role to assume on top, cross-account.
//! The region and account come from the URL (`<account>.dkr.ecr.<region>.amazonaws.com`) or,
//! for another URL (a test's registry), from `options.region` and the credentials' own registry.

mod deletes;
mod login;
mod namespaces;
mod source;

pub use deletes::EcrDeletes;
pub use login::EcrLogin;
pub use namespaces::EcrNamespaces;
pub use source::EcrSource;

use std::sync::Arc;

use aws_sdk_ecr::error::ProvideErrorMetadata;
use tokio::sync::OnceCell;

use crate::model::kinds::ecr_endpoint;
use crate::model::Registry;
use crate::ports::registry::RegistryError;

/// ECR's API for one registry record: the client is made on first use (assuming a role takes
/// a request), once.
pub struct EcrApi {
    base: aws_config::SdkConfig,
    region: String,
    credentials: Option<(String, String)>,
    role_arn: Option<String>,
    client: OnceCell<aws_sdk_ecr::Client>,
    /// The registry (account) id, when the URL names it.
    pub(crate) registry_id: Option<String>,
    /// The registry's host, for messages.
    pub(crate) name: String,
    pub(crate) settings: crate::model::RegistryOptions,
}

impl EcrApi {
    pub fn new(
        registry: &Registry,
        base: Option<&aws_config::SdkConfig>,
    ) -> Result<Arc<Self>, RegistryError> {
        let name = registry.host().unwrap_or_else(|| registry.url.clone());
        let base = base.cloned().ok_or_else(|| RegistryError::Invalid {
            registry: name.clone(),
            what: "this process has no AWS configuration for ECR".into(),
        })?;
        let from_url = ecr_endpoint(&registry.url);
        let region = registry
            .options
            .region
            .clone()
            .or_else(|| from_url.as_ref().map(|(_, region)| region.clone()))
            .ok_or_else(|| RegistryError::Invalid {
                registry: name.clone(),
                what: "an ECR registry needs a region (options.region or the URL's)".into(),
            })?;
        let credentials = registry
            .credential
            .as_ref()
            .filter(|c| !c.is_empty())
            .map(|c| {
                (
                    c.access_key.clone(),
                    c.access_secret.clone().unwrap_or_default(),
                )
            });
        Ok(Arc::new(Self {
            base,
            region,
            credentials,
            role_arn: registry.options.role_arn.clone(),
            client: OnceCell::new(),
            registry_id: from_url.map(|(account, _)| account),
            name,
            settings: registry.options.clone(),
        }))
    }

    pub(crate) async fn client(&self) -> &aws_sdk_ecr::Client {
        self.client
            .get_or_init(|| async {
                let mut config = self
                    .base
                    .to_builder()
                    .region(aws_config::Region::new(self.region.clone()));
                if let Some((key, secret)) = &self.credentials {
                    config = config.credentials_provider(
                        aws_sdk_ecr::config::SharedCredentialsProvider::new(
                            aws_sdk_ecr::config::Credentials::new(
                                key,
                                secret,
                                None,
                                None,
                                "ferry-registry",
                            ),
                        ),
                    );
                }
                let mut config = config.build();
                if let Some(role) = &self.role_arn {
                    let assumed = aws_config::sts::AssumeRoleProvider::builder(role)
                        .session_name("ferry")
                        .configure(&config)
                        .build()
                        .await;
                    config = config
                        .to_builder()
                        .credentials_provider(aws_sdk_ecr::config::SharedCredentialsProvider::new(
                            assumed,
                        ))
                        .build();
                }
                aws_sdk_ecr::Client::new(&config)
            })
            .await
    }

    /// An SDK error as a registry error: throttling and service faults may heal.
    pub(crate) fn error<E>(
        &self,
        operation: &str,
        error: aws_sdk_ecr::error::SdkError<E>,
    ) -> RegistryError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = error.code().unwrap_or_default().to_string();
        let message = error.message().map(str::to_string).unwrap_or_else(|| {
            aws_smithy_types::error::display::DisplayErrorContext(&error).to_string()
        });
        let transient = matches!(
            error,
            aws_sdk_ecr::error::SdkError::TimeoutError(_)
                | aws_sdk_ecr::error::SdkError::DispatchFailure(_)
                | aws_sdk_ecr::error::SdkError::ResponseError(_)
        ) || code.contains("Throttl")
            || code == "ServerException"
            || code == "LimitExceededException";
        if transient {
            RegistryError::Transient {
                registry: self.name.clone(),
                method: "POST",
                path: operation.to_string(),
                message: format!("{code} {message}"),
                retry_after: None,
            }
        } else {
            RegistryError::Refused {
                registry: self.name.clone(),
                method: "POST",
                path: operation.to_string(),
                status: 400,
                code: None,
                message: format!("{code}: {message}"),
            }
        }
    }
}

/// The error code of an SDK error, to branch on.
pub(crate) fn code_of<E: ProvideErrorMetadata>(error: &aws_sdk_ecr::error::SdkError<E>) -> &str {
    error.code().unwrap_or_default()
}
