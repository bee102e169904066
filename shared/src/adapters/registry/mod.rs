//! Registries, per kind: one folder each, over one transport (`transport`, with `auth`). The
//! distribution API is what every kind speaks for blobs and manifests; a kind adds its own API
//! where it lists (Harbor's artifacts, Docker Hub's and GitHub's repositories, ECR's
//! `DescribeImages`), authenticates (ECR's `GetAuthorizationToken`, Google's OAuth, ACR's token
//! exchange, the Chinese clouds' temporary logins through their signed APIs: `cloud`) or
//! prepares namespaces (Harbor's projects, ECR's repositories, GAR's) differently. A Helm chart
//! repository (`helm`) is no distribution registry: it is read as one.
//!
//! [`Registries`] is the real [`Connect`]: it picks the adapters for a registry's kind.

mod alibaba;
mod artifactory;
mod auth;
mod azure;
mod budget;
mod cloud;
pub mod distribution;
mod docker_hub;
mod dtr;
mod ecr;
pub(crate) mod egress;
mod ghcr;
mod gitlab;
mod google;
pub mod harbor;
mod helm;
mod huawei;
mod json_api;
mod quay;
pub mod signing;
mod tencent;
mod transport;
mod volcengine;

use std::sync::Arc;

use crate::model::addresses::AddressPolicy;
use crate::model::kinds::{self, gar_location, is_google, request_budget};
use crate::model::{CredentialType, Registry, RegistryType};
use crate::ports::budget::SharedBudgets;
use crate::ports::connect::Connect;
use crate::ports::registry::{Namespaces, RegistryClient, RegistryError};
use crate::ports::source::SourceAdapter;
use auth::Login;

use distribution::{DistributionSource, HttpRegistryClient};
use harbor::{HarborProjects, HarborSource};
use json_api::JsonApi;
use transport::Transport;

/// Registries of every kind Ferry supports, with `retries` of each request that may heal
/// (workers retry more than the API, whose caller is waiting).
pub struct Registries {
    pub retries: usize,
    /// Where the clients may connect.
    pub addresses: AddressPolicy,
    /// The AWS configuration ECR registries start from (region and credentials are the
    /// registry's own when it has them); None where there is none, and ECR is refused.
    pub aws: Option<aws_config::SdkConfig>,
    /// Each registry's request budget, shared by every client of this process.
    budgets: budget::Budgets,
    /// Where the budgets every process shares are kept; None: not kept (tests' engines).
    shared: Option<Arc<dyn SharedBudgets>>,
}

fn credential_kind(registry: &Registry) -> Option<CredentialType> {
    registry
        .credential
        .as_ref()
        .filter(|c| !c.is_empty())
        .map(|c| c.kind)
}

impl Registries {
    pub fn new(
        retries: usize,
        addresses: AddressPolicy,
        aws: Option<aws_config::SdkConfig>,
    ) -> Self {
        Self {
            retries,
            addresses,
            aws,
            budgets: budget::Budgets::default(),
            shared: None,
        }
    }

    /// Registries' request budgets across every process (`options.budget`) kept in `store`.
    pub fn with_shared_budgets(mut self, store: Arc<dyn SharedBudgets>) -> Self {
        self.shared = Some(store);
        self
    }

    /// `transport` spending `registry`'s budgets (the ones of its origin).
    fn budgeted(&self, registry: &Registry, transport: Transport) -> Transport {
        let origin = transport.origin();
        let budget = request_budget(registry).and_then(|rate| self.budgets.of(&origin, rate));
        let shared = registry
            .options
            .budget
            .and_then(|b| b.requests_per_second)
            .zip(self.shared.as_ref())
            .map(|(rate, store)| self.budgets.shared(&origin, rate, store));
        transport.with_budget(budget).with_shared_rate(shared)
    }

    fn transport(&self, registry: &Registry) -> Result<Transport, RegistryError> {
        let transport = Transport::new(registry, self.addresses)?.with_retries(self.retries);
        Ok(self.budgeted(registry, transport))
    }

    /// A transport to a kind's own API at `base`, on the registry's budget.
    fn api(&self, registry: &Registry, base: &str) -> Result<Transport, RegistryError> {
        let transport = Transport::api(registry, base, self.addresses)?.with_retries(self.retries);
        Ok(self.budgeted(registry, transport))
    }

