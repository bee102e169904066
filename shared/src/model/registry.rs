//! A registry Ferry reads from or writes to, with Harbor's `Registry` JSON names.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::time_format;
use super::validation::{require_name, require_text, Validated, ValidationError};

/// What a read shows instead of a stored secret.
pub const SECRET_MASK: &str = "*****";

/// Registry kinds, spelt as Harbor's adapters name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum RegistryType {
    #[serde(rename = "harbor")]
    Harbor,
    #[serde(rename = "docker-hub")]
    DockerHub,
    #[serde(rename = "docker-registry")]
    DockerRegistry,
    #[serde(rename = "aws-ecr")]
    AwsEcr,
    #[serde(rename = "google-gcr")]
    GoogleGcr,
    #[serde(rename = "azure-acr")]
    AzureAcr,
    #[serde(rename = "ali-acr")]
    AliAcr,
    #[serde(rename = "huawei-SWR")]
    HuaweiSwr,
    #[serde(rename = "jfrog-artifactory")]
    JfrogArtifactory,
    #[serde(rename = "quay")]
    Quay,
    #[serde(rename = "gitlab")]
    Gitlab,
    #[serde(rename = "github-ghcr")]
    GithubGhcr,
    #[serde(rename = "tencent-tcr")]
    TencentTcr,
    #[serde(rename = "volcengine-cr")]
    VolcengineCr,
    #[serde(rename = "dtr")]
    Dtr,
    /// Ferry's addition: a Helm chart repository (ChartMuseum, or any HTTP server of an
    /// `index.yaml` and its packages), whose charts Ferry reads as OCI Helm charts.
    #[serde(rename = "helm-repository")]
    HelmRepository,
}

impl RegistryType {
    pub const ALL: [RegistryType; 16] = [
        Self::Harbor,
        Self::DockerHub,
        Self::DockerRegistry,
        Self::AwsEcr,
        Self::GoogleGcr,
        Self::AzureAcr,
        Self::AliAcr,
        Self::HuaweiSwr,
        Self::JfrogArtifactory,
        Self::Quay,
        Self::Gitlab,
        Self::GithubGhcr,
        Self::TencentTcr,
        Self::VolcengineCr,
        Self::Dtr,
        Self::HelmRepository,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Harbor => "harbor",
            Self::DockerHub => "docker-hub",
            Self::DockerRegistry => "docker-registry",
            Self::AwsEcr => "aws-ecr",
            Self::GoogleGcr => "google-gcr",
            Self::AzureAcr => "azure-acr",
            Self::AliAcr => "ali-acr",
            Self::HuaweiSwr => "huawei-SWR",
            Self::JfrogArtifactory => "jfrog-artifactory",
            Self::Quay => "quay",
            Self::Gitlab => "gitlab",
            Self::GithubGhcr => "github-ghcr",
            Self::TencentTcr => "tencent-tcr",
            Self::VolcengineCr => "volcengine-cr",
            Self::Dtr => "dtr",
            Self::HelmRepository => "helm-repository",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CredentialType {
    #[default]
    Basic,
    #[serde(rename = "oauth")]
    OAuth,
    Secret,
}

/// Harbor's `RegistryCredential`. `access_secret` is write-only: reads carry [`SECRET_MASK`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct Credential {
    #[serde(rename = "type")]
    pub kind: CredentialType,
    pub access_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_secret: Option<String>,
}

impl Credential {
    pub fn is_empty(&self) -> bool {
        self.access_key.is_empty() && self.access_secret.as_deref().unwrap_or("").is_empty()
    }

