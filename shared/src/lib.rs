//! Ferry's library: the replication domain, the ports to the outside world and their real
//! implementations. It never sees Lambda event types; the functions map events to these calls.

pub mod api;
pub mod aws;
pub mod config;
pub mod messages;
pub mod model;
pub mod ports;
pub mod registry;
pub mod replication;
pub mod telemetry;
