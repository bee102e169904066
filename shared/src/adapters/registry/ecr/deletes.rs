//! Deleting at an ECR destination through `BatchDeleteImage` (ECR's registry API does not
//! delete manifests): a tag alone when a tag is named, the image when a digest is
//! (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_BatchDeleteImage.html).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecr::types::ImageIdentifier;

use super::EcrApi;
use crate::adapters::registry::distribution::DeleteManifest;
use crate::oci::{Reference, Repository};
use crate::ports::registry::RegistryError;

pub struct EcrDeletes {
    pub(crate) api: Arc<EcrApi>,
}

#[async_trait]
impl DeleteManifest for EcrDeletes {
    async fn delete(
        &self,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<bool, RegistryError> {
        let id = match reference {
            Reference::Tag(tag) => ImageIdentifier::builder().image_tag(tag.to_string()),
            Reference::Digest(digest) => {
                ImageIdentifier::builder().image_digest(digest.to_string())
            }
        }
        .build();
        let answer = self
            .api
            .client()
            .await
            .batch_delete_image()
            .set_registry_id(self.api.registry_id.clone())
            .repository_name(repository.to_string())
            .image_ids(id)
            .send()
            .await
            .map_err(|e| self.api.error("BatchDeleteImage", e))?;
        if let Some(failure) = answer.failures().first() {
            let code = failure
                .failure_code()
                .map(|c| c.as_str())
                .unwrap_or_default();
            if code == "ImageNotFound" || code == "ImageTagDoesNotMatchDigest" {
                return Ok(false);
            }
            return Err(RegistryError::Refused {
                registry: self.api.name.clone(),
                method: "POST",
                path: "BatchDeleteImage".into(),
                status: 400,
                code: None,
                message: format!(
                    "{repository}:{reference}: {code} {}",
                    failure.failure_reason().unwrap_or_default()
                ),
            });
        }
        Ok(!answer.image_ids().is_empty())
    }
}
