//! After a copy: the artifact's type told from the manifest written, and its `extra_attrs`
//! read by the type's processor (seed 004). Nothing here fails the copy: a config that cannot
//! be read or a processor that fails or times out leaves the attributes empty and says why in
//! the profile and the task's log.

use futures::StreamExt;

use super::TransferWorker;
use crate::messages::TransferMessage;
use crate::model::artifact_types::{
    general_metadata, ArtifactProfile, ManifestFacts, Metadata, Processor,
};
use crate::oci::{Digest, RawManifest};
use crate::ports::processor::{MetadataRequest, ProcessedArtifact, ProcessorRegistry};
use crate::ports::registry::RegistryClient;

/// Largest config read to tell a type or feed a processor.
const MAX_CONFIG_BYTES: usize = 1024 * 1024;

impl TransferWorker {
    pub(super) async fn profile(
        &self,
        m: &TransferMessage,
        manifest: &RawManifest,
        log: &mut Vec<String>,
    ) -> ArtifactProfile {
        let facts = ManifestFacts::read(&manifest.bytes, &manifest.media_type);
        let mut config: Option<Result<serde_json::Value, String>> = None;
        if self.types.needs_config(&facts) {
            config = Some(self.config(m, &facts).await);
        }
        let classified = self
            .types
            .classify(&facts, config.as_ref().and_then(|c| c.as_ref().ok()));
        let processor = self.types.processor(&classified);
        if processor.is_some() && config.is_none() {
            config = Some(self.config(m, &facts).await);
        }
        let mut profile = ArtifactProfile {
            resource_type: classified.resource_type.clone(),
            digest: manifest.digest.to_string(),
            manifest_media_type: manifest.media_type.clone(),
            media_type: classified.media_type.clone(),
            extra_attrs: Default::default(),
            additions: Vec::new(),
            processor: None,
            processor_error: None,
        };
        let Some(processor) = processor else {
            return profile;
        };
        let config = match config.unwrap_or_else(|| Err("the config was not read".into())) {
            Ok(config) => config,
            Err(reason) => {
                log.push(format!(
                    "{}: attributes not read: {reason}",
                    profile.resource_type
                ));
                profile.processor_error = Some(reason);
                return profile;
            }
        };
        let read: Result<Metadata, String> = match &processor {
            Processor::General => {
                profile.processor = Some("general".into());
                Ok(general_metadata(&config))
            }
            Processor::Http(http) => {
                profile.processor = Some(http.url.to_string());
                let request = MetadataRequest {
                    registry: ProcessorRegistry {
                        url: self.registry_url(m.resource.dst.registry_id).await,
                        authorization: String::new(),
                    },
                    manifest: String::from_utf8_lossy(&manifest.bytes).into_owned(),
                    artifact: ProcessedArtifact {
                        repository_name: m.resource.dst.repository.clone(),
                        digest: manifest.digest.to_string(),
                        tags: (!m.resource.dst.is_digest())
                            .then(|| m.resource.dst.reference.clone())
                            .into_iter()
                            .collect(),
                        manifest_media_type: manifest.media_type.clone(),
                        media_type: classified.media_type.clone(),
                        kind: classified.resource_type.as_str().to_ascii_uppercase(),
                    },
                    config,
                };
                self.processors
                    .abstract_metadata(http, &request)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        match read {
            Ok(metadata) => {
                log.push(format!(
                    "{}: {} attributes read by the {} processor",
                    profile.resource_type,
                    metadata.extra_attrs.len(),
                    profile.processor.as_deref().unwrap_or_default()
                ));
                profile.extra_attrs = metadata.extra_attrs;
                profile.additions = metadata.additions;
            }
            Err(reason) => {
                tracing::warn!(reason, "artifact processor failed; attributes left empty");
                log.push(format!(
                    "{}: the processor read nothing ({reason}); the copy stands",
                    profile.resource_type
                ));
                profile.processor_error = Some(reason);
            }
        }
        profile
    }

    /// The config of the artifact just written, read back from the destination.
    async fn config(
        &self,
        m: &TransferMessage,
        facts: &ManifestFacts,
    ) -> Result<serde_json::Value, String> {
        let digest = facts
            .config_digest
            .as_deref()
            .ok_or("the manifest has no config")?;
        let digest = Digest::parse(digest).map_err(|e| format!("the manifest's config {e}"))?;
        let repository = m.resource.dst.repository().map_err(|e| e.to_string())?;
        let client = self
            .client(m.resource.dst.registry_id)
            .await
            .map_err(|e| e.to_string())?;
        let bytes = read_small_blob(client.as_ref(), &repository, &digest).await?;
        serde_json::from_slice(&bytes).map_err(|e| format!("the config {digest} is not JSON: {e}"))
    }

    async fn registry_url(&self, registry_id: i64) -> String {
        self.recent
            .registry(self.store.as_ref(), registry_id)
            .await
            .map(|r| r.url)
            .unwrap_or_default()
    }
}

async fn read_small_blob(
    client: &dyn RegistryClient,
    repository: &crate::oci::Repository,
    digest: &Digest,
) -> Result<Vec<u8>, String> {
    let mut stream = client
        .get_blob_from(repository, digest, 0)
        .await
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    while let Some(piece) = stream.next().await {
        bytes.extend_from_slice(&piece.map_err(|e| e.to_string())?);
        if bytes.len() > MAX_CONFIG_BYTES {
            return Err(format!("the config {digest} is over 1 MiB"));
        }
    }
    Ok(bytes)
}
