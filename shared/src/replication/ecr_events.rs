//! ECR's own push and delete events, as EventBridge delivers them (`"source": "aws.ecr"`,
//! `"detail-type": "ECR Image Action"`:
//! https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html), start the
//! event-based policies whose source is that ECR registry, once per event and policy.

use serde::Deserialize;

use super::events::{start_for_events, SourceEvent};
use super::start::StartError;
use crate::messages::ArtifactEvent;
use crate::model::kinds::ecr_endpoint;
use crate::model::{Registry, RegistryType};
use crate::oci::{Digest, Repository, Tag};
use crate::ports::queue::MessageQueue;
use crate::ports::store::{collect_pages, Store};

/// An EventBridge event from ECR.
#[derive(Debug, Deserialize)]
pub struct EcrImageAction {
    pub id: String,
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub region: String,
    pub detail: EcrDetail,
}

#[derive(Debug, Deserialize)]
pub struct EcrDetail {
    #[serde(rename = "action-type")]
    pub action_type: String,
    #[serde(default)]
    pub result: String,
    #[serde(rename = "repository-name")]
    pub repository_name: String,
    #[serde(rename = "image-digest", default)]
    pub image_digest: String,
    #[serde(rename = "image-tag", default)]
    pub image_tag: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EcrEventError {
    #[error("ECR event {id}: {reason}")]
    Invalid { id: String, reason: String },
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Store(#[from] crate::ports::store::StoreError),
}

impl EcrImageAction {
    /// The push or delete it tells of; None for a failed action or another kind.
    pub fn event(&self) -> Result<Option<SourceEvent>, EcrEventError> {
        let invalid = |reason: String| EcrEventError::Invalid {
            id: self.id.clone(),
            reason,
        };
        let deleted = match self.detail.action_type.as_str() {
            "PUSH" => false,
            "DELETE" => true,
            _ => return Ok(None),
        };
        if self.detail.result != "SUCCESS" {
            return Ok(None);
        }
        Repository::parse(&self.detail.repository_name).map_err(|e| invalid(e.to_string()))?;
        let reference = if !self.detail.image_tag.is_empty() {
            Tag::parse(&self.detail.image_tag).map_err(|e| invalid(e.to_string()))?;
            self.detail.image_tag.clone()
        } else if !deleted {
            // A push by digest alone is no tag's business.
            return Ok(None);
        } else {
            Digest::parse(&self.detail.image_digest).map_err(|e| invalid(e.to_string()))?;
            self.detail.image_digest.clone()
        };
        Ok(Some(SourceEvent {
            id: self.id.clone(),
            event: ArtifactEvent {
                repository: self.detail.repository_name.clone(),
                reference,
                deleted,
            },
        }))
    }

    /// Whether `registry` is the ECR registry the event came from: its URL's account and
    /// region, or for another URL its region.
    pub fn is_from(&self, registry: &Registry) -> bool {
        if registry.kind != Some(RegistryType::AwsEcr) {
            return false;
        }
        match ecr_endpoint(&registry.url) {
            Some((account, region)) => account == self.account && region == self.region,
            None => registry.options.region.as_deref() == Some(self.region.as_str()),
        }
    }
}

/// Starts what the event concerns: the executions started.
pub async fn start_for_ecr_event(
    store: &dyn Store,
    queue: &dyn MessageQueue,
    action: &EcrImageAction,
) -> Result<Vec<i64>, EcrEventError> {
    let Some(event) = action.event()? else {
        return Ok(Vec::new());
    };
    let registries: Vec<Registry> =
        collect_pages(|cursor| async move { store.list_registries(cursor.as_deref(), 100).await })
            .await?;
    let policies =
        collect_pages(|cursor| async move { store.list_policies(cursor.as_deref(), 1000).await })
            .await?;
    let mut started = Vec::new();
    for registry in registries.iter().filter(|r| action.is_from(r)) {
        started.extend(
            start_for_events(
                store,
                queue,
                &policies,
                registry.id,
                std::slice::from_ref(&event),
            )
            .await?,
        );
    }
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(kind: &str, tag: &str) -> EcrImageAction {
        serde_json::from_value(serde_json::json!({
            "version": "0", "id": "e-1", "detail-type": "ECR Image Action", "source": "aws.ecr",
            "account": "123456789012", "region": "eu-west-1", "time": "2026-11-29T00:00:00Z",
            "resources": [],
            "detail": {"result": "SUCCESS", "repository-name": "team/app",
                       "image-digest": "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                       "action-type": kind, "image-tag": tag}
        }))
        .expect("an ECR event")
    }

    #[test]
    fn ecr_actions_become_pushes_and_deletes_of_their_registry() {
        let push = action("PUSH", "v1")
            .event()
            .expect("valid")
            .expect("an event");
        assert_eq!(push.event.reference, "v1");
        assert!(!push.event.deleted);
        let delete = action("DELETE", "")
            .event()
            .expect("valid")
            .expect("an event");
        assert!(delete.event.deleted && delete.event.reference.starts_with("sha256:"));
        assert!(action("PUSH", "").event().expect("valid").is_none());
        assert!(action("PUSH", "bad tag!").event().is_err());
        let mut registry = Registry {
            kind: Some(RegistryType::AwsEcr),
            url: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
            ..Registry::default()
        };
        assert!(action("PUSH", "v1").is_from(&registry));
        registry.url = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com".into();
        assert!(!action("PUSH", "v1").is_from(&registry));
    }
}
