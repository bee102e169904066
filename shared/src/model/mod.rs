//! The replication domain with Harbor's v2.0 names: registries, policies and their filters,
//! executions and tasks with the rules of their lifecycle, and how destination names are made.

pub mod addresses;
pub mod artifact_types;
pub mod auto_sync;
pub mod execution;
pub mod filters;
pub mod handler;
pub mod kinds;
pub mod login;
pub mod naming;
pub mod newest;
pub mod notification;
pub mod plan;
pub mod policy;
pub mod prune;
pub mod registry;
pub mod resource;
pub mod robot;
pub mod scope;
pub mod task;
pub mod time_format;
pub mod transfer;
pub mod validation;
pub mod versions;

pub use auto_sync::AutoSync;
pub use execution::{EndedTasks, Execution, ExecutionStatus, Reaping, Silence};
pub use filters::{Decoration, Filter, FilterType, Selection};
pub use handler::ReplicationHandler;
pub use policy::{ReplicationPolicy, Trigger, TriggerSettings, TriggerType};
pub use registry::{
    Credential, CredentialType, Registry, RegistryBudget, RegistryHealth, RegistryOptions,
    RegistryStatus, RegistryType, RegistryUpdate, SECRET_MASK,
};
pub use resource::{ArtifactLocation, Resource, ResourceType, TypeNameError};
pub use scope::PolicyScope;
pub use task::{
    EndCounter, InlineLog, Operation, Take, Task, TaskChange, TaskLease, TaskStatus,
    TransitionError,
};
pub use transfer::{Checkpoint, CopyOptions, TransferFigures};
pub use validation::ValidationError;

#[cfg(test)]
mod tests;