    /// The distribution client of `registry`, with what its kind adds.
    fn http_client(&self, registry: &Registry) -> Result<HttpRegistryClient, RegistryError> {
        Ok(match registry.kind {
            Some(RegistryType::DockerHub) => {
                HttpRegistryClient::over(self.transport(&docker_hub::registry_endpoint(registry))?)
            }
            Some(RegistryType::Quay) => {
                HttpRegistryClient::over(self.transport(&quay::registry_endpoint(registry))?)
            }
            Some(RegistryType::AwsEcr) => {
                let api = ecr::EcrApi::new(registry, self.aws.as_ref())?;
                let login = Arc::new(ecr::EcrLogin { api: api.clone() });
                HttpRegistryClient::over(self.transport(registry)?.with_login(login))
                    .deleting_with(Arc::new(ecr::EcrDeletes { api }))
            }
            Some(RegistryType::GoogleGcr)
                if credential_kind(registry) == Some(CredentialType::OAuth) =>
            {
                let oauth = google::GoogleOAuth::new(registry, self.addresses, self.retries)?;
                let login = Arc::new(google::GoogleLogin { oauth });
                HttpRegistryClient::over(self.transport(registry)?.with_login(login))
            }
            Some(RegistryType::AzureAcr)
                if credential_kind(registry) == Some(CredentialType::OAuth) =>
            {
                let login = Arc::new(azure::AcrExchange::new(
                    registry,
                    self.addresses,
                    self.retries,
                )?);
                HttpRegistryClient::over(self.transport(registry)?.with_login(login))
            }
            Some(RegistryType::HuaweiSwr) => {
                self.logged_in(registry, Arc::new(self.huawei(registry)?))?
            }
            Some(RegistryType::AliAcr) => {
                let login = alibaba::AcrLogin(self.alibaba(registry)?);
                self.logged_in(registry, Arc::new(login))?
            }
            Some(RegistryType::TencentTcr) => {
                self.logged_in(registry, Arc::new(self.tencent(registry)?))?
            }
            Some(RegistryType::VolcengineCr) => {
                self.logged_in(registry, Arc::new(self.volcengine(registry)?))?
            }
            _ => HttpRegistryClient::over(self.transport(registry)?),
        })
    }

    /// The distribution client of `registry` with a Basic credential `login` mints.
    fn logged_in(
        &self,
        registry: &Registry,
        login: Arc<dyn Login>,
    ) -> Result<HttpRegistryClient, RegistryError> {
        Ok(HttpRegistryClient::over(
            self.transport(registry)?.with_login(login),
        ))
    }
}

/// The Chinese clouds' signed APIs, each where its registry's record says it is.
impl Registries {
    fn huawei(&self, registry: &Registry) -> Result<huawei::SwrApi, RegistryError> {
        let api = kinds::cloud_api(RegistryType::HuaweiSwr, registry);
        huawei::SwrApi::new(registry, &api, self.api(registry, &api.base)?)
    }

    fn alibaba(&self, registry: &Registry) -> Result<Arc<dyn alibaba::Edition>, RegistryError> {
        let api = kinds::cloud_api(RegistryType::AliAcr, registry);
        alibaba::edition(registry, &api, self.api(registry, &api.base)?)
    }

    fn tencent(&self, registry: &Registry) -> Result<tencent::TcrApi, RegistryError> {
        let api = kinds::cloud_api(RegistryType::TencentTcr, registry);
        tencent::TcrApi::new(registry, &api, self.api(registry, &api.base)?)
    }

    fn volcengine(&self, registry: &Registry) -> Result<volcengine::VolcApi, RegistryError> {
        let api = kinds::cloud_api(RegistryType::VolcengineCr, registry);
        volcengine::VolcApi::new(registry, &api, self.api(registry, &api.base)?)
    }

    /// A Helm chart repository, read as a registry (and written through ChartMuseum's API).
    fn charts(&self, registry: &Registry) -> Result<helm::ChartRepository, RegistryError> {
        helm::ChartRepository::new(self.transport(registry)?)
    }
}

impl Registries {
    /// Quay's REST API with the record's OAuth token.
    fn quay(&self, registry: &Registry) -> Result<quay::QuayApi, RegistryError> {
        let mut api = JsonApi::new(self.api(registry, &registry.url)?);
        if let Some(token) = quay::api_token(registry) {
            api = api.authorized(&format!("Bearer {token}"))?;
        }
        Ok(quay::QuayApi { api })
    }

    /// GitLab's API with the record's token, and its registry for tags.
    fn gitlab(&self, registry: &Registry) -> Result<gitlab::GitlabApi, RegistryError> {
        let mut api = JsonApi::new(self.api(registry, &gitlab::api_base(registry))?);
        if let Some(token) = registry
            .credential
            .as_ref()
            .and_then(|c| c.access_secret.as_deref())
        {
            api = api.with_header(
                reqwest::header::HeaderName::from_static("private-token"),
                token,
            )?;
        }
        Ok(gitlab::GitlabApi {
            api,
            registry: DistributionSource {
                client: Arc::new(self.http_client(registry)?),
            },
        })
    }

    fn artifactory(
        &self,
        registry: &Registry,
    ) -> Result<artifactory::ArtifactoryApi, RegistryError> {
        Ok(artifactory::ArtifactoryApi {
            api: JsonApi::new(self.transport(registry)?),
            registry: DistributionSource {
                client: Arc::new(self.http_client(registry)?),
            },
        })
    }

    fn dtr(&self, registry: &Registry) -> Result<dtr::DtrApi, RegistryError> {
        Ok(dtr::DtrApi {
            api: JsonApi::new(self.transport(registry)?),
        })
    }
}

impl Connect for Registries {
    fn client(&self, registry: &Registry) -> Result<Box<dyn RegistryClient>, RegistryError> {
        if registry.kind == Some(RegistryType::HelmRepository) {
            return Ok(Box::new(self.charts(registry)?));
        }
        Ok(Box::new(self.http_client(registry)?))
    }