    /// The same credential with its secret replaced by the mask (when there is one).
    pub fn masked(&self) -> Self {
        Self {
            kind: self.kind,
            access_key: self.access_key.clone(),
            access_secret: self.access_secret.as_ref().map(|_| SECRET_MASK.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegistryStatus {
    Healthy,
    Unhealthy,
    #[default]
    Unknown,
}

/// What the health monitor found when it last checked the registry (Ferry's addition to
/// Harbor's `Registry`, whose `status` it sets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegistryHealth {
    /// Why the registry is unhealthy; absent when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was checked.
    #[serde(with = "time_format::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub checked_time: OffsetDateTime,
}

impl RegistryHealth {
    /// It answered, now.
    pub fn answered() -> Self {
        Self {
            reason: None,
            checked_time: time_format::now(),
        }
    }

    /// It did not, now, for `reason`.
    pub fn failed(reason: String) -> Self {
        Self {
            reason: Some(reason),
            checked_time: time_format::now(),
        }
    }
}

/// Harbor's `Registry`. Every field defaults so that a partial body reaches validation, which
/// names the missing field, rather than failing in the JSON parser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Registry {
    pub id: i64,
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: Option<RegistryType>,
    pub url: String,
    /// None is answered as an empty Basic credential (Harbor's schema has an object here) and
    /// an empty one is read as None.
    #[serde(
        serialize_with = "credential_or_empty",
        deserialize_with = "credential_unless_empty"
    )]
    pub credential: Option<Credential>,
    pub insecure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,
    pub status: RegistryStatus,
    #[serde(with = "time_format::rfc3339")]
    #[schema(value_type = String, format = DateTime, default = "1970-01-01T00:00:00Z")]
    pub creation_time: OffsetDateTime,
    #[serde(with = "time_format::rfc3339")]
    #[schema(value_type = String, format = DateTime, default = "1970-01-01T00:00:00Z")]
    pub update_time: OffsetDateTime,
    /// Ferry's addition to Harbor's `Registry`: what some kinds need beyond a URL and a
    /// credential (see [`RegistryOptions`]). Absent when empty.
    #[serde(skip_serializing_if = "RegistryOptions::is_empty")]
    pub options: RegistryOptions,
    /// Ferry's addition: the health monitor's last check (see [`RegistryHealth`]); absent until
    /// the first. Set only by the monitor: what a create or an update sends here is ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<RegistryHealth>,
}

/// Settings some registry kinds need (Ferry's addition; Harbor keeps these in its adapters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryOptions {
    /// The cloud region (aws-ecr: when the URL is not `<account>.dkr.ecr.<region>.amazonaws.com`;
    /// google-gcr: the Artifact Registry location when the URL is not `<location>-docker.pkg.dev`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// aws-ecr: a role to assume (cross-account), with the credential given or the function's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// aws-ecr: the tag mutability of repositories Ferry creates (`MUTABLE` or `IMMUTABLE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_mutability: Option<String>,
    /// aws-ecr: whether repositories Ferry creates scan on push.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan_on_push: Option<bool>,
    /// Requests per second each Ferry process sends this registry at most (its origin, and its
    /// kind's API); unset: the kind's default (docker-hub 10, github-ghcr 20, others unbounded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u32>,
    /// Budgets held across every Ferry process at once (see [`RegistryBudget`]); unset: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<RegistryBudget>,
    /// The cloud registry instance, where the URL does not name it (a custom domain):
    /// tencent-tcr: its name or `tcr-` id; volcengine-cr: its registry name; ali-acr: the
    /// enterprise edition's name or `cri-` id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// huawei-SWR, ali-acr, tencent-tcr, volcengine-cr: the cloud API's endpoint, where it is not
    /// the provider's public one (a regional, VPC or private endpoint; a test's stand-in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

/// What a registry takes from all of Ferry together, however many transfers run at once
/// (`requests_per_second` above is each process's own): a quota such as Docker Hub's, or a
/// registry that falls over under load. Held in the store (leases and one-second windows), so
/// each costs a few store requests: per blob copied, and per batch of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryBudget {
    /// Blobs copied from or to this registry at once, by every Ferry process together
    /// (1-1000). A copy that finds them all taken waits, and gives its task back for later
    /// when its invocation runs out of time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrent_blobs: Option<u32>,
    /// Requests per second to this registry, by every Ferry process together (1-10000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u32>,
}

impl RegistryBudget {
    fn validate(&self) -> Validated {
        if self.concurrent_blobs.is_some_and(|c| c == 0 || c > 1000) {
            return Err(ValidationError::new(
                "options.budget.concurrent_blobs",
                "must be between 1 and 1000",
            ));
        }
        if self
            .requests_per_second
            .is_some_and(|r| r == 0 || r > 10_000)
        {
            return Err(ValidationError::new(
                "options.budget.requests_per_second",
                "must be between 1 and 10000",
            ));
        }
        Ok(())
    }
}

