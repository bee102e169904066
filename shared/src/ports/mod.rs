//! One trait per external boundary. Each has one real implementation under `crate::aws` or
//! `crate::registry`; the domain code depends only on these traits.

pub mod logs;
pub mod queue;
pub mod registry;
pub mod schedules;
pub mod secrets;
pub mod store;

pub use logs::{LogError, TaskLogSink};
pub use queue::{MessageQueue, QueueError};
pub use secrets::{SecretCipher, SecretError};
pub use store::{
    ExecutionStore, NewTask, Page, PolicyStore, RegistryStore, Store, StoreError, TaskStore,
    TaskTransition,
};
