//! What each registry kind Ferry supports is, as Harbor's `adapterinfos` and `registries/{id}/info`
//! describe it (endpoints, credentials, filters, triggers), the rules a registry of the kind must
//! meet beyond the common ones, and where its endpoints are.

use serde_json::{json, Value};

use super::registry::{CredentialType, Registry, RegistryType, SECRET_MASK};
use super::validation::{Validated, ValidationError};

mod endpoints;
pub use endpoints::*;

/// The registry kinds Ferry can read and write; others are refused at creation rather than
/// accepted and failing later.
pub const SUPPORTED: [RegistryType; 16] = [
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
    RegistryType::HuaweiSwr,
    RegistryType::AliAcr,
    RegistryType::TencentTcr,
    RegistryType::VolcengineCr,
    RegistryType::HelmRepository,
];

pub fn is_supported(kind: RegistryType) -> bool {
    SUPPORTED.contains(&kind)
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
            // What Harbor's adapters keep to (REG_ADAPTER_TCR_QPS_LIMIT, REG_ADAPTER_ACR_QPS_LIMIT).
            Some(RegistryType::TencentTcr) => Some(10),
            Some(RegistryType::AliAcr) => Some(15),
            _ => None,
        })
}

/// The API key pair a signed cloud API needs, as the credential.
fn api_key_pair(kind: RegistryType, registry: &Registry, names: &str) -> Validated {
    let credential = registry.credential.as_ref();
    if credential.is_none_or(|c| c.access_key.is_empty()) {
        return Err(ValidationError::new(
            "credential.access_key",
            format!("is required for {}: the {names}", kind.as_str()),
        ));
    }
    if credential.is_none_or(|c| c.access_secret.as_deref().unwrap_or_default().is_empty()) {
        return Err(ValidationError::new(
            "credential.access_secret",
            format!("is required for {}: the {names}", kind.as_str()),
        ));
    }
    Ok(())
}

/// A region the URL does not say must be given.
fn region_unless(known: bool, kind: RegistryType, registry: &Registry, url: &str) -> Validated {
    if known || registry.options.region.is_some() {
        return Ok(());
    }
    Err(ValidationError::new(
        "options.region",
        format!(
            "is required for a {} registry whose url is not {url}",
            kind.as_str()
        ),
    ))
}

/// The rules of the Chinese clouds' kinds, whose APIs Ferry signs with an API key pair.
fn validate_cloud(kind: RegistryType, registry: &Registry) -> Validated {
    let url = registry.url.as_str();
    match kind {
        RegistryType::HuaweiSwr => {
            api_key_pair(kind, registry, "Access Key (AK) and Secret Key (SK)")?;
            if registry
                .credential
                .as_ref()
                .is_some_and(|c| c.access_key.contains('@'))
            {
                return Err(ValidationError::new(
                    "credential.access_key",
                    "is the AK of an AK/SK pair for huawei-SWR (Ferry signs SWR's API and \
                     mints the registry login); <region>@<AK> is a docker login, not an AK",
                ));
            }
            region_unless(
                endpoints::swr_region(url).is_some(),
                kind,
                registry,
                "https://swr.<region>.myhuaweicloud.com",
            )
        }
        RegistryType::AliAcr => {
            api_key_pair(kind, registry, "AccessKey ID and AccessKey secret")?;
            region_unless(
                endpoints::alibaba_endpoint(url).is_some(),
                kind,
                registry,
                "https://registry.<region>.aliyuncs.com or \
                 https://<instance>-registry.<region>.cr.aliyuncs.com",
            )
        }
        RegistryType::TencentTcr => api_key_pair(kind, registry, "SecretId and SecretKey"),
        RegistryType::VolcengineCr => {
            api_key_pair(kind, registry, "Access Key ID and Secret Access Key")?;
            let known = endpoints::volcengine_endpoint(url).is_some();
            if !known && registry.options.instance.is_none() {
                return Err(ValidationError::new(
                    "options.instance",
                    "is required for a volcengine-cr registry whose url is not \
                     https://<registry>-<region>.cr.volces.com: the registry's name",
                ));
            }
            region_unless(
                known,
                kind,
                registry,
                "https://<registry>-<region>.cr.volces.com",
            )
        }
        _ => Ok(()),
    }
}

