//! A fleet of images as platform teams have them, generated deterministically: repositories
//! `fleet/team<k>/svc<i>` with a few tags each, every image on the same three base layers
//! (2, 3 and 4 MiB), a 1 MiB layer per repository and a small layer per tag; optionally one
//! big image. Its size comes from the environment, so CI runs a reduced one and `make load`
//! the full one.

use futures::StreamExt;

use crate::images::{layer, RegistryHttp};

/// How large a fleet, and how many times a test runs it.
#[derive(Debug, Clone, Copy)]
pub struct FleetSize {
    pub repositories: usize,
    pub tags: usize,
    /// MiB of the one big image's layer; 0 for none.
    pub big_mib: usize,
    pub runs: usize,
}

impl FleetSize {
    /// `FERRY_FLEET_REPOSITORIES`, `FERRY_FLEET_TAGS`, `FERRY_FLEET_BIG_MIB`, `FERRY_FLEET_RUNS`,
    /// else the reduced size CI runs.
    pub fn from_env() -> Self {
        let var = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Self {
            repositories: var("FERRY_FLEET_REPOSITORIES", 12),
            tags: var("FERRY_FLEET_TAGS", 3),
            big_mib: var("FERRY_FLEET_BIG_MIB", 0),
            runs: var("FERRY_FLEET_RUNS", 2),
        }
    }
}

/// One image of the fleet: where it is and its manifest digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub repository: String,
    pub tag: String,
    pub digest: String,
}

/// The base layers every image shares.
fn base_layers() -> Vec<Vec<u8>> {
    [2, 3, 4]
        .iter()
        .enumerate()
        .map(|(i, mib)| layer(1000 + i as u64, mib * 1024 * 1024))
        .collect()
}

/// Pushes the fleet to a registry; its images.
pub async fn push_fleet(registry: &RegistryHttp, size: FleetSize) -> Vec<Image> {
    let base = base_layers();
    // Repositories at once, the tags of one repository one after another: distribution itself
    // stumbles over the same blob uploaded into one repository twice at once.
    let mut images: Vec<Image> = futures::stream::iter(0..size.repositories)
        .map(|i| {
            let base = base.clone();
            async move {
                let repository = format!("fleet/team{}/svc{i}", i % 4);
                let mut pushed = Vec::new();
                for t in 0..size.tags {
                    let mut layers = base.clone();
                    layers.push(layer(2000 + i as u64, 1024 * 1024));
                    layers.push(layer(3000 + (i * 100 + t) as u64, 10 * 1024));
                    let tag = format!("1.{t}.0");
                    let digest = registry.push_image(&repository, &tag, &layers).await;
                    pushed.push(Image {
                        repository: repository.clone(),
                        tag,
                        digest,
                    });
                }
                pushed
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<Vec<Image>>>()
        .await
        .into_iter()
        .flatten()
        .collect();
    if size.big_mib > 0 {
        let big = layer(4000, size.big_mib * 1024 * 1024);
        let digest = registry.push_image("fleet/big", "1.0.0", &[big]).await;
        images.push(Image {
            repository: "fleet/big".into(),
            tag: "1.0.0".into(),
            digest,
        });
    }
    images.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
    images
}

/// The images whose digest at `registry` is not the fleet's: none when the copy is whole.
pub async fn differences(registry: &RegistryHttp, images: &[Image]) -> Vec<String> {
    let mut wrong = Vec::new();
    for image in images {
        let held = registry
            .manifest_digest(&image.repository, &image.tag)
            .await;
        if held.as_deref() != Some(image.digest.as_str()) {
            wrong.push(format!(
                "{}:{} is {held:?}, not {}",
                image.repository, image.tag, image.digest
            ));
        }
    }
    wrong
}
