//! ECR as a destination: every repository must exist before a push; Ferry creates it with the
//! registry's tag mutability and scan-on-push settings
//! (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability};

use super::{code_of, EcrApi};
use crate::ports::registry::{Namespaces, RegistryError, Visibility};

pub struct EcrNamespaces {
    pub(crate) api: Arc<EcrApi>,
}

#[async_trait]
impl Namespaces for EcrNamespaces {
    /// An ECR repository is the whole name: `team/app` is one repository, not a namespace.
    fn namespace_of(&self, repository: &str) -> Option<String> {
        Some(repository.to_string())
    }

    async fn ensure(
        &self,
        repository: &str,
        _visibility: Visibility,
    ) -> Result<bool, RegistryError> {
        let settings = &self.api.settings;
        let mut create = self
            .api
            .client()
            .await
            .create_repository()
            .set_registry_id(self.api.registry_id.clone())
            .repository_name(repository);
        if let Some(mutability) = &settings.tag_mutability {
            create = create.image_tag_mutability(ImageTagMutability::from(mutability.as_str()));
        }
        if let Some(scan) = settings.scan_on_push {
            create = create.image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(scan)
                    .build(),
            );
        }
        match create.send().await {
            Ok(_) => Ok(true),
            Err(e) if code_of(&e) == "RepositoryAlreadyExistsException" => Ok(false),
            Err(e) => Err(self.api.error("CreateRepository", e)),
        }
    }
}