/// The rules a registry of `kind` meets beyond the common ones, naming the field at fault.
pub fn validate_for_kind(kind: RegistryType, registry: &Registry) -> Validated {
    let credential = registry.credential.as_ref().filter(|c| !c.is_empty());
    match kind {
        RegistryType::HuaweiSwr
        | RegistryType::AliAcr
        | RegistryType::TencentTcr
        | RegistryType::VolcengineCr => return validate_cloud(kind, registry),
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
        RegistryType::HuaweiSwr => (
            list(regional(
                &HUAWEI_REGIONS,
                "https://swr.{}.myhuaweicloud.com",
            )),
            api_key("the Access Key (AK)", "the Secret Key (SK)"),
        ),
        RegistryType::AliAcr => (
            list(regional(
                &ALIBABA_REGIONS,
                "https://registry.{}.aliyuncs.com",
            )),
            api_key("the AccessKey ID", "the AccessKey secret"),
        ),
        RegistryType::TencentTcr => (
            json!({"endpoint_type": "EndpointPatternTypeStandard",
                   "endpoints": [{"key": "tencentcloudcr.com", "value": "https://<instance>.tencentcloudcr.com"}]}),
            api_key("the SecretId", "the SecretKey"),
        ),
        RegistryType::VolcengineCr => (
            list(regional(
                &VOLCENGINE_REGIONS,
                "https://<registry>-{}.cr.volces.com",
            )),
            api_key("the Access Key ID", "the Secret Access Key"),
        ),
        _ => (standard, basic),
    };
    json!({"endpoint_pattern": endpoint_pattern, "credential_pattern": credential_pattern})
}

/// `(region, url)` pairs of `pattern` (its `{}` the region).
fn regional(regions: &[&str], pattern: &str) -> Vec<(String, String)> {
    regions
        .iter()
        .map(|r| (r.to_string(), pattern.replace("{}", r)))
        .collect()
}

/// An API key pair as the credential.
fn api_key(key: &str, secret: &str) -> Value {
    json!({"access_key_type": "AccessKeyTypeStandard", "access_key_data": key,
           "access_secret_type": "AccessSecretTypeStandard", "access_secret_data": secret})
}

const HUAWEI_REGIONS: [&str; 6] = [
    "cn-north-1",
    "cn-north-4",
    "cn-east-3",
    "cn-south-1",
    "ap-southeast-1",
    "ap-southeast-3",
];
const ALIBABA_REGIONS: [&str; 7] = [
    "cn-hangzhou",
    "cn-shanghai",
    "cn-beijing",
    "cn-shenzhen",
    "cn-hongkong",
    "ap-southeast-1",
    "eu-central-1",
];
const VOLCENGINE_REGIONS: [&str; 4] = [
    "cn-beijing",
    "cn-shanghai",
    "cn-guangzhou",
    "ap-southeast-1",
];

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
    fn the_signed_clouds_need_a_key_pair_and_to_know_where_they_are() {
        let cloud = |kind: RegistryType, url: &str, key: (&str, &str)| Registry {
            name: "c".into(),
            kind: Some(kind),
            url: url.into(),
            credential: Some(crate::model::Credential {
                kind: CredentialType::Basic,
                access_key: key.0.into(),
                access_secret: Some(key.1.into()),
            }),
            ..Registry::default()
        };
        let field = |r: &Registry| {
            validate_for_kind(r.kind.expect("kind"), r)
                .err()
                .map(|e| e.field.to_string())
        };
        let pair = ("ak", "sk");
        assert_eq!(
            field(&cloud(
                RegistryType::TencentTcr,
                "https://x.tencentcloudcr.com",
                ("ak", "")
            )),
            Some("credential.access_secret".into())
        );
        assert_eq!(
            field(&cloud(RegistryType::TencentTcr, "http://127.0.0.1:1", pair)),
            None
        );
        assert_eq!(
            field(&cloud(
                RegistryType::HuaweiSwr,
                "https://swr.cn-north-4.myhuaweicloud.com",
                ("cn-north-4@AK", "x")
            )),
            Some("credential.access_key".into()),
            "Harbor's docker login is not an AK"
        );
        assert_eq!(
            field(&cloud(
                RegistryType::HuaweiSwr,
                "https://swr.cn-north-4.myhuaweicloud.com",
                pair
            )),
            None
        );
        assert_eq!(
            field(&cloud(RegistryType::AliAcr, "https://acr.example", pair)),
            Some("options.region".into())
        );
        assert_eq!(
            field(&cloud(
                RegistryType::AliAcr,
                "https://ferry-registry.cn-hangzhou.cr.aliyuncs.com",
                ("", "")
            )),
            Some("credential.access_key".into())
        );
        let mut volc = cloud(RegistryType::VolcengineCr, "http://127.0.0.1:1", pair);
        assert_eq!(field(&volc), Some("options.instance".into()));
        volc.options.instance = Some("ferry".into());
        assert_eq!(field(&volc), Some("options.region".into()));
        volc.options.region = Some("cn-beijing".into());
        assert_eq!(field(&volc), None);
        let named = cloud(
            RegistryType::VolcengineCr,
            "https://ferry-cn-beijing.cr.volces.com",
            pair,
        );
        assert_eq!(field(&named), None, "the URL names both");
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
