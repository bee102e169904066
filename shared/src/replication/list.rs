//! The list stage: list (a piece of) the source, filter, name the destinations, prepare the
//! destination's namespaces, write one task per artifact and send one transfer message per task.
//!
//! A source is listed in pieces of `page_size` repositories; each piece is its own list
//! message, opened before the current piece closes, so the execution knows listing is complete
//! exactly when its count of open pieces reaches zero. Within a piece, each repository is read a
//! window of tags at a time and each window's tasks are written at once, keyed by piece,
//! repository and window, so a redelivered piece creates nothing twice; a piece that outlasts
//! its invocation goes on in another from where it stopped.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tracing::Instrument;

use super::fanout::{fan_out, TaskBatch};
use super::prepare::{call_handlers, Preparation};
use super::{Failure, HandleError};
use crate::messages::{decode, ArtifactEvent, InboundMessage, ListMessage, ListResume};
use crate::model::artifact_types::ArtifactTypes;
use crate::model::newest::newest_tags;
use crate::model::plan::{planned, Held};
use crate::model::TaskStatus;
use crate::model::{
    ArtifactLocation, ExecutionStatus, Operation, Registry, ReplicationPolicy, Resource,
    ResourceType, Selection,
};
use crate::oci::{Digest, Reference, Repository, Tag};
use crate::ports::connect::Connect;
use crate::ports::deadline::{self, Invocation};
use crate::ports::logs::TaskLogSink;
use crate::ports::queue::MessageQueue;
use crate::ports::registry::platforms_key;
use crate::ports::registry::{RegistryClient, Visibility};
use crate::ports::source::{SourceAdapter, TagWindow, Wanted};
use crate::ports::store::{Store, StoreError, MAX_TASKS_PER_BATCH};
use crate::telemetry::metrics;

/// Destination HEADs at once while listing.
const UNCHANGED_PARALLELISM: usize = 8;
/// Time kept at the end of an invocation to record the outcome after the last wait.
const SETTLE: Duration = Duration::from_secs(10);

pub struct ListWorker {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn MessageQueue>,
    pub connect: Arc<dyn Connect>,
    /// Repositories per list piece.
    pub page_size: usize,
    /// Deliveries of a list message before its DLQ takes it; the last one fails the execution
    /// with the reason instead, so none waits forever on a piece that will never be listed.
    pub max_receives: u32,
    /// To sweep task logs with old executions.
    pub logs: Arc<dyn TaskLogSink>,
    /// Executions kept per policy; older ones are swept when one finishes.
    pub keep_executions: usize,
    /// Time kept back from the invocation's deadline to write what was listed and hand the
    /// rest of the piece to another invocation.
    pub deadline_margin: Duration,
    /// At most this long per invocation, whatever the deadline (tests use it to force a
    /// continuation); None for no limit but the deadline.
    pub time_budget: Option<Duration>,
    /// The artifact types the `resource` filter tells apart.
    pub types: Arc<ArtifactTypes>,
}

/// What an invocation has written so far.
#[derive(Default)]
struct Written {
    artifacts: usize,
    unchanged: usize,
    /// The destination's namespaces made (or found) in this invocation.
    prepared: BTreeSet<String>,
    /// Artifacts found and not written yet, across repositories: written together, up to a
    /// batch, so that a piece of small repositories costs a few writes, not a few per
    /// repository. Named by the first window in it (the same on every delivery).
    batch: Vec<Found>,
    batch_key: String,
}

fn out_of_time(stop_at: Option<Instant>) -> bool {
    stop_at.is_some_and(|at| Instant::now() >= at)
}

/// What the listing found for one artifact, before tasks are written.
struct Found {
    resource: Resource,
    /// The source's digest, when it came with the listing: a destination holding it under the
    /// same tag makes the task a skip.
    src_digest: Option<Digest>,
}

