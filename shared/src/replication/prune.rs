//! Mirror mode's prune: once every other list piece of an execution is listed (never after a
//! failed one: a failure ends the execution first), the destination's tags within the
//! policy's scope that the source no longer has, or the filters no longer select, become
//! deletion tasks; more than the policy's share of what the destination holds there, and they
//! are written failed, saying so, with nothing deleted. An event's execution prunes its one
//! repository (a push under `newest` drops the tag that fell out).

use std::collections::HashMap;

use super::fanout::{fan_out, TaskBatch};
use super::list::{Context, ListWorker};
use super::Failure;
use crate::messages::{ArtifactEvent, ListMessage};
use crate::model::plan::planned;
use crate::model::prune::left_the_selection;
use crate::model::TaskStatus;
use crate::model::{ArtifactLocation, Operation, ReplicationPolicy, Resource, ResourceType};
use crate::oci::{Digest, Repository};
use crate::ports::source::SourceAdapter;
use crate::ports::source::TagWindow;

/// The list piece a pruning execution is created with besides its first.
pub const PRUNE_PIECE: &str = "prune";
/// Destination repositories read per catalog page.
const CATALOG_PAGE: usize = 100;

/// Whether an execution of `policy` for `event` (none: a whole listing) prunes: not for a
/// deletion, nor for an artifact named by digest alone.
pub fn prunes(policy: &ReplicationPolicy, event: Option<&ArtifactEvent>) -> bool {
    policy.prune.enabled && event.is_none_or(|e| !e.deleted && Digest::parse(&e.reference).is_err())
}

impl ListWorker {
    /// After a piece is listed: when it was the last but the prune's, the prune's tasks are
    /// written and its piece closed. Two pieces ending at once may both prune: the tasks are
    /// written under one key, once.
    pub(super) async fn prune_when_listed(
        &self,
        cx: &Context,
        m: &ListMessage,
    ) -> Result<(), Failure> {
        if !prunes(&cx.policy, m.event.as_ref())
            || self.store.listings_pending(m.execution_id).await? != 1
        {
            return Ok(());
        }
        self.prune(cx, m).await?;
        self.store
            .close_listing(m.execution_id, PRUNE_PIECE)
            .await?;
        Ok(())
    }

    async fn prune(&self, cx: &Context, m: &ListMessage) -> Result<(), Failure> {
        let destination = self
            .connect
            .source(&cx.destination_registry)
            .map_err(|e| Failure::Fail(e.to_string()))?;
        let in_scope = match &m.event {
            Some(event) => {
                let source = Repository::parse(&event.repository)
                    .map_err(|e| Failure::Fail(format!("the event names {e}")))?;
                let replica = cx
                    .policy
                    .destination_of(source.as_str())
                    .map_err(Failure::Fail)?;
                vec![(replica, source)]
            }
            None => self.replicas(cx, destination.as_ref()).await?,
        };
        let mut held_in_scope = 0;
        let mut deletions = Vec::new();
        for (replica, source) in in_scope {
            let held = tags_of(destination.as_ref(), &replica).await?;
            let selected = self.selected_of(cx, &source).await?;
            held_in_scope += held.len();
            for tag in left_the_selection(&held, &selected) {
                let location = |registry_id, repository: &Repository| ArtifactLocation {
                    registry_id,
                    repository: repository.to_string(),
                    reference: tag.clone(),
                };
                deletions.push(Resource {
                    resource_type: ResourceType::IMAGE,
                    src: location(cx.policy.src_registry_id(), &source),
                    dst: location(cx.policy.dest_registry_id(), &replica),
                });
            }
        }
        let refused = cx.policy.prune.refusal(deletions.len(), held_in_scope);
        let ended: HashMap<String, (TaskStatus, String)> = deletions
            .iter()
            .filter_map(|r| {
                let how = match (&refused, cx.dry_run) {
                    (Some(reason), _) => (TaskStatus::Failed, reason.clone()),
                    (None, true) => (TaskStatus::Succeed, planned(None, false, true)),
                    (None, false) => return None,
                };
                Some((r.dst.display(), how))
            })
            .collect();
        tracing::info!(
            execution_id = m.execution_id,
            held = held_in_scope,
            deletions = deletions.len(),
            refused = refused.is_some(),
            "pruned"
        );
        let batch = TaskBatch {
            execution_id: m.execution_id,
            piece: PRUNE_PIECE,
            operation: Operation::Deletion,
        };
        fan_out(
            self.store.as_ref(),
            self.queue.as_ref(),
            batch,
            &cx.policy,
            &deletions,
            &ended,
        )
        .await
        .map_err(|e| Failure::Retry(e.to_string()))
    }

    /// The destination's repositories the policy's scope holds, each with the source
    /// repository it is the replica of (one whose source cannot be told is left alone).
    async fn replicas(
        &self,
        cx: &Context,
        destination: &dyn SourceAdapter,
    ) -> Result<Vec<(Repository, Repository)>, Failure> {
        let namespace = cx
            .policy
            .dest_namespace
            .split('/')
            .next()
            .filter(|n| !n.is_empty());
        let mut replicas = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (names, next) = destination
                .repositories(CATALOG_PAGE, after.as_deref(), namespace)
                .await
                .map_err(|e| Failure::from(e).context("listing the destination failed"))?;
            for name in names {
                let Ok(replica) = Repository::parse(&name) else {
                    continue;
                };
                if let Ok(source) = cx.policy.source_of(&replica) {
                    replicas.push((replica, source));
                }
            }
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(replicas)
    }
}

/// Every tag a repository holds (its referrer tags aside), in tag order.
async fn tags_of(
    registry: &dyn SourceAdapter,
    repository: &Repository,
) -> Result<Vec<String>, Failure> {
    let mut tags = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let window = TagWindow {
            after: after.as_deref(),
            limit: crate::ports::store::MAX_TASKS_PER_BATCH,
        };
        let page = registry
            .artifacts(repository, window, &|_| true, Default::default())
            .await
            .map_err(|e| {
                Failure::from(e).context(format!("listing the destination's {repository} failed"))
            })?;
        tags.extend(page.artifacts.into_iter().map(|a| a.tag));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(tags)
}
