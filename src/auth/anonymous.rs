//! Anonymous sessions (off by default): a request without `Authorization`
//! gets a principal whose session id is `anon_` + hex of an HMAC-SHA256,
//! keyed with a key derived from the server secret, over the client address,
//! the `User-Agent` and (from a trusted proxy) the forwarded headers. The id
//! is stable for one client, and no one can choose or guess another's: it is
//! only ever computed here, never read from the request.
//!
//! The client address is the TCP peer, unless the peer is one of
//! `auth.trusted_proxies`: then `X-Forwarded-For` (or `Forwarded: for=`) is
//! walked from the right, skipping trusted hops, and the first untrusted
//! address is the client.

use std::net::{IpAddr, SocketAddr};

use aws_lc_rs::hmac;
use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::header::{FORWARDED, HOST, ORIGIN, USER_AGENT};
use axum::http::request::Parts;

use crate::error::Error;
use crate::ids::SessionId;
use crate::net::IpRange;
use crate::principal::{ANONYMOUS_PREFIX, Credential, Principal, Role};

/// What the HMAC key is derived for (see [`crate::secret::derive_key`]).
pub const KEY_PURPOSE: &str = "manifold anonymous session v1";

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Whether a browser sent the request from a page of another origin: it
/// carries an `Origin` that is neither the request's own host nor one of
/// `allowed` (`"*"` allows every origin). Requests without `Origin` (non-browser
/// clients, same-origin GETs) are not cross-origin.
pub fn is_cross_origin(parts: &Parts, allowed: &[String]) -> bool {
    let Some(origin) = parts.headers.get(ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    let origin = origin.trim().trim_end_matches('/');
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return false;
    }
    let own = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    match (own, authority) {
        (Some(own), Some(authority)) => !own.trim().eq_ignore_ascii_case(authority),
        _ => true,
    }
}

/// Computes anonymous principals.
pub struct Anonymous {
    key: hmac::Key,
    trusted: Vec<IpRange>,
}

impl Anonymous {
    /// Anonymous sessions keyed with `key`, believing forwarded headers from `trusted`.
    pub fn new(key: &[u8; 32], trusted: Vec<IpRange>) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            trusted,
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|range| range.contains(ip))
    }

    /// The anonymous principal of a request without credentials. A browser
    /// request from another origin is refused (403): the session hangs on
    /// the client's address and user agent, which every page the client
    /// opens shares, so another site could otherwise act in it. `allowed`
    /// is `http.allowed_origins`.
    pub fn principal(&self, parts: &Parts, allowed: &[String]) -> Result<Principal, Error> {
        if is_cross_origin(parts, allowed) {
            return Err(Error::Forbidden(
                "anonymous sessions refuse requests from another origin's page; send a credential"
                    .into(),
            ));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
            .ok_or_else(|| Error::Unauthorized("the client address is unknown".into()))?;
        let id = self.session_id(peer, &parts.headers);
        let session = SessionId::parse(&id)?;
        Ok(Principal {
            user_id: id,
            role: Role::Anonymous,
            session,
            credential: Credential::Anonymous,
        })
    }

    /// `anon_` + hex HMAC over the client address, `User-Agent` and, from a
    /// trusted peer, the forwarded headers.
    pub fn session_id(&self, peer: IpAddr, headers: &HeaderMap) -> String {
        let trusted = self.is_trusted(peer);
        let client = if trusted {
            self.client_behind_proxy(peer, headers)
        } else {
            peer.to_string()
        };
        let header = |name| {
            headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut ctx = hmac::Context::with_key(&self.key);
        let mut field = |value: &str| {
            // Length-prefixed, so fields cannot run into each other.
            ctx.update(&(value.len() as u64).to_be_bytes());
            ctx.update(value.as_bytes());
        };
        field(&client);
        field(&header(USER_AGENT.as_str()));
        if trusted {
            field(&header(X_FORWARDED_FOR));
            field(&header(FORWARDED.as_str()));
        }
        let tag = ctx.sign();
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("{ANONYMOUS_PREFIX}{hex}")
    }

    /// The first untrusted hop from the right of the forwarded chain (the
    /// leftmost when every hop is trusted, the peer when there is no chain).
    fn client_behind_proxy(&self, peer: IpAddr, headers: &HeaderMap) -> String {
        let chain = forwarded_chain(headers);
        for hop in chain.iter().rev() {
            match parse_hop(hop) {
                Some(ip) if self.is_trusted(ip) => continue,
                Some(ip) => return ip.to_string(),
                // An unparsable hop (`unknown`, an obfuscated id) is the client.
                None => return hop.clone(),
            }
        }
        chain
            .first()
            .map(|hop| parse_hop(hop).map_or_else(|| hop.clone(), |ip| ip.to_string()))
            .unwrap_or_else(|| peer.to_string())
    }
}

/// The hops of `X-Forwarded-For`, or else of `Forwarded`'s `for=` parameters,
/// left (client) to right (nearest proxy).
fn forwarded_chain(headers: &HeaderMap) -> Vec<String> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let xff = values(X_FORWARDED_FOR);
    if !xff.is_empty() {
        return xff;
    }
    values(FORWARDED.as_str())
        .iter()
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.eq_ignore_ascii_case("for")
                    .then(|| value.trim().trim_matches('"').to_owned())
            })
        })
        .collect()
}