/// What a piece reads before it lists: the policy, its filters, and both ends.
pub(super) struct Context {
    pub(super) policy: ReplicationPolicy,
    pub(super) selection: Selection,
    pub(super) source: Box<dyn SourceAdapter>,
    pub(super) destination_registry: Registry,
    pub(super) destination: Box<dyn RegistryClient>,
    /// Whether a digest the destination holds may be the source's: not where the destination
    /// keeps Helm packages (ChartMuseum) and the source is no chart repository, whose listing
    /// builds the same artifact (a HEAD there reads a package and could never match).
    compare_digests: bool,
    /// The execution is a plan: nothing is prepared or written at the destination.
    pub(super) dry_run: bool,
}

impl ListWorker {
    /// Handles one list message; `deadline` is when the invocation ends.
    pub async fn handle(
        &self,
        message: &InboundMessage,
        deadline: Option<Instant>,
    ) -> Result<(), HandleError> {
        let list: ListMessage = decode(&message.body)?;
        if message.from_dead_letters {
            let reason = format!(
                "listing gave up: the lister did not finish the piece after {:?} in its deliveries (it timed out or crashed; see its logs)",
                list.start_after.as_deref().unwrap_or("the start")
            );
            return self.fail(list.execution_id, &reason).await;
        }
        let span = tracing::info_span!(
            "list",
            message_id = %message.message_id,
            execution_id = list.execution_id,
            policy_id = list.policy_id,
            correlation_id = list.correlation_id.as_deref().unwrap_or_default(),
        );
        let Invocation { stop_at, waits_end } = Invocation::plan(
            Instant::now(),
            deadline,
            self.deadline_margin,
            self.time_budget,
            SETTLE,
        );
        let began = Instant::now();
        let run = self.run(&list, stop_at).instrument(span);
        let correlation = list.correlation_id.clone();
        let listed =
            deadline::within(waits_end, crate::telemetry::correlated(correlation, run)).await;
        let on = metrics::On::Policy(list.policy_id);
        metrics::duration(metrics::LISTING_DURATION, on, began.elapsed());
        match listed {
            Ok(()) => Ok(()),
            Err(Failure::Retry(reason)) if message.receive_count < self.max_receives => {
                Err(HandleError::Retry(reason))
            }
            Err(Failure::Retry(reason)) => {
                let reason = format!(
                    "listing failed after {} attempts: {reason}",
                    message.receive_count
                );
                self.fail(list.execution_id, &reason).await
            }
            Err(Failure::Fail(reason)) => self.fail(list.execution_id, &reason).await,
        }
    }