    fn source(&self, registry: &Registry) -> Result<Box<dyn SourceAdapter>, RegistryError> {
        let distribution = || -> Result<DistributionSource, RegistryError> {
            Ok(DistributionSource {
                client: Arc::new(self.http_client(registry)?),
            })
        };
        Ok(match registry.kind {
            Some(RegistryType::Harbor) => Box::new(HarborSource {
                api: JsonApi::new(self.transport(registry)?),
            }),
            Some(RegistryType::DockerHub) => Box::new(docker_hub::HubSource {
                hub: docker_hub::HubApi::new(
                    registry,
                    self.api(registry, docker_hub::api_base(registry))?,
                ),
                registry: distribution()?,
            }),
            Some(RegistryType::GithubGhcr) => Box::new(ghcr::GhcrSource {
                github: ghcr::GithubApi::new(
                    registry,
                    self.api(registry, ghcr::api_base(registry))?,
                )?,
                registry: distribution()?,
            }),
            Some(RegistryType::AwsEcr) => Box::new(ecr::EcrSource {
                api: ecr::EcrApi::new(registry, self.aws.as_ref())?,
            }),
            Some(RegistryType::Quay) => Box::new(self.quay(registry)?),
            Some(RegistryType::Gitlab) => Box::new(self.gitlab(registry)?),
            Some(RegistryType::JfrogArtifactory) => Box::new(self.artifactory(registry)?),
            Some(RegistryType::Dtr) => Box::new(self.dtr(registry)?),
            Some(RegistryType::HuaweiSwr) => Box::new(self.huawei(registry)?),
            Some(RegistryType::AliAcr) => Box::new(alibaba::AcrSource(self.alibaba(registry)?)),
            Some(RegistryType::TencentTcr) => Box::new(self.tencent(registry)?),
            Some(RegistryType::VolcengineCr) => Box::new(self.volcengine(registry)?),
            Some(RegistryType::HelmRepository) => Box::new(self.charts(registry)?),
            _ => Box::new(distribution()?),
        })
    }

    fn namespaces(
        &self,
        registry: &Registry,
    ) -> Result<Option<Box<dyn Namespaces>>, RegistryError> {
        Ok(match registry.kind {
            Some(RegistryType::Harbor) => Some(Box::new(
                HarborProjects::new(registry, self.addresses)?.with_max_retries(self.retries),
            )),
            Some(RegistryType::DockerHub) => Some(Box::new(docker_hub::HubNamespaces {
                hub: docker_hub::HubApi::new(
                    registry,
                    self.api(registry, docker_hub::api_base(registry))?,
                ),
            })),
            Some(RegistryType::GithubGhcr) => Some(Box::new(ghcr::GhcrNamespaces {
                github: ghcr::GithubApi::new(
                    registry,
                    self.api(registry, ghcr::api_base(registry))?,
                )?,
            })),
            Some(RegistryType::AwsEcr) => Some(Box::new(ecr::EcrNamespaces {
                api: ecr::EcrApi::new(registry, self.aws.as_ref())?,
            })),
            Some(RegistryType::Quay) => Some(Box::new(self.quay(registry)?)),
            Some(RegistryType::Gitlab) => Some(Box::new(self.gitlab(registry)?)),
            Some(RegistryType::JfrogArtifactory) => Some(Box::new(self.artifactory(registry)?)),
            Some(RegistryType::Dtr) => Some(Box::new(self.dtr(registry)?)),
            Some(RegistryType::HuaweiSwr) => Some(Box::new(self.huawei(registry)?)),
            Some(RegistryType::AliAcr) => Some(Box::new(alibaba::AcrNamespaces::new(
                self.alibaba(registry)?,
            ))),
            Some(RegistryType::TencentTcr) => Some(Box::new(self.tencent(registry)?)),
            Some(RegistryType::VolcengineCr) => Some(Box::new(volcengine::VolcNamespaces::new(
                self.volcengine(registry)?,
            ))),
            Some(RegistryType::HelmRepository) => Some(Box::new(self.charts(registry)?)),
            Some(RegistryType::GoogleGcr) => {
                // GCR (gcr.io) has no repositories to make; GAR has, in a location.
                let location = gar_location(&registry.url).or_else(|| {
                    (!is_google(&registry.url))
                        .then(|| registry.options.region.clone())
                        .flatten()
                });
                match location {
                    Some(location) => Some(Box::new(google::GarRepositories {
                        api: tokio::sync::Mutex::new(JsonApi::new(
                            self.api(registry, &google_api(registry))?,
                        )),
                        oauth: google::GoogleOAuth::new(registry, self.addresses, self.retries)?,
                        location,
                    })),
                    None => None,
                }
            }
            _ => None,
        })
    }
}

/// Artifact Registry's API for a registry: Google's own for Google's hosts, else the same
/// origin (a test's fake).
fn google_api(registry: &Registry) -> String {
    if is_google(&registry.url) {
        crate::model::kinds::ARTIFACT_REGISTRY_API.to_string()
    } else {
        registry.url.clone()
    }
}
