//! The client's address behind trusted reverse proxies (`server.trusted_proxies`), for the
//! brute-force throttles' per-address limits (password grant and argon2id client secrets).
//!
//! A proxy appends the address it received the request from to `X-Forwarded-For`, so the
//! header reads `client, proxy1, proxy2` and only its right end can be believed: the client
//! writes whatever it likes to the left. Walking from the connection's peer leftwards, every
//! hop in a trusted range vouches for the entry before it; the first address outside the
//! trusted ranges is the client. With no trusted proxies (the default) the header is ignored
//! and the peer is the client.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use axum::http::header::HeaderName;
use ipnet::IpNet;

/// `X-Forwarded-For` (de facto standard; RFC 7239 `Forwarded` is its successor).
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The address of the client that sent a request which reached us from `peer`.
/// IPv4 peers of a dual-stack listener (`::ffff:10.0.0.7`) count as their IPv4 address.
pub(crate) fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Every X-Forwarded-For field line as one list (RFC 9110 §5.3), walked from the right
    // on raw bytes: a non-ASCII element spoils only itself, not the addresses trusted hops
    // appended after it. No allocation: this runs on every token request.
    let hops =
        headers.get_all(&X_FORWARDED_FOR).iter().rev().flat_map(|v| v.as_bytes().rsplit(|&b| b == b','));
    let mut client = peer;
    for hop in hops {
        // An entry no trusted proxy could have written ends the walk at the last hop known.
        let Some(ip) = parse_hop(hop) else { return client };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// An address as proxies write it, with optional whitespace around it: `203.0.113.7`,
/// `2001:db8::1`, or with a port (`203.0.113.7:41234`, `[2001:db8::1]:41234`).
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop.trim_ascii()).ok()?;
    let ip = hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        raw_headers(&values.iter().map(|v| v.as_bytes()).collect::<Vec<_>>())
    }

    fn raw_headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(&X_FORWARDED_FOR, axum::http::HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn only_the_right_end_written_by_trusted_hops_is_believed() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "192.0.2.1/32".parse().unwrap()];
        let proxy = ip("10.1.1.1");
        let cases: &[(&[&str], &str)] = &[
            // No header: the proxy itself.
            (&[], "10.1.1.1"),
            (&["203.0.113.7"], "203.0.113.7"),
            // A spoofed entry on the left is skipped: the proxy appended the real client.
            (&["198.51.100.9, 203.0.113.7"], "203.0.113.7"),
            // Two trusted hops, then the client; split over two field lines.
            (&["198.51.100.9, 203.0.113.7", "192.0.2.1, 10.2.2.2"], "203.0.113.7"),
            (&["[2001:db8::7]:4711, 10.2.2.2"], "2001:db8::7"),
            (&["203.0.113.7:4711"], "203.0.113.7"),
            // Garbage where a trusted hop should have written an address: the last good hop.
            (&["203.0.113.7, unknown, 10.2.2.2"], "10.2.2.2"),
            // Only trusted hops: the leftmost of them.
            (&["10.3.3.3, 10.2.2.2"], "10.3.3.3"),
        ];
        for (values, expected) in cases {
            assert_eq!(client_address(proxy, &headers(values), &trusted), ip(expected), "{values:?}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = headers(&["10.9.9.9"]);
        assert_eq!(client_address(ip("203.0.113.7"), &h, &trusted), ip("203.0.113.7"));
        assert_eq!(client_address(ip("10.1.1.1"), &h, &[]), ip("10.1.1.1"));
        // A dual-stack listener sees IPv4 peers as IPv4-mapped IPv6 addresses.
        assert_eq!(client_address(ip("::ffff:10.1.1.1"), &h, &trusted), ip("10.9.9.9"));
        assert_eq!(client_address(ip("::ffff:203.0.113.7"), &h, &trusted), ip("203.0.113.7"));
    }

    #[test]
    fn a_non_ascii_element_spoils_only_itself() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = ip("10.1.1.1");
        let cases: &[(&[&[u8]], &str)] = &[
            // Junk on the left, written by the client: the proxy's entry still counts.
            (&[b"\xff\xfe, 203.0.113.7"], "203.0.113.7"),
            (&[b"caf\xc3\xa9,203.0.113.7 ,10.2.2.2"], "203.0.113.7"),
            // On another field line, too.
            (&[b"\xe2\x98\x83", b"203.0.113.7"], "203.0.113.7"),
            // Junk where a trusted hop should have written: the last good hop, as for ASCII.
            (&[b"203.0.113.7, \xff, 10.2.2.2"], "10.2.2.2"),
            (&[b"\xff"], "10.1.1.1"),
        ];
        for (values, expected) in cases {
            assert_eq!(client_address(proxy, &raw_headers(values), &trusted), ip(expected), "{values:?}");
        }
    }
}
