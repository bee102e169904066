//! Where each kind's endpoints are: what a registry URL says of its cloud (account, region,
//! instance), and the API hosts that go with it. For the kinds whose API may live with the
//! registry (Docker Hub's, GitHub's, Google's), a URL that is none of the provider's own is a
//! stand-in serving both at one origin (a mirror, or a test's fake); the Chinese clouds' APIs
//! are always elsewhere ([`cloud_api`]).

use crate::model::{Registry, RegistryType};

/// Docker Hub's API host and its registry's: a registry given as either (or `docker.io`) is
/// Docker Hub itself; any other URL serves both (a mirror of Hub's API, or a test's fake).
pub const DOCKER_HUB_API: &str = "https://hub.docker.com";
pub const DOCKER_HUB_REGISTRY: &str = "https://registry-1.docker.io";
const DOCKER_HUB_HOSTS: [&str; 4] = [
    "hub.docker.com",
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
];
/// GitHub's REST API, for ghcr.io; any other URL serves both.
pub const GITHUB_API: &str = "https://api.github.com";
/// Google's Artifact Registry API, for `*-docker.pkg.dev` and `*gcr.io`; any other URL serves both.
pub const ARTIFACT_REGISTRY_API: &str = "https://artifactregistry.googleapis.com";

fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .host_str()
        .map(|h| h.to_ascii_lowercase())
}

/// Whether `url` is Docker Hub's own (not a stand-in serving Hub's API and registry at one origin).
pub fn is_docker_hub(url: &str) -> bool {
    host_of(url).is_some_and(|h| DOCKER_HUB_HOSTS.contains(&h.as_str()))
}

/// `(account, region)` of an ECR registry URL `https://<account>.dkr.ecr.<region>.amazonaws.com`.
pub fn ecr_endpoint(url: &str) -> Option<(String, String)> {
    let host = host_of(url)?;
    let mut parts = host.split('.');
    let account = parts.next()?;
    let (dkr, ecr, region) = (parts.next()?, parts.next()?, parts.next()?);
    let rest: Vec<&str> = parts.collect();
    let aws = rest == ["amazonaws", "com"] || rest == ["amazonaws", "com", "cn"];
    let valid = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (dkr == "dkr" && ecr == "ecr" && aws && valid).then(|| (account.into(), region.into()))
}

/// The Artifact Registry location of a `<location>-docker.pkg.dev` URL.
pub fn gar_location(url: &str) -> Option<String> {
    host_of(url)?
        .strip_suffix("-docker.pkg.dev")
        .map(str::to_string)
}

/// Whether `url` is Google's own registry host (GAR or GCR).
pub fn is_google(url: &str) -> bool {
    host_of(url).is_some_and(|h| h.ends_with("-docker.pkg.dev") || h.ends_with("gcr.io"))
}

/// Whether `url` is ghcr.io.
pub fn is_ghcr(url: &str) -> bool {
    host_of(url).is_some_and(|h| h == "ghcr.io")
}

/// A cloud registry's API: its base URL and the region its calls are signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudApi {
    pub base: String,
    pub region: Option<String>,
}

/// The region of a Huawei SWR registry URL, `https://swr.<region>.myhuaweicloud.com`.
pub fn swr_region(url: &str) -> Option<String> {
    let host = host_of(url)?;
    let region = host
        .strip_prefix("swr.")?
        .strip_suffix(".myhuaweicloud.com")?;
    is_region(region).then(|| region.to_string())
}

