//! How the workers reach a registry of any kind.

use super::registry::{Namespaces, RegistryClient, RegistryError};
use super::source::SourceAdapter;
use crate::model::Registry;

/// Reaches a registry of any kind (its secret already decrypted): the distribution client,
/// the source adapter that lists it, and the namespaces it needs made as a destination. The
/// wiring gives the real one, per registry kind; tests give fakes.
pub trait Connect: Send + Sync {
    fn client(&self, registry: &Registry) -> Result<Box<dyn RegistryClient>, RegistryError>;
    fn source(&self, registry: &Registry) -> Result<Box<dyn SourceAdapter>, RegistryError>;
    /// None for kinds with no namespaces to make.
    fn namespaces(&self, registry: &Registry)
        -> Result<Option<Box<dyn Namespaces>>, RegistryError>;
}
