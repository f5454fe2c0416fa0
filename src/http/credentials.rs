//! Client credentials from a request (RFC 6749 §2.3): HTTP Basic, `client_id` and
//! `client_secret` in the body, or a JWT client assertion (RFC 7521 §4.2, RFC 7523 §2.2);
//! for the RFC 7523 §2.1 grant, its `assertion`. One method per request, never in the query
//! string.

use std::borrow::Cow;

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::error::OAuthError;
use super::params::Params;
use super::{Repeated, single_header};
use crate::clients::{AuthMethod, Claimed, ClientCredentials, Proof};
use crate::credentials::Secret;
use crate::oauth::{GrantType, JWT_ASSERTION_TYPE};

/// Standard base64, padding optional: some clients strip it from Basic credentials.
const BASIC_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A client id and a secret presented by `method`.
fn secret_credentials(client_id: String, secret: String, method: AuthMethod) -> ClientCredentials {
    ClientCredentials { client_id, proof: Proof::Secret { secret: Secret::new(secret), method } }
}

/// Finds the client's credentials in the `Authorization` header or the body, and refuses
/// requests that use both or neither, or that repeat the header (not a list field, RFC 9110
/// §5.3: which one counts would be the reader's guess).
pub(crate) fn client_credentials(
    headers: &HeaderMap,
    params: &Params,
) -> Result<ClientCredentials, OAuthError> {
    let authorization = single_header(headers, header::AUTHORIZATION).map_err(|Repeated| {
        OAuthError::invalid_request("more than one Authorization header (RFC 9110 section 5.3)")
    })?;
    let basic = match authorization {
        Some(value) => Some(parse_basic(value.as_bytes())?),
        None => None,
    };
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    let assertion = (params.get("client_assertion_type"), params.get("client_assertion"));
    let one_method = || {
        OAuthError::invalid_request(
            "use one client authentication method: a client assertion was sent with other client credentials \
             (RFC 6749 section 2.3)",
        )
    };
    if params.get("grant_type") == Some(GrantType::JwtBearer.as_str()) {
        if basic.is_some() || body_secret.is_some() || assertion != (None, None) {
            return Err(one_method());
        }
        let token = params
            .get("assertion")
            .ok_or_else(|| OAuthError::invalid_request("missing `assertion` (RFC 7523 section 2.1)"))?;
        let client_id = body_id.ok_or_else(|| {
            OAuthError::invalid_request(
                "missing `client_id`: the jwt-bearer grant names the client it acts as",
            )
        })?;
        let proof =
            Proof::Assertion { token: token.to_owned(), method: AuthMethod::FederatedJwt, as_grant: true };
        return Ok(ClientCredentials { client_id: client_id.to_owned(), proof });
    }
    if assertion != (None, None) {
        if basic.is_some() || body_secret.is_some() {
            return Err(one_method());
        }
        return client_assertion(assertion, body_id);
    }
    match (basic, body_id, body_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "use one client authentication method: both Basic credentials and client_secret were sent (RFC 6749 section 2.3)",
        )),
        (Some(creds), Some(id), None) if id != creds.client_id => {
            Err(OAuthError::invalid_request("client_id in the body does not match the Basic credentials"))
        }
        (Some(creds), _, None) => Ok(creds),
        (None, Some(id), Some(secret)) => {
            Ok(secret_credentials(id.to_owned(), secret.to_owned(), AuthMethod::SecretPost))
        }
        (None, _, _) => Err(OAuthError::invalid_client(
            "client authentication required: send HTTP Basic credentials or client_id and client_secret",
        )),
    }
}

/// A JWT client assertion (RFC 7521 §4.2): `client_assertion_type` must be the JWT bearer
/// type (RFC 7523 §2.2). The client is the one `client_id` names; without it, the
/// assertion's `sub` (RFC 7521 §4.2 makes `client_id` optional), which only a self-issued
/// assertion (`private_key_jwt`) may leave to the assertion: a federated identity token's
/// subject is not a client id.
fn client_assertion(
    (assertion_type, assertion): (Option<&str>, Option<&str>),
    body_id: Option<&str>,
) -> Result<ClientCredentials, OAuthError> {
    let (Some(assertion_type), Some(token)) = (assertion_type, assertion) else {
        return Err(OAuthError::invalid_request(
            "send both `client_assertion_type` and `client_assertion` (RFC 7521 section 4.2)",
        ));
    };
    if assertion_type != JWT_ASSERTION_TYPE {
        return Err(OAuthError::invalid_client(
            "unsupported client_assertion_type: use urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
    }
    let claimed = Claimed::of(token).ok_or_else(|| {
        OAuthError::invalid_client("malformed client assertion: a JWT with `iss` and `sub` is required")
    })?;
    let method = if claimed.self_issued() { AuthMethod::PrivateKeyJwt } else { AuthMethod::FederatedJwt };
    let client_id = match (body_id, method) {
        (Some(id), AuthMethod::PrivateKeyJwt) if id != claimed.sub => {
            return Err(OAuthError::invalid_client("client_id does not match the assertion's sub"));
        }
        (Some(id), _) => id.to_owned(),
        (None, AuthMethod::PrivateKeyJwt) => claimed.sub,
        (None, _) => {
            return Err(OAuthError::invalid_client(
                "client_id is required with an identity token of another issuer",
            ));
        }
    };
    Ok(ClientCredentials {
        client_id,
        proof: Proof::Assertion { token: token.to_owned(), method, as_grant: false },
    })
}

/// Decodes `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
///
/// Malformed credentials are `invalid_client` (401 with the Basic challenge): the client
/// tried to authenticate through the `Authorization` header and failed (RFC 6749 §5.2).
fn parse_basic(value: &[u8]) -> Result<ClientCredentials, OAuthError> {
    let malformed = || OAuthError::invalid_client("malformed Basic credentials (RFC 6749 section 2.3.1)");
    let (scheme, rest) = value.split_at(value.iter().position(|b| *b == b' ').unwrap_or(value.len()));
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Err(OAuthError::invalid_client("unsupported authorization scheme: use Basic"));
    }
    let decoded = BASIC_B64.decode(rest.trim_ascii()).map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    let id = form_decode(id).ok_or_else(malformed)?;
    let secret = form_decode(secret).ok_or_else(malformed)?;
    if id.is_empty() {
        return Err(malformed());
    }
    Ok(secret_credentials(id.into_owned(), secret.into_owned(), AuthMethod::SecretBasic))
}

/// `application/x-www-form-urlencoded` decoding of one component: `+` is a space, `%XX` a
/// byte; the result must be UTF-8.
fn form_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains(['+', '%']) {
        return Some(Cow::Borrowed(s));
    }
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(|c| Cow::Owned(c.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw));
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn basic_credentials_are_form_decoded_rfc6749_2_3_1() {
        let creds = client_credentials(&basic("my%2Dclient:a%2Bb+c%3A"), &Params::default()).unwrap();
        assert_eq!(creds.client_id, "my-client");
        let Proof::Secret { secret, method } = creds.proof else { panic!("a secret") };
        assert_eq!(secret.expose_str(), "a+b c:");
        assert_eq!(method, AuthMethod::SecretBasic);
    }
}
