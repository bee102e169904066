//! Google Artifact Registry and Container Registry. The credential is a service account's JSON
//! key: sent as is (`_json_key` Basic) with a `basic` credential, or, with an `oauth` one, used
//! to mint short-lived OAuth access tokens (`oauth2accesstoken` Basic), refreshed before they
//! expire (https://cloud.google.com/artifact-registry/docs/docker/authentication). Listing is
//! `_catalog` and `tags/list`. At a GAR destination, the Artifact Registry repository
//! (`<project>/<repository>/...`) must exist: Ferry creates it when the key may, and says what
//! to create when it may not.

mod namespaces;
mod oauth;

pub use namespaces::GarRepositories;
pub use oauth::{GoogleLogin, GoogleOAuth};
