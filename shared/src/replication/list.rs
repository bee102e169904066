//! The list stage: list (a piece of) the source, filter, name the destinations, write one task
//! per artifact and send one transfer message per task.
//!
//! A source is listed in pieces of `page_size` repositories; each piece is its own list
//! message, opened before the current piece closes, so the execution knows listing is complete
//! exactly when its count of open pieces reaches zero. Tasks are written in batches keyed by
//! piece and position, so a redelivered piece creates nothing twice.

use std::sync::Arc;

use tracing::Instrument;

use crate::messages::{decode, CopyOptions, InboundMessage, ListMessage, TransferMessage};
use crate::model::policy::compile_pattern;
use crate::model::{
    ArtifactLocation, Decoration, ExecutionStatus, FilterType, Operation, ReplicationPolicy,
    Resource, ResourceType,
};
use crate::ports::queue::MessageQueue;
use crate::ports::registry::RegistryClient;
use crate::ports::store::{NewTask, Store, StoreError, MAX_TASKS_PER_BATCH};

use super::naming::destination_repository;
use super::transfer::Connect;
use super::HandleError;

pub struct ListWorker {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn MessageQueue>,
    pub connect: Arc<Connect>,
    /// Repositories per list piece.
    pub page_size: usize,
    /// Deliveries of a list message before its DLQ takes it; the last one fails the execution
    /// with the reason instead, so none waits forever on a piece that will never be listed.
    pub max_receives: u32,
}

fn retry(e: impl std::fmt::Display) -> HandleError {
    HandleError::Retry(e.to_string())
}

/// A name or tag filter, compiled.
struct PatternFilter {
    matcher: globset::GlobMatcher,
    decoration: Decoration,
}

impl PatternFilter {
    fn accepts(&self, candidate: &str) -> bool {
        self.matcher.is_match(candidate) == (self.decoration == Decoration::Matches)
    }
}

struct Selection {
    names: Vec<PatternFilter>,
    tags: Vec<PatternFilter>,
}

impl Selection {
    /// Compiles the policy's filters; label and resource filters are not applied by this
    /// lister yet, so a policy that has them is refused rather than over-replicated.
    fn of(policy: &ReplicationPolicy) -> Result<Self, String> {
        let mut selection = Self {
            names: Vec::new(),
            tags: Vec::new(),
        };
        for filter in &policy.filters {
            let pattern = filter.value.as_str().unwrap_or_default();
            let compiled = || -> Result<PatternFilter, String> {
                Ok(PatternFilter {
                    matcher: compile_pattern(pattern)
                        .map_err(|e| format!("filter {pattern:?} {e}"))?,
                    decoration: filter.decoration(),
                })
            };
            match filter.kind {
                FilterType::Name => selection.names.push(compiled()?),
                FilterType::Tag => selection.tags.push(compiled()?),
                FilterType::Label | FilterType::Resource => {
                    return Err(format!(
                        "{:?} filters are not supported by this lister",
                        filter.kind
                    )
                    .to_lowercase())
                }
            }
        }
        Ok(selection)
    }

    fn repository(&self, name: &str) -> bool {
        self.names.iter().all(|f| f.accepts(name))
    }

    fn tag(&self, tag: &str) -> bool {
        self.tags.iter().all(|f| f.accepts(tag))
    }
}

impl ListWorker {
    pub async fn handle(&self, message: &InboundMessage) -> Result<(), HandleError> {
        let list: ListMessage = decode(&message.body)?;
        let span = tracing::info_span!(
            "list",
            message_id = %message.message_id,
            execution_id = list.execution_id,
            policy_id = list.policy_id,
        );
        match self.run(&list).instrument(span).await {
            Err(HandleError::Retry(reason)) if message.receive_count >= self.max_receives => {
                let reason = format!(
                    "listing failed after {} attempts: {reason}",
                    message.receive_count
                );
                self.fail(list.execution_id, &reason).await
            }
            other => other,
        }
    }

