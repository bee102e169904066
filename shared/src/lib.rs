//! Ferry's library: the replication domain, the ports to the outside world and their real
//! implementations. It never sees Lambda event types; the functions map events to these calls.
//!
//! From the ground up (arrows point down only):
//! - `oci`: the OCI vocabulary (validated names, media types, manifests, referrers);
//! - `model`: the domain, with Harbor's names and the rules of the task/execution lifecycle;
//! - `messages`: what the stages send each other;
//! - `ports`: the traits of every outside boundary (and in-memory fakes for unit tests);
//! - `copy`: the copy engine, over the registry port;
//! - `replication`: the use cases;
//! - `adapters`: the ports' real implementations (AWS services, registry kinds);
//! - `api`: the HTTP API over plain `http` types;
//! - `wiring`: settings from the environment and everything built from them.

pub mod adapters;
pub mod api;
pub mod copy;
pub mod messages;
pub mod model;
pub mod oci;
pub mod ports;
pub mod replication;
pub mod telemetry;
pub mod wiring;

#[cfg(test)]
mod layers;
