//! The copy (or deletion) a task stands for, set up from its message: names validated,
//! registries connected, the job given the worker's pool, the stop check and the deadline.

use std::sync::Arc;
use std::time::Instant;

use super::TransferWorker;
use crate::copy::delete::delete_artifact;
use crate::copy::{copy_artifact, CopyError, CopyJob, CopyOutcome};
use crate::messages::TransferMessage;
use crate::model::Operation;
use crate::oci::{NameError, Platform};
use crate::ports::registry::RegistryClient;
use crate::replication::Failure;

impl TransferWorker {
    /// The copy (or deletion) of the task's artifact: Err for what kept it from starting (a
    /// registry gone, a name that is not valid), Ok with what the copy itself came to.
    pub(super) async fn copy(
        &self,
        m: &TransferMessage,
        log: &mut Vec<String>,
        stop_at: Option<Instant>,
    ) -> Result<Result<CopyOutcome, CopyError>, Failure> {
        let invalid = |e: NameError| Failure::Fail(format!("the task names {e}"));
        let (src, dst) = (&m.resource.src, &m.resource.dst);
        let dst_repository = dst.repository().map_err(invalid)?;
        let dst_reference = dst.reference().map_err(invalid)?;
        let (store, recent) = (self.store.as_ref(), &self.recent);
        let dst_registry = recent.registry(store, dst.registry_id).await?;
        let dst_client = self.registries.client(&dst_registry)?;
        if m.operation == Operation::Deletion {
            return Ok(
                delete_artifact(dst_client.as_ref(), &dst_repository, &dst_reference, log).await,
            );
        }
        let src_repository = src.repository().map_err(invalid)?;
        let src_reference = src.reference().map_err(invalid)?;
        let platforms = m
            .platforms
            .iter()
            .map(|p| Platform::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| Failure::Fail(format!("the task's platforms: {reason}")))?;
        // Each registry read once: its client and its blob slots (budgets) come from it.
        let src_registry = recent.registry(store, src.registry_id).await?;
        let src_client = self.registries.client(&src_registry)?;
        let slots = self.registries.blob_slots(&src_registry, &dst_registry);
        let (store, recent) = (Arc::clone(&self.store), Arc::clone(&self.recent));
        let execution_id = m.execution_id;
        let stop = move || -> futures::future::BoxFuture<'static, bool> {
            let (store, recent) = (Arc::clone(&store), Arc::clone(&recent));
            Box::pin(async move { recent.stopped(store.as_ref(), execution_id).await })
        };
        let job = CopyJob {
            stop: Some(&stop),
            locations: Some(self.locations.as_ref()),
            slots: Some(&slots),
            dst_registry_id: dst.registry_id,
            same_registry: src.registry_id == dst.registry_id,
            deadline: stop_at,
            resume: m.checkpoint.as_ref(),
            platforms: &platforms,
            src: src_client.as_ref(),
            src_repository: &src_repository,
            src_reference: &src_reference,
            dst: dst_client.as_ref(),
            dst_repository: &dst_repository,
            dst_reference: &dst_reference,
            options: m.options,
        };
        Ok(copy_artifact(&job, log).await)
    }

    pub(super) async fn client(
        &self,
        registry_id: i64,
    ) -> Result<Arc<dyn RegistryClient>, Failure> {
        let registry = self
            .recent
            .registry(self.store.as_ref(), registry_id)
            .await?;
        Ok(self.registries.client(&registry)?)
    }
}
