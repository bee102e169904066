//! Where a registry's HTTP client may go: every name resolved is checked against the
//! deployment's [`AddressPolicy`] when the connection is made (so DNS cannot rebind a checked
//! name onto the metadata service), every redirect's target too, and reqwest itself drops
//! `Authorization` on a redirect that leaves the origin. Address literals skip the resolver,
//! so [`Transport`](super::transport::Transport) checks each URL's literal before it sends.

use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::model::addresses::AddressPolicy;

/// Redirects followed in a row, as reqwest's default.
const MAX_REDIRECTS: usize = 10;

/// A connection Ferry refused to make: the host, the address it resolved to and why.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, which {reason}")]
pub(crate) struct AddressRefused {
    pub host: String,
    pub ip: IpAddr,
    pub reason: &'static str,
}

/// A redirect Ferry refused to follow.
#[derive(Debug, thiserror::Error)]
#[error("redirect to {url} refused: it {reason}")]
pub(crate) struct RedirectRefused {
    pub url: String,
    pub reason: String,
}

/// The system resolver, keeping only the addresses the policy allows.
struct GuardedResolver {
    policy: AddressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| match policy.check(address.ip()) {
                    Ok(()) => true,
                    Err(refusal) => {
                        refused = Some((address.ip(), refusal));
                        false
                    }
                })
                .collect();
            match refused {
                Some((ip, refusal)) if allowed.is_empty() => Err(Box::new(AddressRefused {
                    host,
                    ip,
                    reason: refusal.reason(),
                }) as _),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// The client builder with the guarded resolver and redirect policy.
pub(crate) fn guarded(
    builder: reqwest::ClientBuilder,
    policy: AddressPolicy,
) -> reqwest::ClientBuilder {
    builder
        .dns_resolver(std::sync::Arc::new(GuardedResolver { policy }))
        // A redirect's target learns nothing of where it came from (upload URLs carry state).
        .referer(false)
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("over {MAX_REDIRECTS} redirects"));
            }
            match policy.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(reason) => {
                    let url = attempt.url().to_string();
                    attempt.error(RedirectRefused { url, reason })
                }
            }
        }))
}

/// The refusal behind a failed request, if the guard made it fail.
pub(crate) fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(inner) = cause {
        if let Some(refused) = inner.downcast_ref::<AddressRefused>() {
            return Some(refused.to_string());
        }
        if let Some(refused) = inner.downcast_ref::<RedirectRefused>() {
            return Some(refused.to_string());
        }
        cause = inner.source();
    }
    None
}
