//! What each registry kind Ferry supports is, as Harbor's `adapterinfos` and `registries/{id}/info`
//! describe it (endpoints, credentials, filters, triggers), the rules a registry of the kind must
//! meet beyond the common ones, and where its endpoints are.

use serde_json::{json, Value};

use super::registry::{CredentialType, Registry, RegistryType, SECRET_MASK};
use super::validation::{Validated, ValidationError};

/// The registry kinds Ferry can read and write; others are refused at creation rather than
/// accepted and failing later.
pub const SUPPORTED: [RegistryType; 11] = [
    RegistryType::DockerRegistry,
    RegistryType::Harbor,
    RegistryType::DockerHub,
    RegistryType::AwsEcr,
    RegistryType::GithubGhcr,
    RegistryType::GoogleGcr,
    RegistryType::AzureAcr,
    RegistryType::Quay,
    RegistryType::Gitlab,
    RegistryType::JfrogArtifactory,
    RegistryType::Dtr,
];

pub fn is_supported(kind: RegistryType) -> bool {
    SUPPORTED.contains(&kind)
}

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

/// Requests per second a process sends `registry` at most: its own setting, else its kind's
/// default (Docker Hub and GitHub meter their APIs per account), else none.
pub fn request_budget(registry: &Registry) -> Option<u32> {
    registry
        .options
        .requests_per_second
        .or(match registry.kind {
            Some(RegistryType::DockerHub) => Some(10),
            Some(RegistryType::GithubGhcr) => Some(20),
            _ => None,
        })
}