/// An address from a forwarded hop: `1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(addr) = hop.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    hop.strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let anon = Anonymous::new(&[1; 32], vec![IpRange::parse("10.0.0.0/8").unwrap()]);
        let mut h = HeaderMap::new();
        h.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_static("6.6.6.6, 1.2.3.4, 10.0.0.2"),
        );
        assert_eq!(anon.client_behind_proxy(ip("10.0.0.1"), &h), "1.2.3.4");
        let mut f = HeaderMap::new();
        f.insert(
            FORWARDED,
            HeaderValue::from_static("for=\"[2001:db8::1]:4711\";proto=https"),
        );
        assert_eq!(anon.client_behind_proxy(ip("10.0.0.1"), &f), "2001:db8::1");
        assert_eq!(
            anon.client_behind_proxy(ip("10.0.0.1"), &HeaderMap::new()),
            "10.0.0.1"
        );
    }

    #[test]
    fn ids_depend_on_the_key_and_ignore_forwarding_from_untrusted_peers() {
        let a = Anonymous::new(&[1; 32], Vec::new());
        let mut h = HeaderMap::new();
        h.insert(USER_AGENT, HeaderValue::from_static("ua"));
        let id = a.session_id(ip("1.1.1.1"), &h);
        assert!(id.starts_with(ANONYMOUS_PREFIX) && id.len() == 5 + 64);
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("9.9.9.9"));
        assert_eq!(a.session_id(ip("1.1.1.1"), &h), id);
        assert_ne!(
            Anonymous::new(&[2; 32], Vec::new()).session_id(ip("1.1.1.1"), &h),
            id
        );
    }

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::builder().uri("/api/v1/me");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn only_a_foreign_origin_header_makes_a_request_cross_origin() {
        let none: Vec<String> = Vec::new();
        let host = ("host", "gw.example:8080");
        assert!(!is_cross_origin(&parts(&[host]), &none));
        assert!(!is_cross_origin(
            &parts(&[host, ("origin", "http://GW.example:8080")]),
            &none
        ));
        assert!(is_cross_origin(
            &parts(&[host, ("origin", "http://evil.example")]),
            &none
        ));
        assert!(is_cross_origin(
            &parts(&[host, ("origin", "http://gw.example:9090")]),
            &none
        ));
        assert!(is_cross_origin(&parts(&[host, ("origin", "null")]), &none));
        assert!(is_cross_origin(
            &parts(&[("origin", "http://gw.example:8080")]),
            &none
        ));
        let allowed = vec!["https://app.example/".to_owned()];
        assert!(!is_cross_origin(
            &parts(&[host, ("origin", "https://app.example")]),
            &allowed
        ));
        assert!(!is_cross_origin(
            &parts(&[host, ("origin", "http://evil.example")]),
            &["*".to_owned()]
        ));
    }
}
