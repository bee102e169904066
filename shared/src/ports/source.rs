//! What the lister asks of a source registry, behind one trait because registries list
//! differently: CNCF distribution has `_catalog` and `tags/list` and nothing about an artifact
//! but its manifest; Harbor lists artifacts with their tags, types and labels in one call;
//! ECR has `DescribeRepositories` and `DescribeImages`. Each kind answers the same questions.

use async_trait::async_trait;

use super::registry::RegistryError;
use crate::model::artifact_types::ArtifactTypes;
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
    /// When the image was created (its config's `created`, an annotation, or the source's
    /// push time), when [`Wanted::created`] was asked for and the source knows.
    pub created: Option<time::OffsetDateTime>,
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
pub struct Wanted<'a> {
    pub kind: bool,
    pub labels: bool,
    /// The creation time, for the newest filter.
    pub created: bool,
    /// The types kinds are told by; None: the built-in ones.
    pub types: Option<&'a ArtifactTypes>,
}

static BUILT_IN_TYPES: ArtifactTypes = ArtifactTypes::built_in();

impl Wanted<'_> {
    pub fn types(&self) -> &ArtifactTypes {
        self.types.unwrap_or(&BUILT_IN_TYPES)
    }
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
        wanted: Wanted<'_>,
    ) -> Result<ArtifactPage, RegistryError>;
}

/// `names` after `after`, in order, at most `page_size` of them, and the name the next page
/// starts after: for kinds whose APIs list everything at once.
pub fn names_page(
    mut names: Vec<String>,
    after: Option<&str>,
    page_size: usize,
) -> (Vec<String>, Option<String>) {
    names.retain(|n| after.is_none_or(|a| n.as_str() > a));
    names.sort();
    names.dedup();
    let limit = page_size.max(1);
    let next = (names.len() > limit).then(|| names[limit - 1].clone());
    names.truncate(limit);
    (names, next)
}

/// One window of `listed`: those after `window.after`, in tag order, at most `window.limit`.
pub fn artifacts_window(mut listed: Vec<ListedArtifact>, window: TagWindow<'_>) -> ArtifactPage {
    listed.retain(|a| window.after.is_none_or(|after| a.tag.as_str() > after));
    listed.sort_by(|a, b| a.tag.cmp(&b.tag));
    let limit = window.limit.max(1);
    let next = (listed.len() > limit).then(|| listed[limit - 1].tag.clone());
    listed.truncate(limit);
    ArtifactPage {
        artifacts: listed,
        next,
    }
}

/// Tags and their digests, as an API lists them, as one window of artifacts: the tags that only
/// carry referrers (`sha256-<hex>.sig` and the like) left out, marking the artifacts they refer
/// to; those `keep` accepts; the window's.
pub fn tagged_window(
    tagged: Vec<(String, Option<Digest>)>,
    keep: &(dyn for<'t> Fn(&'t str) -> bool + Send + Sync),
    window: TagWindow<'_>,
) -> ArtifactPage {
    let mut listed = tagged_artifacts(tagged);
    listed.retain(|a| keep(&a.tag));
    artifacts_window(listed, window)
}

fn tagged_artifacts(tagged: Vec<(String, Option<Digest>)>) -> Vec<ListedArtifact> {
    use crate::oci::referrers::{is_referrer_tag, referred_hex};
    let referred: std::collections::HashSet<String> = tagged
        .iter()
        .filter(|(tag, _)| is_referrer_tag(tag))
        .filter_map(|(tag, _)| referred_hex(tag).map(str::to_string))
        .collect();
    tagged
        .into_iter()
        .filter(|(tag, _)| !is_referrer_tag(tag))
        .map(|(tag, digest)| ListedArtifact {
            created: None,
            referrer_tags: digest
                .as_ref()
                .is_some_and(|d| d.algorithm() == "sha256" && referred.contains(d.encoded())),
            tag,
            digest,
            resource_type: ResourceType::IMAGE,
            labels: Vec::new(),
        })
        .collect()
}