/// The rules a registry of `kind` meets beyond the common ones, naming the field at fault.
pub fn validate_for_kind(kind: RegistryType, registry: &Registry) -> Validated {
    let credential = registry.credential.as_ref().filter(|c| !c.is_empty());
    match kind {
        RegistryType::AwsEcr
            if ecr_endpoint(&registry.url).is_none() && registry.options.region.is_none() =>
        {
            return Err(ValidationError::new(
                "options.region",
                "is required for an aws-ecr registry whose url is not \
                 https://<account>.dkr.ecr.<region>.amazonaws.com",
            ));
        }
        RegistryType::GoogleGcr => {
            let Some(credential) = credential else {
                return Err(ValidationError::new(
                    "credential",
                    "is required for google-gcr: access_key _json_key and the service \
                     account's JSON key as access_secret",
                ));
            };
            if credential.access_key != "_json_key" {
                return Err(ValidationError::new(
                    "credential.access_key",
                    "must be _json_key for google-gcr (the access_secret is the service \
                     account's JSON key)",
                ));
            }
            let secret = credential.access_secret.as_deref().unwrap_or_default();
            if secret != SECRET_MASK {
                let key: Value = serde_json::from_str(secret).map_err(|e| {
                    ValidationError::new(
                        "credential.access_secret",
                        format!("must be a service account JSON key: {e}"),
                    )
                })?;
                for field in ["client_email", "private_key"] {
                    if !key[field].is_string() {
                        return Err(ValidationError::new(
                            "credential.access_secret",
                            format!("the service account JSON key has no {field}"),
                        ));
                    }
                }
            }
        }
        RegistryType::AzureAcr
            if credential
                .is_some_and(|c| c.kind == CredentialType::OAuth && c.access_key.is_empty()) =>
        {
            return Err(ValidationError::new(
                "credential.access_key",
                "is the Azure AD tenant id with an oauth credential (the access_secret is \
                 an Azure AD access token)",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// The filters every supported kind offers (Ferry filters in the lister, whatever the kind).
fn filters() -> Value {
    json!([
        {"type": "name", "style": "input"},
        {"type": "tag", "style": "input"},
        {"type": "label", "style": "list"},
        {"type": "resource", "style": "radio", "values": ["image", "chart", "artifact"]},
    ])
}

/// What `registries/{id}/info` answers for a registry of `kind`.
pub fn registry_info(kind: RegistryType, description: &str) -> Value {
    let triggers = match kind {
        // Event-based: webhooks for these, EventBridge for ECR.
        RegistryType::DockerRegistry | RegistryType::Harbor | RegistryType::AwsEcr => {
            json!(["manual", "scheduled", "event_based"])
        }
        _ => json!(["manual", "scheduled"]),
    };
    json!({
        "type": kind.as_str(),
        "description": description,
        "supported_resource_filters": filters(),
        "supported_triggers": triggers,
        "supported_copy_by_chunk": true,
    })
}

/// What `adapterinfos` answers for `kind`: where its endpoints are and what its credential is.
pub fn provider_info(kind: RegistryType) -> Value {
    let standard = json!({"endpoint_type": "EndpointPatternTypeStandard"});
    let list = |endpoints: Vec<(String, String)>| {
        json!({
            "endpoint_type": "EndpointPatternTypeList",
            "endpoints": endpoints
                .into_iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect::<Vec<_>>(),
        })
    };
    let basic = json!({
        "access_key_type": "AccessKeyTypeStandard",
        "access_secret_type": "AccessSecretTypeStandard",
    });
    let (endpoint_pattern, credential_pattern) = match kind {
        RegistryType::DockerHub => (
            json!({"endpoint_type": "EndpointPatternTypeFix",
                   "endpoints": [{"key": "hub.docker.com", "value": DOCKER_HUB_API}]}),
            basic,
        ),
        RegistryType::GithubGhcr => (
            json!({"endpoint_type": "EndpointPatternTypeFix",
                   "endpoints": [{"key": "ghcr.io", "value": "https://ghcr.io"}]}),
            basic,
        ),
        RegistryType::AwsEcr => (
            list(
                AWS_REGIONS
                    .iter()
                    .map(|r| {
                        (
                            r.to_string(),
                            format!("https://<account>.dkr.ecr.{r}.amazonaws.com"),
                        )
                    })
                    .collect(),
            ),
            json!({"access_key_type": "AccessKeyTypeStandard",
                   "access_secret_type": "AccessSecretTypeStandard"}),
        ),
        RegistryType::GoogleGcr => (
            list(
                GCR_HOSTS
                    .iter()
                    .map(|h| (h.to_string(), format!("https://{h}")))
                    .chain(
                        GAR_LOCATIONS
                            .iter()
                            .map(|l| (l.to_string(), format!("https://{l}-docker.pkg.dev"))),
                    )
                    .collect(),
            ),
            json!({"access_key_type": "AccessKeyTypeFix", "access_key_data": "_json_key",
                   "access_secret_type": "AccessSecretTypeFile",
                   "access_secret_data": "the service account's JSON key"}),
        ),
        RegistryType::AzureAcr => (
            json!({"endpoint_type": "EndpointPatternTypeStandard",
                   "endpoints": [{"key": "azurecr.io", "value": "https://<name>.azurecr.io"}]}),
            basic,
        ),
        RegistryType::Quay => (
            json!({"endpoint_type": "EndpointPatternTypeStandard",
                   "endpoints": [{"key": "quay.io", "value": "https://quay.io"}]}),
            json!({"access_key_type": "AccessKeyTypeStandard",
                   "access_secret_type": "AccessSecretTypeStandard",
                   "access_secret_data": "the robot's token, or {\"docker_cli_password\": ..., \"oauth2_token\": ...}"}),
        ),
        RegistryType::Gitlab => (
            json!({"endpoint_type": "EndpointPatternTypeStandard",
                   "endpoints": [{"key": "registry.gitlab.com", "value": "https://registry.gitlab.com"}]}),
            basic,
        ),
        _ => (standard, basic),
    };
    json!({"endpoint_pattern": endpoint_pattern, "credential_pattern": credential_pattern})
}

const AWS_REGIONS: [&str; 17] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
    "me-south-1",
];
const GCR_HOSTS: [&str; 4] = ["gcr.io", "us.gcr.io", "eu.gcr.io", "asia.gcr.io"];
const GAR_LOCATIONS: [&str; 10] = [
    "us",
    "europe",
    "asia",
    "us-central1",
    "us-east1",
    "us-west1",
    "europe-west1",
    "europe-west4",
    "asia-east1",
    "asia-northeast1",
];

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
    fn kinds_say_what_they_need() {
        let mut ecr = Registry {
            name: "ecr".into(),
            kind: Some(RegistryType::AwsEcr),
            url: "http://127.0.0.1:5000".into(),
            ..Registry::default()
        };
        let rules = |r: &Registry| validate_for_kind(r.kind.expect("a kind"), r);
        let e = rules(&ecr).expect_err("no region");
        assert_eq!(e.field, "options.region");
        ecr.options.region = Some("us-east-1".into());
        rules(&ecr).expect("a region");

        let mut gcr = Registry {
            name: "gcr".into(),
            kind: Some(RegistryType::GoogleGcr),
            url: "https://gcr.io".into(),
            ..Registry::default()
        };
        assert_eq!(rules(&gcr).expect_err("no key").field, "credential");
        gcr.credential = Some(crate::model::Credential {
            kind: CredentialType::Basic,
            access_key: "_json_key".into(),
            access_secret: Some("not json".into()),
        });
        assert_eq!(
            rules(&gcr).expect_err("bad key").field,
            "credential.access_secret"
        );
        gcr.credential = Some(crate::model::Credential {
            kind: CredentialType::Basic,
            access_key: "_json_key".into(),
            access_secret: Some(r#"{"client_email":"a@b","private_key":"k"}"#.into()),
        });
        rules(&gcr).expect("a key");
    }
}
