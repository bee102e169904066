//! What the lister asks of a source registry, behind one trait because registries list
//! differently: CNCF distribution has `_catalog` and `tags/list` and nothing about an artifact
//! but its manifest; Harbor lists artifacts with their tags, types and labels in one call;
//! ECR has `DescribeRepositories` and `DescribeImages`. Each kind answers the same questions.

use async_trait::async_trait;

use super::registry::RegistryError;
use crate::model::ResourceType;
use crate::oci::{Digest, Repository};

/// One tagged artifact of a repository, as far as the lister needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedArtifact {
    /// As the source sent it: validated when it is used.
    pub tag: String,
    /// None when the tag is not a valid name, so it could not be looked at: its task fails,
    /// saying so.
    pub digest: Option<Digest>,
    /// Known when [`Wanted::kind`] was asked for; otherwise `Image`.
    pub resource_type: ResourceType,
    /// The artifact's labels when [`Wanted::labels`] was asked for.
    pub labels: Vec<String>,
    /// Referrers of it live under tags (cosign's `.sig` and the like): they may have changed
    /// though the artifact did not.
    pub referrer_tags: bool,
}

/// A window of a repository's tags, in tag order: those after `after`, at most `limit` of them.
#[derive(Debug, Clone, Copy)]
pub struct TagWindow<'a> {
    pub after: Option<&'a str>,
    pub limit: usize,
}

/// The artifacts of one window, and the tag the next window starts after (None: the last).
#[derive(Debug, Clone, Default)]
pub struct ArtifactPage {
    pub artifacts: Vec<ListedArtifact>,
    pub next: Option<String>,
}

/// What the policy's filters need beyond tag and digest; each costs requests on some kinds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanted {
    pub kind: bool,
    pub labels: bool,
}

#[async_trait]
pub trait SourceAdapter: Send + Sync {
    /// Up to `page_size` repositories after `after`, and where the next page starts; names as
    /// the source sent them. `within` is the namespace the policy's name filter fixes (its
    /// first path component, when that has no wildcard): kinds that list per namespace (Docker
    /// Hub, GitHub) need one; the others may list less with it.
    async fn repositories(
        &self,
        page_size: usize,
        after: Option<&str>,
        within: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError>;
    /// The name the source knows a repository by, for a name the user wrote (Docker Hub's
    /// official images: `nginx` is `library/nginx`).
    fn canonical_name(&self, name: &str) -> String {
        name.to_string()
    }
    /// The tagged artifacts of `repository` whose tag `keep` accepts, in tag order, one window
    /// of them (none when the repository does not exist), so a repository of many tags is
    /// listed a window at a time. Tags that only carry referrers of another artifact (cosign's
    /// `sha256-<hex>.sig` and the like) are left out: they follow their subject.
    async fn artifacts(
        &self,
        repository: &Repository,
        window: TagWindow<'_>,
        keep: &(dyn for<'t> Fn(&'t str) -> bool + Send + Sync),
        wanted: Wanted,
    ) -> Result<ArtifactPage, RegistryError>;
}
