//! Talking to registries: the HTTP client of the distribution API and the copy logic above it.

pub mod copy;
pub mod delete;
pub mod harbor;
pub mod http;
pub mod media;
pub mod pool;
