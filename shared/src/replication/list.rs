//! The list stage: list (a piece of) the source, filter, name the destinations, write one task
//! per artifact and send one transfer message per task.
//!
//! A source is listed in pieces of `page_size` repositories; each piece is its own list
//! message, opened before the current piece closes, so the execution knows listing is complete
//! exactly when its count of open pieces reaches zero. Tasks are written in batches keyed by
//! piece and position, so a redelivered piece creates nothing twice.

use std::sync::Arc;

use tracing::Instrument;

use crate::messages::{decode, ArtifactEvent, InboundMessage, ListMessage};
use crate::model::policy::compile_pattern;
use crate::model::{
    ArtifactLocation, Decoration, ExecutionStatus, FilterType, Operation, ReplicationPolicy,
    Resource, ResourceType,
};
use crate::ports::queue::MessageQueue;
use crate::ports::registry::RegistryClient;
use crate::ports::store::{Store, StoreError};
use futures::StreamExt;

use super::fanout::{fan_out, TaskBatch};
use super::naming::destination_repository;
use super::source::{DistributionSource, ListedArtifact, SourceAdapter, Wanted};
use super::transfer::Connect;

/// Namespaces of a destination registry whose secret is decrypted; None when its kind has none
/// to make.
pub type NamespacesConnect = dyn Fn(
        &crate::model::Registry,
    ) -> Result<
        Option<Box<dyn crate::ports::registry::Namespaces>>,
        crate::ports::registry::RegistryError,
    > + Send
    + Sync;
use super::HandleError;

pub struct ListWorker {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn MessageQueue>,
    pub connect: Arc<Connect>,
    /// The destination's namespaces, for kinds that need them made (None for the others).
    pub namespaces: Arc<NamespacesConnect>,
    /// Repositories per list piece.
    pub page_size: usize,
    /// Deliveries of a list message before its DLQ takes it; the last one fails the execution
    /// with the reason instead, so none waits forever on a piece that will never be listed.
    pub max_receives: u32,
    /// To sweep task logs with old executions.
    pub logs: Arc<dyn crate::ports::logs::TaskLogSink>,
    /// Executions kept per policy; older ones are swept when one finishes.
    pub keep_executions: usize,
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
    /// The kind asked for, and whether it is kept (`matches`) or left out (`excludes`).
    resource: Option<(ResourceType, Decoration)>,
    labels: Vec<(Vec<String>, Decoration)>,
    /// A `matches` name filter without wildcards: the one repository to look at.
    literal_name: Option<String>,
}