    /// Lists the piece (from where an earlier invocation stopped, if one did) a window of tags
    /// at a time, writing each window's tasks as it goes; out of time, the rest of the piece
    /// goes to another invocation.
    async fn run(&self, m: &ListMessage, stop_at: Option<Instant>) -> Result<(), Failure> {
        let piece = m.start_after.clone().unwrap_or_default();
        let execution = match self.store.get_execution(m.execution_id).await {
            Ok(e) => e,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(Failure::Retry(e.to_string())),
        };
        if execution.status.is_final() {
            return Ok(());
        }
        let mut cx = self.context(m.policy_id).await?;
        cx.dry_run = execution.dry_run;
        // The first piece's first delivery, before anything is listed or written. A redelivery
        // after tasks were written (the first delivery got past the handlers, then died) does
        // not ask them again; one before that does: at least once, as SQS delivers.
        // A plan prepares nothing: its handlers would.
        if m.start_after.is_none() && m.resume.is_none() && execution.total == 0 && !cx.dry_run {
            let literal = cx
                .selection
                .literal_name()
                .map(|name| cx.source.canonical_name(name));
            let preparation = Preparation {
                policy: &cx.policy,
                selection: &cx.selection,
                execution_id: m.execution_id,
                trigger: execution.trigger,
                event: m.event.as_ref(),
                literal: literal.as_deref(),
            };
            call_handlers(cx.destination.as_ref(), &preparation).await?;
        }
        // An event names its repository; a literal name needs no catalog either: the one
        // repository it names, in the first piece.
        let (repositories, next) = match (&m.event, cx.selection.literal_name()) {
            (Some(event), _) => (vec![event.repository.clone()], None),
            (None, Some(name)) if m.start_after.is_none() => {
                (vec![cx.source.canonical_name(name)], None)
            }
            (None, Some(_)) => (Vec::new(), None),
            (None, None) => cx
                .source
                .repositories(
                    self.page_size,
                    m.start_after.as_deref(),
                    cx.selection.namespace(),
                )
                .await
                .map_err(|e| Failure::from(e).context("listing the source failed"))?,
        };
        // The next piece is opened by the piece's first invocation, not by its continuations.
        if let (Some(next), None) = (&next, &m.resume) {
            self.store.open_listing(m.execution_id, next).await?;
            let more = ListMessage {
                correlation_id: m.correlation_id.clone(),
                execution_id: m.execution_id,
                policy_id: m.policy_id,
                start_after: Some(next.clone()),
                event: None,
                resume: None,
            };
            self.queue.send_list(&[more]).await?;
        }
        let resume_at = m.resume.as_ref().map(|r| r.repository.as_str());
        // A literal name matches as the user wrote it, whatever the source calls it.
        let literal = cx
            .selection
            .literal_name()
            .map(|name| cx.source.canonical_name(name));
        let wanted: Vec<&String> = repositories
            .iter()
            .filter(|r| cx.selection.repository(r) || literal.as_deref() == Some(r.as_str()))
            .filter(|r| resume_at.is_none_or(|at| r.as_str() >= at))
            .collect();
        let mut written = Written::default();
        for (index, name) in wanted.iter().enumerate() {
            let repository = Repository::parse(name)
                .map_err(|e| Failure::Fail(format!("the source lists {e}")))?;
            let mut after = m
                .resume
                .as_ref()
                .filter(|r| r.repository == **name)
                .and_then(|r| r.after_tag.clone());
            let deletion = m.event.as_ref().is_some_and(|e| e.deleted);
            let newest = match cx.selection.newest() {
                Some(count) if !deletion => Some(self.newest_of(&cx, &repository, count).await?),
                _ => None,
            };
            loop {
                let window = TagWindow {
                    after: after.as_deref(),
                    limit: MAX_TASKS_PER_BATCH,
                };
                let (found, next_tag) = self
                    .window(&cx, &repository, window, m.event.as_ref(), newest.as_ref())
                    .await?;
                let on = metrics::On::Policy(m.policy_id);
                metrics::count(metrics::LISTING_SIZE, on, found.len() as u64);
                let batch = format!("{piece}|{name}|{}", after.as_deref().unwrap_or_default());
                self.gather(&cx, m, batch, found, &mut written).await?;
                let Some(tag) = next_tag else {
                    break;
                };
                after = Some(tag);
                if out_of_time(stop_at) {
                    self.flush(&cx, m, &mut written).await?;
                    return self.continue_later(m, name, after, &written).await;
                }
            }
            if let Some(following) = wanted.get(index + 1).filter(|_| out_of_time(stop_at)) {
                self.flush(&cx, m, &mut written).await?;
                return self.continue_later(m, following, None, &written).await;
            }
        }
        self.flush(&cx, m, &mut written).await?;
        tracing::info!(
            repositories = wanted.len(),
            artifacts = written.artifacts,
            unchanged = written.unchanged,
            more = next.is_some(),
            "listed"
        );
        self.store.close_listing(m.execution_id, &piece).await?;
        self.prune_when_listed(&cx, m).await?;
        let (store, queue) = (self.store.as_ref(), self.queue.as_ref());
        if super::notify::finish_announced(store, queue, m.execution_id)
            .await?
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

    /// Hands the rest of the piece, from `repository` after `after_tag`, to another invocation.
    async fn continue_later(
        &self,
        m: &ListMessage,
        repository: &str,
        after_tag: Option<String>,
        written: &Written,
    ) -> Result<(), Failure> {
        tracing::info!(
            repository,
            after_tag = after_tag.as_deref().unwrap_or_default(),
            artifacts = written.artifacts,
            "out of time: the piece goes on in another invocation"
        );
        let rest = ListMessage {
            correlation_id: m.correlation_id.clone(),
            resume: Some(ListResume {
                repository: repository.to_string(),
                after_tag,
            }),
            ..m.clone()
        };
        self.queue.send_list(&[rest]).await?;
        Ok(())
    }

    /// One window of a repository's artifacts (for a deletion event: the one it names), and
    /// the tag the next window starts after.
    async fn window(
        &self,
        cx: &Context,
        repository: &Repository,
        window: TagWindow<'_>,
        event: Option<&ArtifactEvent>,
        newest: Option<&HashSet<String>>,
    ) -> Result<(Vec<Found>, Option<String>), Failure> {
        let destination = cx
            .policy
            .destination_of(repository.as_str())
            .map_err(Failure::Fail)?;
        if let Some(deleted) = event.filter(|e| e.deleted) {
            let found = deleted_within_filters(cx, repository, &destination, deleted).await?;
            return Ok((found, None));
        }
        if let Some(pinned) = event.and_then(|e| Digest::parse(&e.reference).ok()) {
            // An artifact named by its digest alone (a pull through Ferry's endpoint): within
            // the filters only when none judges a tag, a kind or labels.
            let found = cx.selection.selects_digests().then(|| Found {
                src_digest: Some(pinned.clone()),
                resource: Resource {
                    resource_type: ResourceType::IMAGE,
                    src: ArtifactLocation {
                        registry_id: cx.policy.src_registry_id(),
                        repository: repository.to_string(),
                        reference: pinned.to_string(),
                    },
                    dst: ArtifactLocation {
                        registry_id: cx.policy.dest_registry_id(),
                        repository: destination.to_string(),
                        reference: pinned.to_string(),
                    },
                },
            });
            return Ok((found.into_iter().collect(), None));
        }
        let only = event.map(|e| e.reference.as_str());
        let keep = |tag: &str| {
            cx.selection.tag(tag)
                && only.is_none_or(|only| only == tag)
                && newest.is_none_or(|newest| newest.contains(tag))
        };
        let wanted = self.wanted(cx, false);
        let page = cx
            .source
            .artifacts(repository, window, &keep, wanted)
            .await
            .map_err(|e| {
                Failure::from(e).context(format!("listing artifacts of {repository} failed"))
            })?;
        let found = page
            .artifacts
            .into_iter()
            .filter(|a| cx.selection.artifact(&a.resource_type, &a.labels))
            .map(|artifact| Found {
                // Referrers under tags may be new though the artifact is not: copy to see.
                src_digest: artifact.digest.filter(|_| !artifact.referrer_tags),
                resource: Resource {
                    resource_type: artifact.resource_type,
                    src: ArtifactLocation {
                        registry_id: cx.policy.src_registry_id(),
                        repository: repository.to_string(),
                        reference: artifact.tag.clone(),
                    },
                    dst: ArtifactLocation {
                        registry_id: cx.policy.dest_registry_id(),
                        repository: destination.to_string(),
                        reference: artifact.tag,
                    },
                },
            })
            .collect();
        Ok((found, page.next))
    }

    /// What the filters need of each artifact beyond its tag and digest.
    fn wanted(&self, cx: &Context, created: bool) -> Wanted<'_> {
        Wanted {
            kind: cx.selection.needs_kind(),
            labels: cx.selection.needs_labels(),
            created,
            types: Some(self.types.as_ref()),
        }
    }

