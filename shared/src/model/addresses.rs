//! Which network addresses Ferry connects to on a registry's behalf. A registry URL, a token
//! realm, an upload `Location` or a `Link` comes from outside; without this rule any of them
//! could point Ferry (and the credentials it holds) at the cloud's metadata service or at
//! services on the private network it runs in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 0.0.0.0, `::`, broadcast and multicast: not a host.
    NotAHost,
    /// 169.254.0.0/16 and fe80::/10: the link, where metadata services live.
    LinkLocal,
    /// A cloud's instance metadata service outside the link-local range.
    Metadata,
    /// Loopback and private ranges, refused unless the deployment allows them.
    Private,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotAHost => "is not a host address",
            Self::LinkLocal => "is link-local, where metadata services answer; never allowed",
            Self::Metadata => "is a cloud metadata address; never allowed",
            Self::Private => {
                "is loopback or private; allowed only when the deployment sets FERRY_ALLOW_PRIVATE_ADDRESSES"
            }
        }
    }
}

/// The deployment's rule: link-local, metadata and non-host addresses are always refused;
/// loopback and private ones only when `allow_private` is off (the default in the template).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressPolicy {
    pub allow_private: bool,
}

/// Metadata services that are not link-local: AWS's IPv6 IMDS and Alibaba Cloud's.
const METADATA: [IpAddr; 2] = [
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
];

impl AddressPolicy {
    pub const fn allowing_private(allow_private: bool) -> Self {
        Self { allow_private }
    }

    /// Whether Ferry may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        if METADATA.contains(&ip) {
            return Err(Refusal::Metadata);
        }
        match classify(ip) {
            Some(Refusal::Private) if self.allow_private => Ok(()),
            Some(refusal) => Err(refusal),
            None => Ok(()),
        }
    }

    /// Checks a URL's host when it is an address literal (a name is checked once resolved,
    /// at connect time); a URL with user information is refused here too, since it would carry
    /// a credential in clear wherever the URL is stored or shown.
    pub fn check_url(&self, url: &url::Url) -> Result<(), String> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "must not carry a user name or password; give them as the credential".into(),
            );
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(url::Host::Domain(_)) => return Ok(()),
            None => return Err("must name a host".into()),
        };
        self.check(ip).map_err(|r| format!("{ip} {}", r.reason()))
    }
}

fn classify(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() || a == 0 {
                Some(Refusal::NotAHost)
            } else if v4.is_link_local() {
                Some(Refusal::LinkLocal)
            } else if v4.is_loopback()
                || v4.is_private()
                // Carrier-grade NAT, shared address space (RFC 6598).
                || (a == 100 && (64..128).contains(&b))
            {
                Some(Refusal::Private)
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_unspecified() || v6.is_multicast() {
                Some(Refusal::NotAHost)
            } else if first & 0xffc0 == 0xfe80 {
                Some(Refusal::LinkLocal)
            } else if v6.is_loopback() || first & 0xfe00 == 0xfc00 {
                // fc00::/7: unique local addresses, IPv6's private ranges.
                Some(Refusal::Private)
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn link_local_metadata_and_non_hosts_are_always_refused() {
        for policy in [
            AddressPolicy::allowing_private(false),
            AddressPolicy::allowing_private(true),
        ] {
            for (address, refusal) in [
                ("169.254.169.254", Refusal::LinkLocal),
                ("169.254.170.2", Refusal::LinkLocal),
                ("fe80::1", Refusal::LinkLocal),
                ("::ffff:169.254.169.254", Refusal::LinkLocal),
                ("fd00:ec2::254", Refusal::Metadata),
                ("100.100.100.200", Refusal::Metadata),
                ("0.0.0.0", Refusal::NotAHost),
                ("::", Refusal::NotAHost),
                ("255.255.255.255", Refusal::NotAHost),
                ("224.0.0.1", Refusal::NotAHost),
            ] {
                assert_eq!(policy.check(ip(address)), Err(refusal), "{address}");
            }
        }
    }

    #[test]
    fn loopback_and_private_ranges_need_the_setting() {
        let strict = AddressPolicy::default();
        let open = AddressPolicy::allowing_private(true);
        for address in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "::1",
            "fd12::1",
            "::ffff:127.0.0.1",
        ] {
            assert_eq!(
                strict.check(ip(address)),
                Err(Refusal::Private),
                "{address}"
            );
            assert_eq!(open.check(ip(address)), Ok(()), "{address}");
        }
        for address in ["52.95.110.1", "2600:1f18::1", "172.32.0.1", "100.128.0.1"] {
            assert_eq!(strict.check(ip(address)), Ok(()), "{address}");
        }
    }

    #[test]
    fn urls_are_checked_by_their_literal_host_and_refused_with_user_information() {
        let strict = AddressPolicy::default();
        let url = |s: &str| url::Url::parse(s).expect("url");
        assert!(strict.check_url(&url("https://registry.example")).is_ok());
        assert!(strict
            .check_url(&url("https://u:p@registry.example"))
            .is_err());
        assert!(strict
            .check_url(&url("https://u@registry.example"))
            .is_err());
        assert!(strict
            .check_url(&url("http://169.254.169.254/latest"))
            .is_err_and(|e| e.contains("169.254.169.254")));
        assert!(strict.check_url(&url("http://[fe80::1]:5000")).is_err());
        assert!(strict.check_url(&url("http://127.0.0.1:5000")).is_err());
        assert!(AddressPolicy::allowing_private(true)
            .check_url(&url("http://127.0.0.1:5000"))
            .is_ok());
    }
}