impl Selection {
    /// Compiles the policy's filters (Harbor's semantics: every filter must accept).
    fn of(policy: &ReplicationPolicy) -> Result<Self, String> {
        let mut selection = Self {
            names: Vec::new(),
            tags: Vec::new(),
            resource: None,
            labels: Vec::new(),
            literal_name: None,
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
                FilterType::Name => {
                    if filter.decoration() == Decoration::Matches
                        && !pattern.is_empty()
                        && !pattern.contains(['*', '?', '[', '{', '\\'])
                    {
                        selection.literal_name = Some(pattern.to_string());
                    }
                    selection.names.push(compiled()?)
                }
                FilterType::Tag => selection.tags.push(compiled()?),
                FilterType::Resource => {
                    let kind = match pattern {
                        "" => continue,
                        "image" => ResourceType::Image,
                        "chart" => ResourceType::Chart,
                        "artifact" => ResourceType::Artifact,
                        other => {
                            return Err(format!(
                                "resource filter {other:?} is not image, chart or artifact"
                            ))
                        }
                    };
                    selection.resource = Some((kind, filter.decoration()));
                }
                FilterType::Label => {
                    let labels: Vec<String> = filter
                        .value
                        .as_array()
                        .map(|values| {
                            values
                                .iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    if !labels.is_empty() {
                        selection.labels.push((labels, filter.decoration()));
                    }
                }
            }
        }
        Ok(selection)
    }

    fn wanted(&self) -> Wanted {
        Wanted {
            kind: self.resource.is_some(),
            labels: !self.labels.is_empty(),
        }
    }

    fn repository(&self, name: &str) -> bool {
        self.names.iter().all(|f| f.accepts(name))
    }

    fn tag(&self, tag: &str) -> bool {
        self.tags.iter().all(|f| f.accepts(tag))
    }

    /// The resource and label filters, on what the source said of the artifact: `matches` a
    /// label list keeps artifacts with all of them, `excludes` leaves out those with any.
    fn artifact(&self, artifact: &ListedArtifact) -> bool {
        let kind_ok = match self.resource {
            Some((kind, Decoration::Matches)) => artifact.resource_type == kind,
            Some((kind, Decoration::Excludes)) => artifact.resource_type != kind,
            None => true,
        };
        kind_ok
            && self
                .labels
                .iter()
                .all(|(labels, decoration)| match decoration {
                    Decoration::Matches => labels.iter().all(|l| artifact.labels.contains(l)),
                    Decoration::Excludes => !labels.iter().any(|l| artifact.labels.contains(l)),
                })
    }
}

/// Whether the policy's name filters accept `repository` (a policy whose filters do not compile
/// accepts nothing).
pub fn names_accept(policy: &ReplicationPolicy, repository: &str) -> bool {
    Selection::of(policy).is_ok_and(|s| s.repository(repository))
}

/// Whether the policy's tag filters accept `tag`.
pub fn tags_accept(policy: &ReplicationPolicy, tag: &str) -> bool {
    Selection::of(policy).is_ok_and(|s| s.tag(tag))
}

/// What the listing found for one artifact, before tasks are written.
struct Found {
    resource: Resource,
    src_digest: String,
}

impl ListWorker {
    pub async fn handle(&self, message: &InboundMessage) -> Result<(), HandleError> {
        let list: ListMessage = decode(&message.body)?;
        if message.from_dead_letters {
            let reason = format!(
                "listing gave up: the lister did not finish the piece after {:?} in its deliveries (it timed out or crashed; see its logs)",
                list.start_after.as_deref().unwrap_or("the start")
            );
            let execution = match self.store.get_execution(list.execution_id).await {
                Ok(e) => e,
                Err(StoreError::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(retry(e)),
            };
            if execution.status.is_final() {
                return Ok(());
            }
            return self.fail(list.execution_id, &reason).await;
        }
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
        let (destination_registry, destination) = match self.destination(&policy).await {
            Ok(d) => d,
            Err(ListFailure::Retry(e)) => return Err(retry(e)),
            Err(ListFailure::Fail(reason)) => return self.fail(m.execution_id, &reason).await,
        };
        let adapter = DistributionSource {
            client: Arc::from(client),
        };
        // An event names its repository; a literal name needs no catalog either: the one
        // repository it names, in the first piece.
        let (repositories, next) = match (&m.event, &selection.literal_name) {
            (Some(event), _) => (vec![event.repository.clone()], None),
            (None, literal) => match literal {
                Some(name) if m.start_after.is_none() => (vec![name.clone()], None),
                Some(_) => (Vec::new(), None),
                None => match adapter
                    .repositories(self.page_size, m.start_after.as_deref())
                    .await
                {
                    Ok(page) => page,
                    Err(e) if e.is_transient() => return Err(retry(e)),
                    Err(e) => {
                        return self
                            .fail(m.execution_id, &format!("listing the source failed: {e}"))
                            .await
                    }
                },
            },
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
                event: None,
            };
            self.queue.send_list(&[more]).await.map_err(retry)?;
        }
        let mut found = Vec::new();
        for repository in repositories.iter().filter(|r| selection.repository(r)) {
            match self
                .artifacts(
                    &adapter,
                    destination.as_ref(),
                    &policy,
                    &selection,
                    repository,
                    m.event.as_ref(),
                )
                .await
            {
                Ok(more) => found.extend(more),
                Err(ListFailure::Retry(e)) => return Err(retry(e)),
                Err(ListFailure::Fail(reason)) => return self.fail(m.execution_id, &reason).await,
            }
        }
        let deletion = m.event.as_ref().is_some_and(|e| e.deleted);
        let unchanged = if deletion {
            Default::default()
        } else {
            unchanged(destination.as_ref(), &found).await
        };
        let resources: Vec<Resource> = found.into_iter().map(|f| f.resource).collect();
        if !deletion {
            match self.prepare(&destination_registry, &resources).await {
                Ok(()) => {}
                Err(ListFailure::Retry(e)) => return Err(retry(e)),
                Err(ListFailure::Fail(reason)) => return self.fail(m.execution_id, &reason).await,
            }
        }
        fan_out(
            self.store.as_ref(),
            self.queue.as_ref(),
            TaskBatch {
                execution_id: m.execution_id,
                piece: &piece,
                operation: if deletion {
                    Operation::Deletion
                } else {
                    Operation::Copy
                },
            },
            &policy,
            &resources,
            &unchanged,
        )
        .await
        .map_err(retry)?;
        tracing::info!(
            repositories = repositories.len(),
            artifacts = resources.len(),
            unchanged = unchanged.len(),
            more = next.is_some(),
            "listed"
        );
        self.store
            .close_listing(m.execution_id, &piece)
            .await
            .map_err(retry)?;
        if self
            .store
            .finish_if_done(m.execution_id)
            .await
            .map_err(retry)?
            .is_some()
        {
            // Every task ended while listing (all unchanged, or none matched).
            super::sweep::sweep_after(
                self.store.as_ref(),
                self.logs.as_ref(),
                m.execution_id,
                self.keep_executions,
            )
            .await;
        }
        Ok(())
    }