    /// The newest `count` tags of a repository among those the other filters select (the
    /// newest filter applies after them).
    async fn newest_of(
        &self,
        cx: &Context,
        repository: &Repository,
        count: usize,
    ) -> Result<HashSet<String>, Failure> {
        Ok(newest_tags(self.candidates(cx, repository).await?, count))
    }

    /// Every tag of a repository the policy's filters select, the newest filter included.
    pub(super) async fn selected_of(
        &self,
        cx: &Context,
        repository: &Repository,
    ) -> Result<HashSet<String>, Failure> {
        let candidates = self.candidates(cx, repository).await?;
        Ok(match cx.selection.newest() {
            Some(count) => newest_tags(candidates, count),
            None => candidates.into_iter().map(|(tag, _)| tag).collect(),
        })
    }

    /// The tags the filters before the newest one select, with their creation times when the
    /// newest filter needs them: the whole repository, a window at a time.
    async fn candidates(
        &self,
        cx: &Context,
        repository: &Repository,
    ) -> Result<Vec<(String, Option<time::OffsetDateTime>)>, Failure> {
        let keep = |tag: &str| cx.selection.tag(tag);
        let wanted = self.wanted(cx, cx.selection.newest().is_some());
        let mut candidates = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let window = TagWindow {
                after: after.as_deref(),
                limit: MAX_TASKS_PER_BATCH,
            };
            let page = cx
                .source
                .artifacts(repository, window, &keep, wanted)
                .await
                .map_err(|e| {
                    Failure::from(e).context(format!("listing artifacts of {repository} failed"))
                })?;
            candidates.extend(
                page.artifacts
                    .into_iter()
                    .filter(|a| cx.selection.artifact(&a.resource_type, &a.labels))
                    .map(|a| (a.tag, a.created)),
            );
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(candidates)
    }

