//! Registries, per kind: one folder each, over one transport (`transport`, with `auth`). The
//! distribution API is what every kind speaks for blobs and manifests; a kind adds its own API
//! where it lists, authenticates or prepares namespaces differently (Harbor's projects).
//!
//! [`Registries`] is the real [`Connect`]: it picks the adapters for a registry's kind.

mod auth;
pub mod distribution;
mod egress;
pub mod harbor;
mod transport;

use std::sync::Arc;

use crate::model::addresses::AddressPolicy;
use crate::model::{Registry, RegistryType};
use crate::ports::connect::Connect;
use crate::ports::registry::{Namespaces, RegistryClient, RegistryError};
use crate::ports::source::SourceAdapter;

use distribution::{DistributionSource, HttpRegistryClient};
use harbor::HarborProjects;

/// Registries of every kind Ferry supports, with `retries` of each request that may heal
/// (workers retry more than the API, whose caller is waiting).
pub struct Registries {
    pub retries: usize,
    /// Where the clients may connect.
    pub addresses: AddressPolicy,
}

impl Connect for Registries {
    fn client(&self, registry: &Registry) -> Result<Box<dyn RegistryClient>, RegistryError> {
        Ok(Box::new(
            HttpRegistryClient::new(registry, self.addresses)?.with_max_retries(self.retries),
        ))
    }

    fn source(&self, registry: &Registry) -> Result<Box<dyn SourceAdapter>, RegistryError> {
        Ok(Box::new(DistributionSource {
            client: Arc::from(self.client(registry)?),
        }))
    }

    fn namespaces(
        &self,
        registry: &Registry,
    ) -> Result<Option<Box<dyn Namespaces>>, RegistryError> {
        match registry.kind {
            Some(RegistryType::Harbor) => Ok(Some(Box::new(
                HarborProjects::new(registry, self.addresses)?.with_max_retries(self.retries),
            ))),
            _ => Ok(None),
        }
    }
}