    /// A client of the policy's destination, to see what it holds already.
    async fn destination(
        &self,
        policy: &ReplicationPolicy,
    ) -> Result<(crate::model::Registry, Box<dyn RegistryClient>), ListFailure> {
        let registry = match self
            .store
            .get_registry_with_secret(policy.dest_registry_id())
            .await
        {
            Ok(r) => r,
            Err(StoreError::NotFound { id, .. }) => {
                return Err(ListFailure::Fail(format!(
                    "destination registry {id} does not exist"
                )))
            }
            Err(e) => return Err(ListFailure::Retry(e.to_string())),
        };
        let client = (self.connect)(&registry).map_err(|e| ListFailure::Fail(e.to_string()))?;
        Ok((registry, client))
    }

    /// Creates the namespaces the destination kind needs (Harbor's projects: the first
    /// component of each repository) before any task is written, so a destination that refuses
    /// fails the execution at once with the reason, not every task.
    async fn prepare(
        &self,
        registry: &crate::model::Registry,
        resources: &[Resource],
    ) -> Result<(), ListFailure> {
        let namespaces = match (self.namespaces)(registry) {
            Ok(Some(n)) => n,
            Ok(None) => return Ok(()),
            Err(e) => return Err(ListFailure::Fail(e.to_string())),
        };
        let projects: std::collections::BTreeSet<&str> = resources
            .iter()
            .filter_map(|r| r.dst.repository.split('/').next())
            .collect();
        for project in projects {
            match namespaces.ensure(project).await {
                Ok(true) => tracing::info!(project, "destination project created"),
                Ok(false) => {}
                Err(e) if e.is_transient() => return Err(ListFailure::Retry(e.to_string())),
                Err(e) => {
                    return Err(ListFailure::Fail(format!(
                        "preparing the destination failed: project {project:?}: {e}"
                    )))
                }
            }
        }
        Ok(())
    }