    /// Adds one window's artifacts to the batch, writing the batch first when they would
    /// not fit in it.
    async fn gather(
        &self,
        cx: &Context,
        m: &ListMessage,
        key: String,
        found: Vec<Found>,
        written: &mut Written,
    ) -> Result<(), Failure> {
        if written.batch.len() + found.len() > MAX_TASKS_PER_BATCH {
            self.flush(cx, m, written).await?;
        }
        if written.batch.is_empty() {
            written.batch_key = key;
        }
        written.batch.extend(found);
        Ok(())
    }

    /// Writes the batch gathered so far, if any.
    async fn flush(
        &self,
        cx: &Context,
        m: &ListMessage,
        written: &mut Written,
    ) -> Result<(), Failure> {
        if written.batch.is_empty() {
            return Ok(());
        }
        let (found, key) = (
            std::mem::take(&mut written.batch),
            std::mem::take(&mut written.batch_key),
        );
        self.write(cx, m, &key, found, written).await
    }

    /// Writes one batch's tasks: what the destination holds already ends at once, the
    /// destination's namespaces are made first, the rest gets transfer messages.
    async fn write(
        &self,
        cx: &Context,
        m: &ListMessage,
        batch: &str,
        found: Vec<Found>,
        written: &mut Written,
    ) -> Result<(), Failure> {
        let deletion = m.event.as_ref().is_some_and(|e| e.deleted);
        let held = if deletion || !cx.compare_digests {
            HashMap::new()
        } else {
            let platforms =
                (!cx.policy.platforms.is_empty()).then(|| platforms_key(&cx.policy.platforms));
            let filtered = platforms.as_deref().map(|key| (self.store.as_ref(), key));
            held(cx.destination.as_ref(), &found, filtered).await
        };
        let unchanged = held.values().filter(|h| matches!(h, Held::Same(_))).count();
        // What ends at the listing: the unchanged, or in a plan every task, saying what it
        // would come to.
        let ended: HashMap<String, (TaskStatus, String)> = if cx.dry_run {
            found
                .iter()
                .map(|f| {
                    let dst = f.resource.dst.display();
                    let text = planned(held.get(&dst), cx.policy.override_, deletion);
                    (dst, (TaskStatus::Succeed, text))
                })
                .collect()
        } else {
            held.into_iter()
                .filter_map(|(dst, h)| match h {
                    Held::Same(digest) => Some((
                        dst,
                        (
                            TaskStatus::Succeed,
                            format!("skipped: unchanged, the destination has {digest}"),
                        ),
                    )),
                    _ => None,
                })
                .collect()
        };
        let resources: Vec<Resource> = found.into_iter().map(|f| f.resource).collect();
        if !deletion && !cx.policy.bypass_namespace_management && !cx.dry_run {
            let visibility = Visibility::of_public(cx.policy.target_project_public);
            self.prepare(
                &cx.destination_registry,
                &resources,
                visibility,
                &mut written.prepared,
            )
            .await?;
        }
        let operation = if deletion {
            Operation::Deletion
        } else {
            Operation::Copy
        };
        let tasks = TaskBatch {
            execution_id: m.execution_id,
            piece: batch,
            operation,
        };
        fan_out(
            self.store.as_ref(),
            self.queue.as_ref(),
            tasks,
            &cx.policy,
            &resources,
            &ended,
        )
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?;
        written.artifacts += resources.len();
        written.unchanged += unchanged;
        Ok(())
    }

