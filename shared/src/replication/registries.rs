//! A registry's lifecycle: it is stored (created or changed) only once it is valid, of a kind
//! Ferry can talk to, and answers the distribution API with its credential.

use std::time::{Duration, Instant};

use crate::model::{
    Registry, RegistryHealth, RegistryStatus, RegistryType, RegistryUpdate, ValidationError,
};
use crate::ports::connect::Connect;
use crate::ports::deadline;
use crate::ports::store::{RegistryStore, StoreError};

pub use crate::model::kinds::SUPPORTED as SUPPORTED_TYPES;

/// Why a registry was not stored; each names the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum RegistryRefused {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("type: {0}")]
    Unsupported(String),
    #[error("url: {0}")]
    Unhealthy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn check_supported(registry: &Registry) -> Result<(), RegistryRefused> {
    match registry.kind {
        Some(kind) if SUPPORTED_TYPES.contains(&kind) => Ok(()),
        Some(kind) => Err(RegistryRefused::Unsupported(format!(
            "{} is not supported by Ferry yet; supported: {}",
            kind.as_str(),
            SUPPORTED_TYPES.map(RegistryType::as_str).join(", ")
        ))),
        None => Err(ValidationError::new("type", "is required").into()),
    }
}

/// How long a registry's health check may take: its caller is waiting.
#[derive(Debug, Clone, Copy)]
pub struct CheckLimit(pub Duration);

impl Default for CheckLimit {
    fn default() -> Self {
        Self(Duration::from_secs(10))
    }
}

/// Valid, supported, and answering the `/v2/` API with its credential within `limit`.
pub async fn check_registry(
    connect: &dyn Connect,
    registry: &Registry,
    limit: CheckLimit,
) -> Result<(), RegistryRefused> {
    registry.validate()?;
    check_supported(registry)?;
    if let Some(kind) = registry.kind {
        crate::model::kinds::validate_for_kind(kind, registry)?;
    }
    let client = connect
        .client(registry)
        .map_err(|e| RegistryRefused::Unhealthy(e.to_string()))?;
    let until = Instant::now() + limit.0;
    let checked = deadline::within(Some(until), tokio::time::timeout(limit.0, client.check()))
        .await
        .map_err(|_| {
            RegistryRefused::Unhealthy(format!(
                "the registry at {} did not answer within {:?}",
                registry.url, limit.0
            ))
        })?;
    checked.map_err(|e| {
        // A request cut by the limit is the limit's doing, whatever the error says.
        if Instant::now() + Duration::from_millis(200) >= until {
            RegistryRefused::Unhealthy(format!(
                "the registry at {} did not answer within {:?}: {e}",
                registry.url, limit.0
            ))
        } else {
            RegistryRefused::Unhealthy(format!(
                "the registry at {} is unhealthy: {e}",
                registry.url
            ))
        }
    })
}

/// Stores a registry that passed [`check_registry`], marked healthy.
pub async fn create_registry(
    store: &dyn RegistryStore,
    connect: &dyn Connect,
    limit: CheckLimit,
    mut registry: Registry,
) -> Result<Registry, RegistryRefused> {
    check_registry(connect, &registry, limit).await?;
    registry.status = RegistryStatus::Healthy;
    registry.health = Some(RegistryHealth::answered());
    Ok(store.create_registry(&registry).await?)
}

/// Applies Harbor's `RegistryUpdate` once the registry it makes passes [`check_registry`].
pub async fn update_registry(
    store: &dyn RegistryStore,
    connect: &dyn Connect,
    limit: CheckLimit,
    id: i64,
    update: &RegistryUpdate,
) -> Result<Registry, RegistryRefused> {
    let mut effective = store.get_registry_with_secret(id).await?;
    update.apply(&mut effective);
    check_registry(connect, &effective, limit).await?;
    Ok(store
        .update_registry(id, &|registry: &mut Registry| {
            update.apply(registry);
            registry.status = RegistryStatus::Healthy;
            registry.health = Some(RegistryHealth::answered());
            registry.validate()
        })
        .await?)
}

/// Checks a registry as it would be with `update` (an existing one by `id`, with its stored
/// secret, or one described in full), without storing anything.
pub async fn ping_registry(
    store: &dyn RegistryStore,
    connect: &dyn Connect,
    limit: CheckLimit,
    id: Option<i64>,
    kind: Option<RegistryType>,
    update: &RegistryUpdate,
) -> Result<(), RegistryRefused> {
    let mut registry = match id.filter(|id| *id != 0) {
        Some(id) => store.get_registry_with_secret(id).await?,
        None => Registry {
            name: "ping".into(),
            ..Registry::default()
        },
    };
    if kind.is_some() {
        registry.kind = kind;
    }
    update.apply(&mut registry);
    check_registry(connect, &registry, limit).await
}
