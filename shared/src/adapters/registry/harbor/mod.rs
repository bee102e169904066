//! Harbor: blobs and manifests through the distribution API like any registry; listed through
//! Harbor's own API (robot accounts may not read `_catalog`; the API gives types, labels and
//! accessories); as a destination, its projects are made first, through that API.

mod projects;
mod source;

pub use projects::HarborProjects;
pub use source::HarborSource;
