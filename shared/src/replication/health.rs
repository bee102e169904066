//! The registry health monitor. On a schedule (the trigger function's, every few minutes) each
//! registry is checked as a create or a test connection checks it, and what was found is
//! recorded: `status` healthy or unhealthy, with the reason and the time (Harbor's registry
//! list shows the same). An unhealthy destination then fails its policies' new executions at
//! once with that reason (see `start`), instead of task by task.

use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;

use super::registries::{check_registry, CheckLimit, RegistryRefused};
use crate::model::{Registry, RegistryHealth, RegistryStatus};
use crate::ports::connect::Connect;
use crate::ports::store::{Store, StoreError};
use crate::telemetry::metrics::{self, On};

/// Registries checked at once.
const AT_ONCE: usize = 8;
/// Registries read per page of the listing.
const PAGE: i32 = 100;

pub struct HealthMonitor {
    pub store: Arc<dyn Store>,
    pub connect: Arc<dyn Connect>,
    pub limit: CheckLimit,
}

/// What one round found.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct HealthRound {
    pub healthy: usize,
    pub unhealthy: usize,
    /// Registries whose status this round changed.
    pub changed: usize,
    /// Registries not checked or not recorded, for an error (logged); the next round tries again.
    pub errors: usize,
}

enum Checked {
    Recorded { healthy: bool, changed: bool },
    Gone,
}

impl HealthMonitor {
    /// Checks every registry once.
    pub async fn check_all(&self) -> Result<HealthRound, StoreError> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.store.list_registries(cursor.as_deref(), PAGE).await?;
            ids.extend(page.items.iter().map(|r| r.id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let checks: Vec<_> = futures::stream::iter(ids)
            .map(|id| async move { (id, self.check_one(id).await) })
            .buffer_unordered(AT_ONCE)
            .collect()
            .await;
        let mut round = HealthRound::default();
        for (id, checked) in checks {
            match checked {
                Ok(Checked::Recorded { healthy, changed }) => {
                    if healthy {
                        round.healthy += 1;
                    } else {
                        round.unhealthy += 1;
                    }
                    round.changed += usize::from(changed);
                }
                Ok(Checked::Gone) => {}
                Err(e) => {
                    tracing::warn!(registry_id = id, error = %e, "registry health not recorded");
                    round.errors += 1;
                }
            }
        }
        tracing::info!(?round, "registry health checked");
        Ok(round)
    }

    async fn check_one(&self, id: i64) -> Result<Checked, StoreError> {
        let registry = match self.store.get_registry_with_secret(id).await {
            Ok(registry) => registry,
            Err(StoreError::NotFound { .. }) => return Ok(Checked::Gone),
            Err(e) => return Err(e),
        };
        let (status, health) = match self.check(&registry).await {
            Ok(()) => (RegistryStatus::Healthy, RegistryHealth::answered()),
            Err(reason) => (RegistryStatus::Unhealthy, RegistryHealth::failed(reason)),
        };
        let healthy = status == RegistryStatus::Healthy;
        let name = registry.host().unwrap_or_else(|| registry.name.clone());
        metrics::observe(
            metrics::REGISTRY_HEALTHY,
            On::Registry(name),
            f64::from(u8::from(healthy)),
        );
        let changed = registry.status != status;
        if changed {
            tracing::warn!(
                registry_id = id,
                registry = %registry.name,
                from = ?registry.status,
                to = ?status,
                reason = health.reason.as_deref().unwrap_or_default(),
                "registry health changed"
            );
        }
        match self.store.record_health(id, status, &health).await {
            Ok(()) => Ok(Checked::Recorded { healthy, changed }),
            Err(StoreError::NotFound { .. }) => Ok(Checked::Gone),
            Err(e) => Err(e),
        }
    }

    /// The reason a registry is unhealthy, if it is.
    async fn check(&self, registry: &Registry) -> Result<(), String> {
        match check_registry(self.connect.as_ref(), registry, self.limit).await {
            Ok(()) => Ok(()),
            Err(RegistryRefused::Unhealthy(reason)) => Err(reason),
            // Stored once valid; a registry that no longer validates (a kind this build
            // dropped) cannot be reached either.
            Err(other) => Err(other.to_string()),
        }
    }
}