impl RegistryOptions {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    fn validate(&self) -> Validated {
        if let Some(region) = &self.region {
            let valid = !region.is_empty()
                && region.len() <= 64
                && region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                return Err(ValidationError::new(
                    "options.region",
                    "must be a region name such as us-east-1 or europe-west1",
                ));
            }
        }
        if let Some(arn) = &self.role_arn {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            if parts.len() != 6
                || parts[0] != "arn"
                || parts[2] != "iam"
                || !parts[5].starts_with("role/")
            {
                return Err(ValidationError::new(
                    "options.role_arn",
                    "must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
                ));
            }
        }
        if self
            .requests_per_second
            .is_some_and(|r| r == 0 || r > 10_000)
        {
            return Err(ValidationError::new(
                "options.requests_per_second",
                "must be between 1 and 10000",
            ));
        }
        if let Some(instance) = &self.instance {
            let valid = !instance.is_empty()
                && instance.len() <= 64
                && instance
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(ValidationError::new(
                    "options.instance",
                    "must be an instance name or id: letters, digits, '-' and '_', at most 64",
                ));
            }
        }
        if let Some(api_url) = &self.api_url {
            validate_endpoint_url("options.api_url", api_url)?;
        }
        if let Some(budget) = &self.budget {
            budget.validate()?;
        }
        if let Some(mutability) = &self.tag_mutability {
            if mutability != "MUTABLE" && mutability != "IMMUTABLE" {
                return Err(ValidationError::new(
                    "options.tag_mutability",
                    "must be MUTABLE or IMMUTABLE",
                ));
            }
        }
        Ok(())
    }
}

fn credential_or_empty<S: serde::Serializer>(
    credential: &Option<Credential>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match credential {
        Some(credential) => credential.serialize(serializer),
        None => Credential::default().serialize(serializer),
    }
}

fn credential_unless_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Credential>, D::Error> {
    Ok(Option::<Credential>::deserialize(deserializer)?.filter(|c| !c.is_empty()))
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            id: 0,
            name: String::new(),
            description: String::new(),
            kind: None,
            url: String::new(),
            credential: None,
            insecure: false,
            ca_certificate: None,
            status: RegistryStatus::Unknown,
            creation_time: OffsetDateTime::UNIX_EPOCH,
            update_time: OffsetDateTime::UNIX_EPOCH,
            options: RegistryOptions::default(),
            health: None,
        }
    }
}

