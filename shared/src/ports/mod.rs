//! One trait per external boundary: the store, the queues, task logs, secrets, schedules,
//! notifications (webhook policies, the webhook sender, the event bus), budgets shared by all
//! processes,
//! and registries (the distribution API, source listing, namespaces, blob locations). The real
//! implementations are under `crate::adapters`; `fakes` holds in-memory ones for unit tests of
//! the use cases. Nothing here imports an adapter.

pub mod access;
pub mod budget;
pub mod connect;
pub mod deadline;
pub mod logs;
pub mod notify;
pub mod processor;
pub mod queue;
pub mod registry;
pub mod schedules;
pub mod secrets;
pub mod source;
pub mod store;

#[cfg(test)]
pub mod fakes;

pub use connect::Connect;
pub use logs::{LogError, TaskLogSink};
pub use queue::{MessageQueue, QueueError, Redeliveries};
pub use registry::{BlobLocations, Namespaces, RegistryClient, RegistryError};
pub use schedules::{PolicySchedules, ScheduleError};
pub use secrets::{SecretCipher, SecretError};
pub use source::{ArtifactPage, ListedArtifact, SourceAdapter, TagWindow, Wanted};
pub use store::{
    collect_pages, ExecutionStore, Launch, NewTask, Page, PolicyStore, RegistryStore,
    RunningExecution, Store, StoreError, TaskStore, TaskTransition,
};