    /// The policy, its filters compiled, the source's adapter and a client of the destination.
    async fn context(&self, policy_id: i64) -> Result<Context, Failure> {
        let policy = self
            .store
            .get_policy(policy_id)
            .await
            .map_err(|e| missing_or(e, format!("policy {policy_id} no longer exists")))?;
        let selection = Selection::of(&policy.filters).map_err(|e| Failure::Fail(e.to_string()))?;
        let source = self.registry(policy.src_registry_id(), "source").await?;
        let destination_registry = self
            .registry(policy.dest_registry_id(), "destination")
            .await?;
        let destination = self
            .connect
            .client(&destination_registry)
            .map_err(|e| Failure::Fail(e.to_string()))?;
        let charts_from_charts = source.kind == destination_registry.kind;
        Ok(Context {
            compare_digests: destination.charts().is_none() || charts_from_charts,
            dry_run: false,
            destination,
            source: self
                .connect
                .source(&source)
                .map_err(|e| Failure::Fail(e.to_string()))?,
            destination_registry,
            policy,
            selection,
        })
    }

    async fn registry(&self, id: i64, side: &str) -> Result<Registry, Failure> {
        self.store
            .get_registry_with_secret(id)
            .await
            .map_err(|e| missing_or(e, format!("{side} registry {id} does not exist")))
    }

    /// Creates the namespaces the destination kind needs (Harbor's projects: the first
    /// component of each repository), with the policy's visibility, before any of their tasks
    /// is written, so a destination that refuses fails the execution at once with the reason,
    /// not every task. `prepared` holds the ones made already in this invocation. A policy
    /// that bypasses namespace management never gets here.
    async fn prepare(
        &self,
        registry: &Registry,
        resources: &[Resource],
        visibility: Visibility,
        prepared: &mut BTreeSet<String>,
    ) -> Result<(), Failure> {
        let Some(namespaces) = self
            .connect
            .namespaces(registry)
            .map_err(|e| Failure::Fail(e.to_string()))?
        else {
            return Ok(());
        };
        if let Some(reason) = resources
            .iter()
            .find_map(|r| namespaces.refuse_name(&r.dst.repository))
        {
            return Err(Failure::Fail(format!(
                "preparing the destination failed: {reason}"
            )));
        }
        let projects: BTreeSet<String> = resources
            .iter()
            .filter_map(|r| namespaces.namespace_of(&r.dst.repository))
            .filter(|project| !prepared.contains(project))
            .collect();
        for project in projects {
            match namespaces.ensure(&project, visibility).await {
                Ok(true) => tracing::info!(project, "destination namespace created"),
                Ok(false) => {}
                Err(e) => {
                    return Err(Failure::from(e).context(format!(
                        "preparing the destination failed: namespace {project:?}"
                    )))
                }
            }
            prepared.insert(project);
        }
        Ok(())
    }