impl Registry {
    /// Checks what a create or an update must satisfy, naming the first field that does not.
    pub fn validate(&self) -> Validated {
        require_name("name", &self.name)?;
        if self.description.chars().count() > 1024 {
            return Err(ValidationError::new(
                "description",
                "must be at most 1024 characters",
            ));
        }
        if self.kind.is_none() {
            return Err(ValidationError::new("type", "is required"));
        }
        validate_endpoint_url("url", &self.url)?;
        if let Some(credential) = &self.credential {
            if !credential.is_empty() {
                require_text("credential.access_key", &credential.access_key, 1024)?;
                match credential.access_secret.as_deref() {
                    None | Some("") => {
                        return Err(ValidationError::new(
                            "credential.access_secret",
                            "is required with an access_key",
                        ))
                    }
                    Some(s) if s.len() > 4096 => {
                        return Err(ValidationError::new(
                            "credential.access_secret",
                            "must be at most 4096 bytes",
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        self.options.validate()?;
        if let Some(ca) = &self.ca_certificate {
            if !ca.is_empty() && !ca.contains("-----BEGIN CERTIFICATE-----") {
                return Err(ValidationError::new(
                    "ca_certificate",
                    "must be a PEM certificate",
                ));
            }
        }
        Ok(())
    }

    /// The registry as a read returns it: the secret masked.
    pub fn masked(&self) -> Self {
        let mut out = self.clone();
        out.credential = self.credential.as_ref().map(Credential::masked);
        out
    }

    /// Host and port of the endpoint, as a registry token `service` or a mount source names it.
    pub fn host(&self) -> Option<String> {
        let url = url::Url::parse(&self.url).ok()?;
        let host = url.host_str()?;
        Some(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        })
    }
}

/// An endpoint is an absolute http(s) URL with a host and nothing after the path.
pub fn validate_endpoint_url(field: &str, value: &str) -> Validated {
    if value.trim().is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    let url = url::Url::parse(value)
        .map_err(|e| ValidationError::new(field, format!("is not a URL: {e}")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(ValidationError::new(
            field,
            format!("must be http or https, not {}", url.scheme()),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ValidationError::new(field, "must name a host"));
    }
    // Userinfo would be stored and shown in clear; the credential is where a secret goes.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ValidationError::new(
            field,
            "must not carry a user name or password; give them as the credential",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ValidationError::new(
            field,
            "must not carry a query or a fragment",
        ));
    }
    Ok(())
}

/// Harbor's `RegistryUpdate`: flat, every field optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RegistryUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub credential_type: Option<CredentialType>,
    pub access_key: Option<String>,
    pub access_secret: Option<String>,
    pub insecure: Option<bool>,
    pub ca_certificate: Option<String>,
    /// Ferry's addition: replaces the registry's options when given.
    pub options: Option<RegistryOptions>,
}

impl RegistryUpdate {
    /// Applies the update as Harbor does: a new URL without a new secret drops the stored
    /// secret, so a credential is never sent to a host it was not given for.
    pub fn apply(&self, registry: &mut Registry) {
        if let Some(name) = &self.name {
            registry.name = name.clone();
        }
        if let Some(description) = &self.description {
            registry.description = description.clone();
        }
        let url_changed = self.url.as_ref().is_some_and(|u| *u != registry.url);
        if let Some(url) = &self.url {
            registry.url = url.clone();
        }
        if let Some(insecure) = self.insecure {
            registry.insecure = insecure;
        }
        if let Some(ca) = &self.ca_certificate {
            registry.ca_certificate = Some(ca.clone()).filter(|c| !c.is_empty());
        }
        if let Some(options) = &self.options {
            registry.options = options.clone();
        }
        let touches_credential = self.credential_type.is_some()
            || self.access_key.is_some()
            || self.access_secret.is_some()
            || url_changed;
        if touches_credential {
            let mut credential = registry.credential.clone().unwrap_or_default();
            if let Some(kind) = self.credential_type {
                credential.kind = kind;
            }
            if let Some(key) = &self.access_key {
                credential.access_key = key.clone();
            }
            match &self.access_secret {
                Some(secret) if secret != SECRET_MASK => {
                    credential.access_secret = Some(secret.clone())
                }
                _ if url_changed => credential.access_secret = None,
                _ => {}
            }
            registry.credential = (!credential.is_empty()).then_some(credential);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> Registry {
        Registry {
            name: "r".into(),
            kind: Some(RegistryType::Harbor),
            url: "https://old.example".into(),
            credential: Some(Credential {
                kind: CredentialType::Basic,
                access_key: "u".into(),
                access_secret: Some(SECRET_MASK.into()),
            }),
            ..Registry::default()
        }
    }

    #[test]
    fn a_new_url_without_a_new_secret_clears_the_secret() {
        let mut r = stored();
        RegistryUpdate {
            url: Some("https://new.example".into()),
            ..RegistryUpdate::default()
        }
        .apply(&mut r);
        assert_eq!(
            r.credential.as_ref().and_then(|c| c.access_secret.clone()),
            None
        );

        let mut r = stored();
        RegistryUpdate {
            description: Some("d".into()),
            ..RegistryUpdate::default()
        }
        .apply(&mut r);
        assert_eq!(
            r.credential.and_then(|c| c.access_secret).as_deref(),
            Some(SECRET_MASK),
            "kept"
        );

        let mut r = stored();
        RegistryUpdate {
            url: Some("https://new.example".into()),
            access_secret: Some("fresh".into()),
            ..RegistryUpdate::default()
        }
        .apply(&mut r);
        assert_eq!(
            r.credential.and_then(|c| c.access_secret).as_deref(),
            Some("fresh")
        );
    }
}