    async fn run(&self, m: &ListMessage) -> Result<(), HandleError> {
        let piece = m.start_after.clone().unwrap_or_default();
        let execution = match self.store.get_execution(m.execution_id).await {
            Ok(e) => e,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(retry(e)),
        };
        if execution.status.is_final() {
            return Ok(());
        }
        let policy = match self.store.get_policy(m.policy_id).await {
            Ok(p) => p,
            Err(StoreError::NotFound { .. }) => {
                return self
                    .fail(
                        m.execution_id,
                        &format!("policy {} no longer exists", m.policy_id),
                    )
                    .await
            }
            Err(e) => return Err(retry(e)),
        };
        let selection = match Selection::of(&policy) {
            Ok(s) => s,
            Err(reason) => return self.fail(m.execution_id, &reason).await,
        };
        let source = match self
            .store
            .get_registry_with_secret(policy.src_registry_id())
            .await
        {
            Ok(registry) => registry,
            Err(StoreError::NotFound { id, .. }) => {
                return self
                    .fail(
                        m.execution_id,
                        &format!("source registry {id} does not exist"),
                    )
                    .await
            }
            Err(e) => return Err(retry(e)),
        };
        let client = match (self.connect)(&source) {
            Ok(c) => c,
            Err(e) => return self.fail(m.execution_id, &e.to_string()).await,
        };
        let (repositories, next) = match client
            .list_repositories(self.page_size, m.start_after.as_deref())
            .await
        {
            Ok(page) => page,
            Err(e) if e.is_transient() => return Err(retry(e)),
            Err(e) => {
                return self
                    .fail(m.execution_id, &format!("listing the source failed: {e}"))
                    .await
            }
        };
        if let Some(next) = &next {
            self.store
                .open_listing(m.execution_id, next)
                .await
                .map_err(retry)?;
            let more = ListMessage {
                execution_id: m.execution_id,
                policy_id: m.policy_id,
                start_after: Some(next.clone()),
            };
            self.queue.send_list(&[more]).await.map_err(retry)?;
        }
        let mut resources = Vec::new();
        for repository in repositories.iter().filter(|r| selection.repository(r)) {
            match self
                .artifacts(client.as_ref(), &policy, &selection, repository)
                .await
            {
                Ok(found) => resources.extend(found),
                Err(ListFailure::Retry(e)) => return Err(retry(e)),
                Err(ListFailure::Fail(reason)) => return self.fail(m.execution_id, &reason).await,
            }
        }
        let options = CopyOptions {
            override_: policy.override_,
            copy_by_chunk: policy.copy_by_chunk,
            speed: policy.speed,
        };
        for (batch_index, batch) in resources.chunks(MAX_TASKS_PER_BATCH).enumerate() {
            let tasks: Vec<NewTask> = batch
                .iter()
                .map(|r| NewTask {
                    operation: Operation::Copy,
                    resource_type: r.resource_type,
                    src_resource: r.src.display(),
                    dst_resource: r.dst.display(),
                    resource: Some(r.clone()),
                })
                .collect();
            let created = self
                .store
                .create_tasks(m.execution_id, &format!("{piece}#{batch_index}"), &tasks)
                .await
                .map_err(retry)?;
            // From the stored tasks, not this listing: a redelivered piece may list differently,
            // and the tasks an earlier delivery created are the ones that need messages.
            let messages: Vec<TransferMessage> = created
                .iter()
                .filter_map(|task| {
                    task.resource.clone().map(|resource| TransferMessage {
                        execution_id: m.execution_id,
                        task_id: task.id,
                        resource,
                        options,
                        platforms: policy.platforms.clone(),
                        checkpoint: None,
                    })
                })
                .collect();
            self.queue.send_transfer(&messages).await.map_err(retry)?;
        }
        tracing::info!(
            repositories = repositories.len(),
            artifacts = resources.len(),
            more = next.is_some(),
            "listed"
        );
        self.store
            .close_listing(m.execution_id, &piece)
            .await
            .map_err(retry)?;
        self.store
            .finish_if_done(m.execution_id)
            .await
            .map_err(retry)?;
        Ok(())
    }

    async fn artifacts(
        &self,
        client: &dyn RegistryClient,
        policy: &ReplicationPolicy,
        selection: &Selection,
        repository: &str,
    ) -> Result<Vec<Resource>, ListFailure> {
        let tags = client.list_tags(repository).await.map_err(|e| {
            if e.is_transient() {
                ListFailure::Retry(e.to_string())
            } else {
                ListFailure::Fail(format!("listing tags of {repository} failed: {e}"))
            }
        })?;
        let destination = destination_repository(
            &policy.dest_namespace,
            policy.dest_namespace_replace_count,
            repository,
        )
        .map_err(|e| ListFailure::Fail(format!("{repository}: {e}")))?;
        crate::model::policy::validate_repository_path("dest_namespace", &destination)
            .map_err(|e| ListFailure::Fail(format!("{repository} -> {destination}: {e}")))?;
        Ok(tags
            .into_iter()
            .filter(|t| selection.tag(t))
            .map(|tag| Resource {
                resource_type: ResourceType::Image,
                src: ArtifactLocation {
                    registry_id: policy.src_registry_id(),
                    repository: repository.to_string(),
                    reference: tag.clone(),
                },
                dst: ArtifactLocation {
                    registry_id: policy.dest_registry_id(),
                    repository: destination.clone(),
                    reference: tag,
                },
            })
            .collect())
    }

    /// Ends the execution Failed with the reason; nothing is retried.
    async fn fail(&self, execution_id: i64, reason: &str) -> Result<(), HandleError> {
        tracing::warn!(reason, "execution failed while listing");
        self.store
            .end_execution(execution_id, ExecutionStatus::Failed, reason)
            .await
            .map_err(retry)?;
        Ok(())
    }
}

enum ListFailure {
    Retry(String),
    Fail(String),
}