    /// Ends the execution Failed with the reason, unless it ended already; nothing is retried.
    async fn fail(&self, execution_id: i64, reason: &str) -> Result<(), HandleError> {
        tracing::warn!(reason, "execution failed while listing");
        let (store, queue) = (self.store.as_ref(), self.queue.as_ref());
        match super::notify::end_announced(
            store,
            queue,
            execution_id,
            ExecutionStatus::Failed,
            reason,
        )
        .await
        {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A record that is gone fails the execution with `gone`; anything else may heal.
fn missing_or(e: StoreError, gone: String) -> Failure {
    match e {
        StoreError::NotFound { .. } => Failure::Fail(gone),
        other => Failure::from(other),
    }
}

/// A deletion at the source, as a deletion at the destination, only within the policy's
/// filters: a tag that passes them; a digest (CNCF distribution's delete events name no tag)
/// when a destination tag names it and every destination tag on it passes them, so an index's
/// child or a referrer, reached by bare digest, is never deleted. Labels and kinds of a deleted artifact cannot
/// be read any more, so a policy filtering on them replicates no deletion: never beyond.
async fn deleted_within_filters(
    cx: &Context,
    repository: &Repository,
    destination: &Repository,
    event: &ArtifactEvent,
) -> Result<Vec<Found>, Failure> {
    if cx.selection.needs_labels() || cx.selection.needs_kind() {
        return Ok(Vec::new());
    }
    let within = match Reference::parse(&event.reference) {
        Ok(Reference::Digest(digest)) => tagged_within_filters(cx, destination, &digest)
            .await
            .map_err(|e| {
                Failure::from(e).context(format!("reading {destination} at the destination failed"))
            })?,
        Ok(Reference::Tag(tag)) => cx.selection.tag(tag.as_str()),
        Err(_) => false,
    };
    if !within {
        return Ok(Vec::new());
    }
    Ok(vec![Found {
        src_digest: None,
        resource: Resource {
            resource_type: ResourceType::IMAGE,
            src: ArtifactLocation {
                registry_id: cx.policy.src_registry_id(),
                repository: repository.to_string(),
                reference: event.reference.clone(),
            },
            dst: ArtifactLocation {
                registry_id: cx.policy.dest_registry_id(),
                repository: destination.to_string(),
                reference: event.reference.clone(),
            },
        },
    }])
}

/// Whether some tag names `digest` at the destination and every tag that does passes the tag
/// filters (a tag that is not a valid name cannot be asked about: then not).
async fn tagged_within_filters(
    cx: &Context,
    destination: &Repository,
    digest: &Digest,
) -> Result<bool, crate::ports::registry::RegistryError> {
    let mut tagged = false;
    for listed in cx.destination.list_tags(destination).await? {
        let Ok(tag) = Tag::parse(&listed) else {
            return Ok(false);
        };
        let held = cx
            .destination
            .head_manifest(destination, &Reference::Tag(tag))
            .await?;
        if held.is_some_and(|(d, _)| &d == digest) {
            if !cx.selection.tag(&listed) {
                return Ok(false);
            }
            tagged = true;
        }
    }
    Ok(tagged)
}

/// What the destination holds of each artifact that has a source digest, by destination: each
/// costs one HEAD there (the source's digest came with the listing). With platforms, the digest
/// of the index Ferry made of the source's counts as the same (`filtered`: where it was
/// recorded, and the platforms' key). An answer that is no clear answer is left out: the
/// artifact goes to its transfer, which reports what went wrong.
async fn held(
    destination: &dyn RegistryClient,
    found: &[Found],
    filtered: Option<(&dyn Store, &str)>,
) -> HashMap<String, Held> {
    futures::stream::iter(found.iter().filter_map(|f| {
        let dst = &f.resource.dst;
        Some((
            f.src_digest.as_ref()?,
            dst,
            dst.repository().ok()?,
            dst.reference().ok()?,
        ))
    }))
    .map(|(src_digest, dst, repository, reference)| async move {
        let held = match destination.head_manifest(&repository, &reference).await {
            Ok(None) => Held::Absent,
            Ok(Some((digest, _))) if &digest == src_digest => Held::Same(digest),
            Ok(Some((digest, _))) => match filtered {
                Some((store, platforms))
                    if store.filtered_index(src_digest, platforms).await.as_ref()
                        == Some(&digest) =>
                {
                    Held::Same(digest)
                }
                _ => Held::Other(digest),
            },
            Err(_) => return None,
        };
        Some((dst.display(), held))
    })
    .buffer_unordered(UNCHANGED_PARALLELISM)
    .filter_map(|held| async move { held })
    .collect()
    .await
}
