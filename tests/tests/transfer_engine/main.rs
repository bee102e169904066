//! The copy engine against real registries, through a fault-injecting proxy: resets mid-blob,
//! 5xx, 429 with Retry-After slow a copy down; it still ends byte-exact.

mod credentials;
mod faults;
mod hostile;
mod kinds;
mod mounts;
mod referrers;

use ferry::adapters::registry::distribution::HttpRegistryClient;
use ferry::copy::{copy_artifact, CopyError, CopyJob, CopyOutcome, SkipReason};
use ferry::model::{CopyOptions, Credential, CredentialType, Registry, RegistryType};
use ferry::oci::{Digest, Reference, Repository};
use ferry::ports::registry::{BlobLocations, Referrers, RegistryClient, RegistryError};
use ferry_tests::faults::{Action, Fault, FaultProxy};
use ferry_tests::images::{digest_of, layer};
use ferry_tests::registry::TestRegistry;

/// The test registries are on loopback.
const LOOPBACK: ferry::model::addresses::AddressPolicy =
    ferry::model::addresses::AddressPolicy::allowing_private(true);

fn client(url: &str, credentials: Option<(&str, &str)>) -> HttpRegistryClient {
    HttpRegistryClient::new(
        &Registry {
            name: "r".into(),
            kind: Some(RegistryType::DockerRegistry),
            url: url.into(),
            credential: credentials.map(|(user, password)| Credential {
                kind: CredentialType::Basic,
                access_key: user.into(),
                access_secret: Some(password.into()),
            }),
            ..Registry::default()
        },
        LOOPBACK,
    )
    .expect("client")
}

async fn copy(
    src: &dyn RegistryClient,
    dst: &dyn RegistryClient,
    repository: &str,
    reference: &str,
    options: CopyOptions,
) -> (Result<CopyOutcome, CopyError>, Vec<String>) {
    copy_to(
        src, dst, repository, repository, reference, options, None, false,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn copy_to(
    src: &dyn RegistryClient,
    dst: &dyn RegistryClient,
    src_repository: &str,
    dst_repository: &str,
    reference: &str,
    options: CopyOptions,
    locations: Option<&dyn BlobLocations>,
    same_registry: bool,
) -> (Result<CopyOutcome, CopyError>, Vec<String>) {
    let mut log = Vec::new();
    let (src_repository, dst_repository) = (repository(src_repository), repository(dst_repository));
    let reference = Reference::parse(reference).expect("reference");
    let job = CopyJob {
        src,
        src_repository: &src_repository,
        src_reference: &reference,
        dst,
        dst_repository: &dst_repository,
        dst_reference: &reference,
        options,
        stop: None,
        locations,
        dst_registry_id: 2,
        same_registry,
        deadline: None,
        resume: None,
        platforms: &[],
        slots: None,
    };
    (copy_artifact(&job, &mut log).await, log)
}

fn repository(name: &str) -> Repository {
    Repository::parse(name).expect("repository")
}

fn digest(value: &str) -> Digest {
    Digest::parse(value).expect("digest")
}

fn figures(outcome: Result<CopyOutcome, CopyError>) -> ferry::model::TransferFigures {
    match outcome {
        Ok(CopyOutcome::Copied { figures, .. }) => figures,
        other => panic!("expected a copy, got {other:?}"),
    }
}

fn fault(method: &'static str, path: &str, action: Action, times: usize) -> Fault {
    Fault {
        method,
        path: path.to_string(),
        action,
        times,
    }
}