    async fn artifacts(
        &self,
        source: &dyn SourceAdapter,
        destination: &dyn RegistryClient,
        policy: &ReplicationPolicy,
        selection: &Selection,
        repository: &str,
        event: Option<&ArtifactEvent>,
    ) -> Result<Vec<Found>, ListFailure> {
        if let Some(deleted) = event.filter(|e| e.deleted) {
            return deleted_within_filters(destination, policy, selection, repository, deleted)
                .await;
        }
        let only = event.map(|e| e.reference.as_str());
        let keep = |tag: &str| selection.tag(tag) && only.is_none_or(|only| only == tag);
        let listed = source
            .artifacts(repository, &keep, selection.wanted())
            .await
            .map_err(|e| {
                if e.is_transient() {
                    ListFailure::Retry(e.to_string())
                } else {
                    ListFailure::Fail(format!("listing artifacts of {repository} failed: {e}"))
                }
            })?;
        let destination = destination_of(policy, repository)?;
        Ok(listed
            .into_iter()
            .filter(|a| selection.artifact(a))
            .map(|artifact| Found {
                // Referrers under tags may be new though the artifact is not: copy to see.
                src_digest: if artifact.referrer_tags {
                    String::new()
                } else {
                    artifact.digest
                },
                resource: Resource {
                    resource_type: artifact.resource_type,
                    src: ArtifactLocation {
                        registry_id: policy.src_registry_id(),
                        repository: repository.to_string(),
                        reference: artifact.tag.clone(),
                    },
                    dst: ArtifactLocation {
                        registry_id: policy.dest_registry_id(),
                        repository: destination.clone(),
                        reference: artifact.tag,
                    },
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

/// A deletion at the source, as a deletion at the destination, only within the policy's
/// filters: a tag that passes them; a digest (CNCF distribution's delete events name no tag)
/// when every destination tag on it passes them. Labels and kinds of a deleted artifact cannot
/// be read any more, so a policy filtering on them replicates no deletion: never beyond.
async fn deleted_within_filters(
    destination: &dyn RegistryClient,
    policy: &ReplicationPolicy,
    selection: &Selection,
    repository: &str,
    event: &ArtifactEvent,
) -> Result<Vec<Found>, ListFailure> {
    if !selection.labels.is_empty() || selection.resource.is_some() {
        return Ok(Vec::new());
    }
    let dst_repository = destination_of(policy, repository)?;
    let within = if event.reference.starts_with("sha256:") {
        let digest = &event.reference;
        let may_heal = |e: crate::ports::registry::RegistryError| {
            if e.is_transient() {
                ListFailure::Retry(e.to_string())
            } else {
                ListFailure::Fail(format!(
                    "reading {dst_repository} at the destination failed: {e}"
                ))
            }
        };
        let mut all_pass = true;
        for tag in destination
            .list_tags(&dst_repository)
            .await
            .map_err(may_heal)?
        {
            let held = destination
                .head_manifest(&dst_repository, &tag)
                .await
                .map_err(may_heal)?;
            if held.is_some_and(|(d, _)| &d == digest) && !selection.tag(&tag) {
                all_pass = false;
            }
        }
        all_pass
    } else {
        selection.tag(&event.reference)
    };
    if !within {
        return Ok(Vec::new());
    }
    Ok(vec![Found {
        src_digest: String::new(),
        resource: Resource {
            resource_type: ResourceType::Image,
            src: ArtifactLocation {
                registry_id: policy.src_registry_id(),
                repository: repository.to_string(),
                reference: event.reference.clone(),
            },
            dst: ArtifactLocation {
                registry_id: policy.dest_registry_id(),
                repository: dst_repository,
                reference: event.reference.clone(),
            },
        },
    }])
}

/// The destination repository of a source repository, checked against the path rules.
fn destination_of(policy: &ReplicationPolicy, repository: &str) -> Result<String, ListFailure> {
    let destination = destination_repository(
        &policy.dest_namespace,
        policy.dest_namespace_replace_count,
        repository,
    )
    .map_err(|e| ListFailure::Fail(format!("{repository}: {e}")))?;
    crate::model::policy::validate_repository_path("dest_namespace", &destination)
        .map_err(|e| ListFailure::Fail(format!("{repository} -> {destination}: {e}")))?;
    Ok(destination)
}

enum ListFailure {
    Retry(String),
    Fail(String),
}

/// Artifacts the destination holds already with the source's digest, by destination: each costs
/// one HEAD there (the source's digest came with the listing). An answer that is not a clear
/// "same digest" leaves the artifact to its transfer, which reports what went wrong.
async fn unchanged(
    destination: &dyn RegistryClient,
    found: &[Found],
) -> std::collections::HashMap<String, String> {
    futures::stream::iter(found.iter().filter(|f| !f.src_digest.is_empty()))
        .map(|f| async move {
            let dst = &f.resource.dst;
            match destination
                .head_manifest(&dst.repository, &dst.reference)
                .await
            {
                Ok(Some((digest, _))) if digest == f.src_digest => Some((dst.display(), digest)),
                _ => None,
            }
        })
        .buffer_unordered(UNCHANGED_PARALLELISM)
        .filter_map(|held| async move { held })
        .collect()
        .await
}

/// Destination HEADs at once while listing.
const UNCHANGED_PARALLELISM: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::policy::Filter;

    fn policy(filters: serde_json::Value) -> ReplicationPolicy {
        ReplicationPolicy {
            filters: serde_json::from_value::<Vec<Filter>>(filters).expect("filters"),
            ..ReplicationPolicy::default()
        }
    }

    fn artifact(kind: ResourceType, labels: &[&str]) -> ListedArtifact {
        ListedArtifact {
            tag: "v1".into(),
            digest: "sha256:0".into(),
            resource_type: kind,
            labels: labels.iter().map(|l| l.to_string()).collect(),
            referrer_tags: false,
        }
    }

    #[test]
    fn resource_and_label_filters_follow_harbor() {
        let charts = Selection::of(&policy(serde_json::json!([
            {"type": "resource", "value": "chart"},
            {"type": "label", "value": ["team=payments", "stable"]},
            {"type": "label", "value": ["deprecated"], "decoration": "excludes"},
        ])))
        .expect("filters");
        assert!(charts.wanted().kind && charts.wanted().labels);
        assert!(charts.artifact(&artifact(
            ResourceType::Chart,
            &["team=payments", "team", "stable"]
        )));
        assert!(!charts.artifact(&artifact(ResourceType::Image, &["team=payments", "stable"])));
        assert!(!charts.artifact(&artifact(ResourceType::Chart, &["team=payments"])));
        assert!(!charts.artifact(&artifact(
            ResourceType::Chart,
            &["team=payments", "stable", "deprecated"]
        )));
        let no_images = Selection::of(&policy(serde_json::json!([
            {"type": "resource", "value": "image", "decoration": "excludes"},
        ])))
        .expect("filters");
        assert!(!no_images.artifact(&artifact(ResourceType::Image, &[])));
        assert!(no_images.artifact(&artifact(ResourceType::Artifact, &[])));
        assert!(!no_images.wanted().labels);
    }

    #[test]
    fn name_and_tag_filters_match_and_exclude() {
        let selection = Selection::of(&policy(serde_json::json!([
            {"type": "name", "value": "library/**"},
            {"type": "name", "value": "library/internal/**", "decoration": "excludes"},
            {"type": "tag", "value": "1.?"},
            {"type": "tag", "value": "1.9", "decoration": "excludes"},
        ])))
        .expect("filters");
        assert!(selection.repository("library/hello-world"));
        assert!(selection.repository("library/my/hello-world"));
        assert!(!selection.repository("library/internal/tool"));
        assert!(!selection.repository("google/hello-world"));
        assert!(selection.tag("1.0"));
        assert!(!selection.tag("1.01"));
        assert!(!selection.tag("1.9"));
        assert_eq!(selection.literal_name, None);
    }

    #[test]
    fn only_a_literal_matches_name_goes_straight_to_its_repository() {
        let literal = |filters| {
            Selection::of(&policy(filters))
                .expect("filters")
                .literal_name
        };
        assert_eq!(
            literal(serde_json::json!([{"type": "name", "value": "library/nginx"}])),
            Some("library/nginx".into())
        );
        assert_eq!(
            literal(serde_json::json!([{"type": "name", "value": "library/*"}])),
            None
        );
        assert_eq!(
            literal(serde_json::json!([{"type": "name", "value": "{a,b}/c"}])),
            None
        );
        assert_eq!(
            literal(
                serde_json::json!([{"type": "name", "value": "library/nginx", "decoration": "excludes"}])
            ),
            None
        );
    }
}
