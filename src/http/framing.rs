//! The message framing hyper leaves to the application (RFC 9112), checked on every request
//! that arrives over a connection, before routing. Where a proxy in front and tokenmint
//! could read one request two ways, request smuggling starts; these requests are refused,
//! and the connection is closed after the answer.
//!
//! - An HTTP/1.1 request has exactly one `Host` field, with a valid value (RFC 9112 §3.2,
//!   a MUST): `host[:port]`, no user information. An HTTP/1.0 request may omit it.
//! - An HTTP/2 request names its target's authority in `:authority`, which hyper puts in
//!   the request URI (RFC 9113 §8.3.1), or failing that in one `Host` field: one of them is
//!   required and valid, as HTTP/1.1's `Host` is, and a `Host` beside `:authority` names
//!   the same authority (RFC 9113 §8.3.1: a server SHOULD treat a request whose `Host`
//!   differs as malformed). HTTP/2 has no `Transfer-Encoding` (RFC 9113 §8.2.2, refused by
//!   h2 itself).
//! - `Transfer-Encoding` names only `chunked`, once (RFC 9112 §6.1, §7): hyper refuses a
//!   request whose final coding is not chunked, but passes `gzip, chunked` (a body this
//!   service cannot decode) and `chunked, chunked` (chunked applied twice, which a sender
//!   MUST NOT do). Both are answered 400 here: the request is the client's fault, and a
//!   client error is never answered with a 5xx.
//!
//! What hyper does not keep cannot be checked: the `http` crate drops a request-target's
//! fragment while parsing it, so `/oauth2/token#x` is served as `/oauth2/token`. A
//! fragment never names another resource, so this reading is not ambiguous.

use axum::http::uri::Authority;
use axum::http::{HeaderMap, Uri, Version, header};
use axum::response::{IntoResponse, Response};

use super::error::OAuthError;
use super::{Repeated, single_header};

/// The answer to a request whose framing is refused, or `None` to route it.
pub(crate) fn refusal(version: Version, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    let problem = if version == Version::HTTP_2 {
        authority_problem(uri, headers)
    } else {
        host_problem(version, headers).or_else(|| transfer_coding_problem(headers))
    }?;
    // What follows on this connection cannot be trusted to start where hyper thinks.
    Some(OAuthError::invalid_request(problem).closing().into_response())
}

/// What is wrong with the request's `Host` fields (RFC 9112 §3.2).
fn host_problem(version: Version, headers: &HeaderMap) -> Option<&'static str> {
    match single_header(headers, header::HOST) {
        Ok(None) if version == Version::HTTP_11 => {
            Some("an HTTP/1.1 request must carry a Host header (RFC 9112 section 3.2)")
        }
        Ok(None) => None,
        Err(Repeated) => Some("more than one Host header (RFC 9112 section 3.2)"),
        Ok(Some(host)) if !is_valid_host(host.as_bytes()) => {
            Some("invalid Host header: expected host or host:port (RFC 9112 section 3.2)")
        }
        Ok(Some(_)) => None,
    }
}

/// What is wrong with an HTTP/2 request's `:authority` and `Host` (RFC 9113 §8.3.1).
fn authority_problem(uri: &Uri, headers: &HeaderMap) -> Option<&'static str> {
    let host = match single_header(headers, header::HOST) {
        Ok(host) => host,
        Err(Repeated) => return Some("more than one Host header (RFC 9113 section 8.3.1)"),
    };
    match (uri.authority(), host) {
        (None, None) => Some("an HTTP/2 request must carry :authority or Host (RFC 9113 section 8.3.1)"),
        (Some(authority), _) if !is_valid_host(authority.as_str().as_bytes()) => {
            Some("invalid :authority: expected host or host:port (RFC 9113 section 8.3.1)")
        }
        (Some(authority), Some(host))
            if !authority.as_str().as_bytes().eq_ignore_ascii_case(host.as_bytes()) =>
        {
            Some("Host differs from :authority (RFC 9113 section 8.3.1)")
        }
        (None, Some(host)) if !is_valid_host(host.as_bytes()) => {
            Some("invalid Host header: expected host or host:port (RFC 9113 section 8.3.1)")
        }
        _ => None,
    }
}

/// `uri-host [":" port]` (RFC 9112 §3.2): an authority without user information.
fn is_valid_host(value: &[u8]) -> bool {
    if value.is_empty() || value.contains(&b'@') {
        return false;
    }
    // `Authority` takes any text after the last `:` as the port; a port is digits.
    Authority::try_from(value).is_ok_and(|a| a.as_str().len() == a.host().len() || a.port_u16().is_some())
}

/// What is wrong with the request's transfer codings (RFC 9112 §6.1).
fn transfer_coding_problem(headers: &HeaderMap) -> Option<&'static str> {
    let mut chunked = 0;
    let codings = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|field| field.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|coding| !coding.is_empty());
    for coding in codings {
        if !coding.eq_ignore_ascii_case(b"chunked") {
            return Some(
                "unsupported transfer coding: send the body with chunked alone or with Content-Length (RFC 9112 section 6.1)",
            );
        }
        chunked += 1;
    }
    (chunked > 1).then_some("chunked applied more than once (RFC 9112 section 6.1)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn host_values_rfc9112_3_2() {
        for good in ["tokens.example", "tokens.example:8443", "127.0.0.1:80", "[::1]:8080"] {
            assert!(is_valid_host(good.as_bytes()), "{good}");
        }
        for bad in ["", "user:pw@tokens.example", "a b", "tokens.example:port", "tokens.example/path"] {
            assert!(!is_valid_host(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn only_a_single_chunked_coding_is_accepted_rfc9112_6_1() {
        assert_eq!(transfer_coding_problem(&headers(&[("transfer-encoding", "chunked")])), None);
        assert_eq!(transfer_coding_problem(&headers(&[("transfer-encoding", "Chunked ")])), None);
        for refused in [
            &[("transfer-encoding", "gzip, chunked")][..],
            &[("transfer-encoding", "chunked, chunked")],
            &[("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")],
            &[("transfer-encoding", "chunked;ext=1")],
        ] {
            assert!(transfer_coding_problem(&headers(refused)).is_some(), "{refused:?}");
        }
    }

    #[test]
    fn an_http2_request_names_one_valid_authority_rfc9113_8_3_1() {
        let uri = |u: &str| u.parse::<Uri>().unwrap();
        let none = HeaderMap::new();
        assert!(authority_problem(&uri("https://tokens.example/oauth2/token"), &none).is_none());
        assert!(authority_problem(&uri("/oauth2/token"), &headers(&[("host", "tokens.example")])).is_none());
        let same = headers(&[("host", "Tokens.Example:8443")]);
        assert!(authority_problem(&uri("https://tokens.example:8443/x"), &same).is_none());
        assert!(authority_problem(&uri("/oauth2/token"), &none).is_some());
        assert!(authority_problem(&uri("https://user@tokens.example/x"), &none).is_some());
        assert!(authority_problem(&uri("https://a.example/x"), &headers(&[("host", "b.example")])).is_some());
        let two = headers(&[("host", "a"), ("host", "a")]);
        assert!(authority_problem(&uri("https://a/x"), &two).is_some());
    }

    #[test]
    fn an_http_1_0_request_may_omit_host_but_not_repeat_it() {
        assert!(host_problem(Version::HTTP_10, &HeaderMap::new()).is_none());
        assert!(host_problem(Version::HTTP_11, &HeaderMap::new()).is_some());
        let two = headers(&[("host", "a"), ("host", "a")]);
        assert!(host_problem(Version::HTTP_10, &two).is_some());
    }
}
