//! Ferry's local event plane: what AWS does around the functions, done on one machine against
//! the emulator. It reads infra/template.yaml, creates the stack's resources, runs or reaches
//! the functions, delivers SQS messages to them as event source mappings do, routes HTTP to the
//! API function as API Gateway does, and fires the policies' schedules.

pub mod event_source;
pub mod gateway;
pub mod invoke;
pub mod plane;
pub mod scheduler;
pub mod stack;
pub mod template;

pub use plane::{FunctionsFrom, Plane, PlaneConfig};
