//! OAuth 2.0 vocabulary shared by every module: the grant types tokenmint implements and
//! the RFC 6749 / RFC 8707 grammar of scope tokens, error descriptions and resource URIs.
//!
//! A leaf: imports nothing of the crate.

use std::fmt;

/// An OAuth grant type tokenmint implements (RFC 6749 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum GrantType {
    /// `client_credentials` (RFC 6749 §4.4).
    ClientCredentials,
    /// `password`: the resource owner password credentials grant (RFC 6749 §4.3).
    /// Deprecated by OAuth 2.1 and RFC 9700; for first-party legacy apps only.
    Password,
    /// `refresh_token` (RFC 6749 §6): with `password`, also issue refresh tokens.
    RefreshToken,
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1): an identity token of a
    /// trusted issuer is the grant, and proves which client asks (workload identity
    /// federation); the token is the client's own, as with client credentials.
    JwtBearer,
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): a token the client
    /// holds, traded for a narrower or delegated one.
    TokenExchange,
}

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub(crate) const JWT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

impl GrantType {
    /// Every grant type this build implements.
    pub(crate) const ALL: &'static [GrantType] = &[
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::RefreshToken,
        GrantType::JwtBearer,
        GrantType::TokenExchange,
    ];

    /// The wire name, as in `grant_type=` and in discovery metadata.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
            GrantType::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    /// Parses a wire name; `None` for a grant type this build does not implement.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|g| g.as_str() == name)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `b` is an RFC 6749 Appendix A `NQCHAR`: `%x21 / %x23-5B / %x5D-7E`, printable
/// ASCII without space, `"` and `\`. Scope tokens are made of these (§3.3), and error
/// descriptions of these plus space (§5.2).
pub(crate) fn is_nqchar(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e)
}

/// Whether `token` is a valid scope token: RFC 6749 §3.3, `scope-token = 1*NQCHAR`.
pub(crate) fn is_scope_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(is_nqchar)
}

/// The scope tokens of a `scope` parameter (RFC 6749 §3.3: space-delimited), duplicates
/// dropped, in the order first given; `Err` with the first token that breaks the grammar.
pub(crate) fn scope_tokens(scope: &str) -> Result<Vec<&str>, &str> {
    let mut tokens: Vec<&str> = Vec::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        if !is_scope_token(token) {
            return Err(token);
        }
        if !tokens.contains(&token) {
            tokens.push(token);
        }
    }
    Ok(tokens)
}

/// Whether `value` may be a `resource` parameter (RFC 8707 §2): an absolute URI (RFC 3986
/// §4.3, as the `url` crate parses it) with no fragment component, and no whitespace,
/// control or non-ASCII characters (which a URI cannot hold, though `url` would tidy them).
pub(crate) fn is_resource_uri(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_graphic())
        && url::Url::parse(value).is_ok_and(|uri| uri.fragment().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_tokens_follow_rfc6749_section_3_3() {
        assert!(is_scope_token("invoices:read"));
        assert!(is_scope_token("a!#[]~"));
        assert!(!is_scope_token(""));
        assert!(!is_scope_token("has space"));
        assert!(!is_scope_token("quote\""));
        assert!(!is_scope_token("back\\slash"));
        assert!(!is_scope_token("naïve"));
    }

    #[test]
    fn a_scope_parameter_splits_on_spaces_and_drops_repeats_rfc6749_3_3() {
        assert_eq!(scope_tokens(" a  b a c "), Ok(vec!["a", "b", "c"]));
        assert_eq!(scope_tokens(""), Ok(vec![]));
        assert_eq!(scope_tokens("a b\"c d"), Err("b\"c"));
    }

    #[test]
    fn resources_are_absolute_uris_without_a_fragment_rfc8707_2() {
        for ok in ["https://api.example.com", "https://api.example.com/v1?x=1", "urn:example:billing"] {
            assert!(is_resource_uri(ok), "{ok}");
        }
        for bad in ["billing", "/relative", "https://api.example.com#frag", "https://api.example.com#", ""] {
            assert!(!is_resource_uri(bad), "{bad}");
        }
        for bad in [" https://api.example.com", "https://api.example.com/a b", "https://\u{e9}.example"] {
            assert!(!is_resource_uri(bad), "{bad:?}");
        }
    }
}