/// Where an Alibaba Container Registry URL's edition lives: the region, and for the enterprise
/// edition the instance's name. Personal: `registry[-vpc|-internal].<region>.aliyuncs.com` (or
/// the newer `crpi-<id>.<region>.personal.cr.aliyuncs.com`); enterprise:
/// `<instance>-registry[-vpc].<region>.cr.aliyuncs.com`.
pub fn alibaba_endpoint(url: &str) -> Option<(String, Option<String>)> {
    let host = host_of(url)?;
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        [registry, region, "aliyuncs", "com"]
            if ["registry", "registry-vpc", "registry-internal"].contains(registry)
                && is_region(region) =>
        {
            Some((region.to_string(), None))
        }
        [_, region, "personal", "cr", "aliyuncs", "com"] if is_region(region) => {
            Some((region.to_string(), None))
        }
        [first, region, "cr", "aliyuncs", "com"] if is_region(region) => {
            let name = first
                .strip_suffix("-registry-vpc")
                .or_else(|| first.strip_suffix("-registry"))?;
            (!name.is_empty()).then(|| (region.to_string(), Some(name.to_string())))
        }
        _ => None,
    }
}

/// The instance name of a Tencent TCR URL, `https://<name>.tencentcloudcr.com`.
pub fn tcr_instance(url: &str) -> Option<String> {
    let host = host_of(url)?;
    let name = host.strip_suffix(".tencentcloudcr.com")?;
    (!name.is_empty() && !name.contains('.')).then(|| name.to_string())
}

/// The registry name and region of a Volcengine CR URL, `https://<registry>-<region>.cr.volces.com`
/// (or `.cr.ivolces.com` inside a VPC). The region is the first split whose rest is a region
/// (`cn-beijing`, `ap-southeast-1`), so a registry named `cn-beijing` in `cn-shanghai` reads right.
pub fn volcengine_endpoint(url: &str) -> Option<(String, String)> {
    let host = host_of(url)?;
    let first = host
        .strip_suffix(".cr.volces.com")
        .or_else(|| host.strip_suffix(".cr.ivolces.com"))?;
    first
        .match_indices('-')
        .map(|(at, _)| (&first[..at], &first[at + 1..]))
        .find(|(registry, region)| !registry.is_empty() && is_region(region))
        .map(|(registry, region)| (registry.to_string(), region.to_string()))
}

/// A region name as the Chinese clouds spell them: two letters, a word, and perhaps a number
/// (`cn-north-4`, `cn-hangzhou`, `ap-southeast-1`).
fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let letters = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [area, word] => area.len() == 2 && letters(area) && letters(word),
        [area, word, number] => area.len() == 2 && letters(area) && letters(word) && digits(number),
        _ => false,
    }
}

