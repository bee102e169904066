//! Harbor: read and written through the distribution API like any registry; as a destination,
//! its projects are made first, through Harbor's own API.

mod projects;

pub use projects::HarborProjects;
