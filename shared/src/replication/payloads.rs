//! The webhook bodies registries send, as far as Ferry reads them: CNCF distribution's
//! notification envelope and Harbor's webhook payload. Pushes and deletes
//! (`super::events`) and pulls (`super::pull::events`) are read from the same shapes.

use serde::Deserialize;

#[derive(Deserialize)]
pub(crate) struct Envelope {
    pub events: Vec<DistributionEvent>,
}

#[derive(Deserialize)]
pub(crate) struct DistributionEvent {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub timestamp: String,
    pub action: String,
    pub target: Target,
    #[serde(default)]
    pub request: Requester,
}

/// Who made the request the event is about.
#[derive(Deserialize, Default)]
pub(crate) struct Requester {
    #[serde(default)]
    pub useragent: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Target {
    #[serde(default)]
    pub media_type: String,
    #[serde(default)]
    pub digest: String,
    pub repository: String,
    #[serde(default)]
    pub tag: String,
}

#[derive(Deserialize)]
pub(crate) struct HarborPayload {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub occur_at: i64,
    pub event_data: HarborData,
}

#[derive(Deserialize)]
pub(crate) struct HarborData {
    #[serde(default)]
    pub resources: Vec<HarborResource>,
    pub repository: HarborRepository,
}

#[derive(Deserialize)]
pub(crate) struct HarborResource {
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub tag: String,
}

#[derive(Deserialize)]
pub(crate) struct HarborRepository {
    pub repo_full_name: String,
}
