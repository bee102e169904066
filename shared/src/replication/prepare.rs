//! Calling a policy's `prepare_replication` handlers before an execution writes any task
//! (seed 000): each with the destination registry's own credential and the seed's body. A 2xx
//! lets the execution go on; an abort code ends it Failed with the handler's answer; any other
//! answer (or none) is asked again, then fails it, saying so. Nothing is listed or copied
//! before every handler has let it go on.

use std::time::Duration;

use bytes::Bytes;

use super::Failure;
use crate::messages::ArtifactEvent;
use crate::model::handler::{PrepareReplication, ReplicationHandler, Verdict, HANDLER_ATTEMPTS};
use crate::model::{ReplicationPolicy, Selection, TriggerType};
use crate::ports::registry::RegistryClient;

/// The wait before the second attempt; doubled before each one after.
const FIRST_WAIT: Duration = Duration::from_millis(500);

/// What the execution is about: the policy, how it started, and what it is known to concern.
pub struct Preparation<'a> {
    pub policy: &'a ReplicationPolicy,
    pub selection: &'a Selection,
    pub execution_id: i64,
    pub trigger: TriggerType,
    pub event: Option<&'a ArtifactEvent>,
    /// The source's name for the policy's literal name filter, if it has one.
    pub literal: Option<&'a str>,
}

impl Preparation<'_> {
    fn body(&self) -> Result<PrepareReplication, Failure> {
        let repositories: Vec<String> = match (self.event, self.literal) {
            (Some(event), _) => vec![event.repository.clone()],
            (None, Some(name)) => vec![name.to_string()],
            (None, None) => Vec::new(),
        };
        let namespace = self.selection.namespace().map(str::to_string).or_else(|| {
            repositories
                .first()
                .and_then(|r| r.split_once('/'))
                .map(|(first, _)| first.to_string())
        });
        PrepareReplication::of(
            self.policy,
            self.execution_id,
            self.trigger,
            namespace.as_deref(),
            &repositories,
        )
        .map_err(|reason| Failure::Fail(format!("preparing the replication failed: {reason}")))
    }
}

/// Calls every handler of the policy in order; the first that does not let the execution go on
/// fails it with the reason.
pub async fn call_handlers(
    destination: &dyn RegistryClient,
    preparation: &Preparation<'_>,
) -> Result<(), Failure> {
    let handlers = &preparation.policy.handlers;
    if handlers.is_empty() {
        return Ok(());
    }
    let body = preparation.body()?;
    let body = Bytes::from(serde_json::to_vec(&body).map_err(|e| {
        Failure::Fail(format!(
            "the prepare_replication body could not be written: {e}"
        ))
    })?);
    for handler in handlers {
        call_one(destination, handler, body.clone()).await?;
    }
    Ok(())
}

async fn call_one(
    destination: &dyn RegistryClient,
    handler: &ReplicationHandler,
    body: Bytes,
) -> Result<(), Failure> {
    let url = &handler.handler_url;
    let mut wait = FIRST_WAIT;
    let mut last = String::new();
    for attempt in 1..=HANDLER_ATTEMPTS {
        match destination.call_handler(url, body.clone()).await {
            Ok(answer) => match handler.verdict(answer.status) {
                Verdict::Proceed => {
                    tracing::info!(
                        handler = handler.id,
                        url,
                        status = answer.status,
                        "prepare_replication handler lets the replication go on"
                    );
                    return Ok(());
                }
                Verdict::Abort => {
                    return Err(Failure::Fail(format!(
                        "the prepare_replication handler {url} of {} aborted the replication: it answered {} (an abort code): {}",
                        destination.name(),
                        answer.status,
                        answer.body.trim()
                    )))
                }
                Verdict::TryAgain => {
                    last = format!("answered {}: {}", answer.status, answer.body.trim());
                }
            },
            // A handler off the destination's origin, or a refused address, is no better asked again.
            Err(e @ crate::ports::registry::RegistryError::Invalid { .. }) => {
                return Err(Failure::Fail(format!(
                    "the prepare_replication handler {url} could not be called: {e}"
                )))
            }
            Err(e) => last = format!("could not be reached: {e}"),
        }
        tracing::warn!(handler = handler.id, url, attempt, reason = %last, "prepare_replication handler");
        if attempt < HANDLER_ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    Err(Failure::Fail(format!(
        "the prepare_replication handler {url} of {} {last} (after {HANDLER_ATTEMPTS} attempts; neither a 2xx nor one of its abort codes {:?}), so the replication did not start",
        destination.name(),
        handler.abort_code
    )))
}
