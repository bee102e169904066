//! Ferry's local event plane: what AWS does around the functions, done on one machine against
//! the emulator. It reads infra/template.yaml, creates the stack's resources, runs or reaches
//! the functions, delivers SQS messages to them as event source mappings do, routes HTTP to the
//! API function as API Gateway does, and fires the policies' schedules. Between the functions
//! and the emulator, it refuses the calls their IAM policies in the template do not allow.

pub mod event_source;
pub mod gateway;
pub mod iam;
pub mod iam_guard;
pub mod iam_request;
pub mod invoke;
pub mod metrics;
pub mod plane;
pub mod scheduler;
pub mod stack;
pub mod template;

pub use plane::{FunctionsFrom, IamGuardSetting, Plane, PlaneConfig};
