//! The egress policy: which network addresses an upstream link may reach.
//!
//! Checked on the resolved addresses at connect time, so a name that
//! resolves to a forbidden address (DNS rebinding included) is refused:
//! HTTP links resolve through [`EgressResolver`], which reqwest calls for
//! every connection; other links call [`EgressPolicy::resolve`] and connect
//! to what it returns. Literal IP hosts are checked by
//! [`EgressPolicy::check_url`], since resolvers never see them.
//!
//! Always denied: unspecified, link-local (169.254.0.0/16, fe80::/10, which
//! holds 169.254.169.254), multicast, broadcast and the other cloud metadata
//! addresses. Loopback and private ranges are allowed unless configured
//! otherwise (`upstream.egress.deny_loopback`, `deny_private`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

use crate::error::{Error, ErrorCode};

/// Metadata services outside link-local space (Alibaba, Azure wireserver,
/// AWS IPv6 IMDS).
const METADATA: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)),
];

/// Which address classes upstream links may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    pub deny_private: bool,
    pub deny_loopback: bool,
}

fn denied(what: &str, why: &str) -> Error {
    Error::Upstream {
        code: ErrorCode::EgressDenied,
        message: format!("{what} {}: {why}", crate::upstream::EGRESS_MARK),
    }
}

impl EgressPolicy {
    /// Why `ip` is refused, or `None` when it may be reached.
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if ip.is_unspecified() {
            return Some("unspecified address");
        }
        if METADATA.contains(&ip) {
            return Some("cloud metadata address");
        }
        if ip.is_multicast() {
            return Some("multicast address");
        }
        match ip {
            IpAddr::V4(v4) => {
                if v4.is_link_local() {
                    return Some("link-local address (cloud metadata lives here)");
                }
                if v4.is_broadcast() || v4.octets()[0] == 0 {
                    return Some("reserved address");
                }
                if v4.is_loopback() {
                    return self.deny_loopback.then_some("loopback address");
                }
                let shared = v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64;
                if v4.is_private() || shared {
                    return self.deny_private.then_some("private address");
                }
            }
            IpAddr::V6(v6) => {
                let first = v6.segments()[0];
                if (first & 0xffc0) == 0xfe80 {
                    return Some("link-local address");
                }
                if v6.is_loopback() {
                    return self.deny_loopback.then_some("loopback address");
                }
                if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfec0 {
                    return self.deny_private.then_some("private address");
                }
            }
        }
        None
    }

    /// Refuses a URL whose host is a literal IP this policy denies.
    pub fn check_url(&self, url: &Url) -> Result<(), Error> {
        let ip = match url.host() {
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(Host::Domain(_)) => return Ok(()),
            None => return Err(denied(url.as_str(), "no host")),
        };
        match self.refusal(ip) {
            Some(why) => Err(denied(&ip.to_string(), why)),
            None => Ok(()),
        }
    }

    /// Resolves `host:port` and keeps only allowed addresses; refuses when
    /// none is left.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Error::Upstream {
                code: ErrorCode::UpstreamUnreachable,
                message: format!("cannot resolve {host}: {e}"),
            })?
            .collect();
        self.filter(host, addrs)
    }

    fn filter(&self, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Error> {
        let mut reason = "no address";
        let allowed: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| match self.refusal(a.ip()) {
                Some(why) => {
                    reason = why;
                    false
                }
                None => true,
            })
            .collect();
        if allowed.is_empty() {
            Err(denied(host, reason))
        } else {
            Ok(allowed)
        }
    }
}

/// A reqwest resolver that applies the policy to every name it resolves.
#[derive(Debug, Clone)]
pub struct EgressResolver(pub EgressPolicy);

impl reqwest::dns::Resolve for EgressResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = policy
                .resolve(&host, 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl EgressPolicy {
    /// The resolver to install on every upstream HTTP client.
    pub fn resolver(&self) -> Arc<EgressResolver> {
        Arc::new(EgressResolver(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test ip")
    }

    #[test]
    fn metadata_link_local_and_unspecified_are_always_denied() {
        let open = EgressPolicy::default();
        for s in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "0.0.0.0",
            "::",
            "100.100.100.200",
            "168.63.129.16",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(open.refusal(ip(s)).is_some(), "{s} allowed");
        }
    }

    #[test]
    fn loopback_and_private_are_allowed_unless_configured() {
        let open = EgressPolicy::default();
        let strict = EgressPolicy {
            deny_private: true,
            deny_loopback: true,
        };
        for s in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "fd12::1",
            "100.64.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert_eq!(open.refusal(ip(s)), None, "{s} denied by default");
            assert!(
                strict.refusal(ip(s)).is_some(),
                "{s} allowed by strict policy"
            );
        }
        for s in ["8.8.8.8", "2606:4700::1111", "93.184.216.34"] {
            assert_eq!(strict.refusal(ip(s)), None, "{s}");
        }
    }

    #[test]
    fn literal_ip_urls_are_checked_without_dns() {
        let open = EgressPolicy::default();
        let url = Url::parse("http://169.254.169.254/latest/meta-data").expect("url");
        let err = open.check_url(&url).err();
        assert_eq!(err.map(|e| e.code()), Some(ErrorCode::EgressDenied));
        assert!(
            open.check_url(&Url::parse("http://[::ffff:a9fe:a9fe]/").expect("url"))
                .is_err()
        );
        assert!(
            open.check_url(&Url::parse("http://127.0.0.1:9/").expect("url"))
                .is_ok()
        );
        assert!(
            open.check_url(&Url::parse("https://example.com/").expect("url"))
                .is_ok()
        );
    }

    #[tokio::test]
    async fn names_resolving_to_denied_addresses_are_refused() {
        let strict = EgressPolicy {
            deny_private: false,
            deny_loopback: true,
        };
        let err = strict.resolve("localhost", 80).await.err();
        assert_eq!(err.map(|e| e.code()), Some(ErrorCode::EgressDenied));
        let open = EgressPolicy::default();
        let addrs = open
            .resolve("localhost", 80)
            .await
            .expect("localhost allowed");
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }

    proptest! {
        #[test]
        fn every_link_local_v4_address_is_denied(b in 0u8.., c in 0u8..) {
            let addr = IpAddr::V4(Ipv4Addr::new(169, 254, b, c));
            prop_assert!(EgressPolicy::default().refusal(addr).is_some());
            let mapped = IpAddr::V6(Ipv4Addr::new(169, 254, b, c).to_ipv6_mapped());
            prop_assert!(EgressPolicy::default().refusal(mapped).is_some());
        }
    }
}
