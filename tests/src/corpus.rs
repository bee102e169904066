//! The corpus every registry kind replicates in the tests, as a source and as a destination:
//! two images sharing a layer, one signed with a cosign signature; a multi-arch index; a Helm
//! chart. [`Corpus::arrived`] checks that every manifest arrived byte-exact and every blob with it.

use crate::images::{layer, RegistryHttp};

/// What was pushed: (repository, tag, manifest digest), the signature's tag included.
pub struct Corpus {
    pub items: Vec<(String, String, String)>,
}

impl Corpus {
    /// Pushes the corpus under `namespace` (`<namespace>/app`, `<namespace>/multi`,
    /// `<namespace>/chart`), with layers made from `seed`.
    pub async fn push(http: &RegistryHttp, namespace: &str, seed: u64) -> Self {
        let app = format!("{namespace}/app");
        let multi = format!("{namespace}/multi");
        let chart = format!("{namespace}/chart");
        let base = layer(seed, 40_000);
        let mut items = Vec::new();
        let v1 = http
            .push_image(&app, "v1", &[base.clone(), layer(seed + 1, 3_000)])
            .await;
        let v2 = http
            .push_image(&app, "v2", &[base, layer(seed + 2, 3_000)])
            .await;
        let signature = http.push_cosign_signature(&app, &v1).await;
        let signature_tag = format!("sha256-{}.sig", v1.trim_start_matches("sha256:"));
        items.push((app.clone(), "v1".to_string(), v1));
        items.push((app.clone(), "v2".to_string(), v2));
        items.push((app, signature_tag, signature));
        let index = http
            .push_index(&multi, "1.0", &["amd64", "arm64"], seed + 10)
            .await;
        items.push((multi.clone(), "1.0".to_string(), index));
        for arch in ["amd64", "arm64"] {
            let tag = format!("child-{arch}");
            let digest = http.manifest_digest(&multi, &tag).await.expect("child");
            items.push((multi.clone(), tag, digest));
        }
        let chart_digest = http.push_chart(&chart, "0.1.0", seed + 20).await;
        items.push((chart, "0.1.0".to_string(), chart_digest));
        Self { items }
    }

    /// The same corpus under other repository names (as a renaming policy left it).
    pub fn renamed(&self, rename: impl Fn(&str) -> String) -> Self {
        Self {
            items: self
                .items
                .iter()
                .map(|(r, t, d)| (rename(r), t.clone(), d.clone()))
                .collect(),
        }
    }

    /// The items whose repository `keep` accepts.
    pub fn only(&self, keep: impl Fn(&str, &str) -> bool) -> Vec<&(String, String, String)> {
        self.items.iter().filter(|(r, t, _)| keep(r, t)).collect()
    }

    /// Checks that `destination` holds every item (its repository renamed by `rename`) byte-exact,
    /// with every blob the manifests reference; the first difference, if any.
    pub async fn arrived(
        &self,
        source: &RegistryHttp,
        destination: &RegistryHttp,
        rename: impl Fn(&str) -> String,
    ) -> Result<(), String> {
        for (repository, tag, digest) in &self.items {
            let at = rename(repository);
            let Some(bytes) = destination.manifest(&at, tag).await else {
                return Err(format!("{at}:{tag} is missing"));
            };
            let original = source.manifest(repository, tag).await.unwrap_or_default();
            if bytes != original || crate::images::digest_of(&bytes) != *digest {
                return Err(format!("{at}:{tag} differs from {repository}:{tag}"));
            }
            let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let blobs = manifest["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(std::iter::once(&manifest["config"]))
                .filter_map(|d| d["digest"].as_str());
            for blob in blobs {
                let arrived = destination.blob(&at, blob).await;
                if arrived.is_none() || arrived != source.blob(repository, blob).await {
                    return Err(format!("{at}: blob {blob} missing or different"));
                }
            }
        }
        Ok(())
    }
}