/// The signed cloud API of a registry of `kind` (huawei-SWR, ali-acr, tencent-tcr,
/// volcengine-cr): `options.api_url` where given, else the provider's own for the region (the
/// URL's, else `options.region`). These APIs never live on the registry's host, so a registry
/// on another host (a custom domain) still calls the provider's.
pub fn cloud_api(kind: RegistryType, registry: &Registry) -> CloudApi {
    let url = registry.url.as_str();
    let given = registry.options.region.clone();
    let (region, default) = match kind {
        RegistryType::HuaweiSwr => {
            let region = swr_region(url).or(given);
            let base = region
                .as_ref()
                .map(|r| format!("https://swr-api.{r}.myhuaweicloud.com"));
            (region, base)
        }
        RegistryType::AliAcr => {
            let region = alibaba_endpoint(url).map(|(r, _)| r).or(given);
            let base = region
                .as_ref()
                .map(|r| format!("https://cr.{r}.aliyuncs.com"));
            (region, base)
        }
        RegistryType::VolcengineCr => (
            volcengine_endpoint(url).map(|(_, r)| r).or(given),
            Some("https://open.volcengineapi.com".to_string()),
        ),
        // One host for every region; the region is the instance's, found through the API.
        _ => (given, Some("https://tcr.tencentcloudapi.com".to_string())),
    };
    CloudApi {
        base: registry
            .options
            .api_url
            .clone()
            .or(default)
            .unwrap_or_default(),
        region,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_read_from_urls() {
        assert_eq!(
            ecr_endpoint("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            Some(("123456789012".into(), "eu-west-1".into()))
        );
        assert_eq!(
            ecr_endpoint("https://12345.dkr.ecr.eu-west-1.amazonaws.com"),
            None
        );
        assert_eq!(ecr_endpoint("http://127.0.0.1:5000"), None);
        assert_eq!(
            gar_location("https://europe-west1-docker.pkg.dev"),
            Some("europe-west1".into())
        );
        assert!(is_docker_hub("https://hub.docker.com"));
        assert!(is_docker_hub("https://registry-1.docker.io/"));
        assert!(!is_docker_hub("http://127.0.0.1:5000"));
        assert!(is_google("https://gcr.io") && is_google("https://us-docker.pkg.dev"));
    }

    #[test]
    fn the_chinese_clouds_are_read_from_their_urls() {
        assert_eq!(
            swr_region("https://swr.cn-north-4.myhuaweicloud.com"),
            Some("cn-north-4".into())
        );
        assert_eq!(swr_region("https://swr.example.com"), None);
        assert_eq!(
            alibaba_endpoint("https://registry.cn-hangzhou.aliyuncs.com"),
            Some(("cn-hangzhou".into(), None))
        );
        assert_eq!(
            alibaba_endpoint("https://crpi-abc.cn-beijing.personal.cr.aliyuncs.com"),
            Some(("cn-beijing".into(), None))
        );
        assert_eq!(
            alibaba_endpoint("https://shanghai-instance1-registry.cn-shanghai.cr.aliyuncs.com"),
            Some(("cn-shanghai".into(), Some("shanghai-instance1".into())))
        );
        assert_eq!(
            alibaba_endpoint("https://ferry-registry-vpc.cn-hangzhou.cr.aliyuncs.com"),
            Some(("cn-hangzhou".into(), Some("ferry".into())))
        );
        assert_eq!(
            alibaba_endpoint("https://cr.cn-hangzhou.aliyuncs.com"),
            None
        );
        assert_eq!(
            tcr_instance("https://ferry-gz.tencentcloudcr.com"),
            Some("ferry-gz".into())
        );
        assert_eq!(tcr_instance("http://127.0.0.1:5000"), None);
        assert_eq!(
            volcengine_endpoint("https://enterprise-public-cn-beijing.cr.volces.com"),
            Some(("enterprise-public".into(), "cn-beijing".into()))
        );
        assert_eq!(
            volcengine_endpoint("https://cn-beijing-cn-shanghai.cr.volces.com"),
            Some(("cn-beijing".into(), "cn-shanghai".into()))
        );
        assert_eq!(
            volcengine_endpoint("https://ferry-ap-southeast-1.cr.volces.com"),
            Some(("ferry".into(), "ap-southeast-1".into()))
        );
        assert_eq!(volcengine_endpoint("https://ferry.cr.volces.com"), None);
        let registry = |kind, url: &str, api_url: Option<&str>| {
            let mut registry = Registry {
                kind: Some(kind),
                url: url.into(),
                ..Registry::default()
            };
            registry.options.api_url = api_url.map(str::to_string);
            cloud_api(kind, &registry)
        };
        let swr = registry(
            RegistryType::HuaweiSwr,
            "https://swr.cn-east-3.myhuaweicloud.com",
            None,
        );
        assert_eq!(swr.base, "https://swr-api.cn-east-3.myhuaweicloud.com");
        assert_eq!(swr.region.as_deref(), Some("cn-east-3"));
        let custom = registry(
            RegistryType::TencentTcr,
            "https://registry.example.com",
            None,
        );
        assert_eq!(
            custom.base, "https://tcr.tencentcloudapi.com",
            "never the registry's host"
        );
        let acr = registry(
            RegistryType::AliAcr,
            "https://ferry-registry.cn-shanghai.cr.aliyuncs.com",
            None,
        );
        assert_eq!(acr.base, "https://cr.cn-shanghai.aliyuncs.com");
        let stand_in = registry(
            RegistryType::VolcengineCr,
            "http://127.0.0.1:9000",
            Some("http://127.0.0.1:9001"),
        );
        assert_eq!(stand_in.base, "http://127.0.0.1:9001");
    }
}
