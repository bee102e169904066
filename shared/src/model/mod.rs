//! The replication domain with Harbor's v2.0 names: registries, policies, executions, tasks.

pub mod execution;
pub mod policy;
pub mod registry;
pub mod resource;
pub mod task;
pub mod time_format;
pub mod validation;

pub use execution::{Execution, ExecutionStatus};
pub use policy::{
    Decoration, Filter, FilterType, ReplicationPolicy, Trigger, TriggerSettings, TriggerType,
};
pub use registry::{
    Credential, CredentialType, Registry, RegistryStatus, RegistryType, SECRET_MASK,
};
pub use resource::{ArtifactLocation, Resource};
pub use task::{Operation, ResourceType, Task, TaskStatus, TransferFigures};
pub use validation::ValidationError;

#[cfg(test)]
mod tests;
