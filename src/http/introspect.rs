//! `POST /oauth2/introspect` (RFC 7662): for resource servers that cannot verify locally.
//!
//! The caller authenticates like at the token endpoint. The answer is `{"active": true,
//! "token_type": "Bearer", ...claims}` for a valid token and `{"active": false}` for anything
//! else, with no reason given (RFC 7662 §2.2).

use std::pin::pin;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::AppState;
use super::credentials::client_credentials;
use super::error::{ErrorCode, OAuthError, no_store_json};
use super::params::Params;
use crate::claims::{AccessClaims, Audience};

/// Every member [`Active`] writes itself. A token claim with one of these names is left out
/// of the response, so no member ever appears twice (configuration refuses them as extra
/// claims, but a token signed before that rule, or by an older release, may carry one).
const RESPONSE_MEMBERS: &[&str] =
    &["active", "token_type", "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"];

/// The answer for an active token: RFC 7662 §2.2's members, then the token's other claims.
#[derive(Serialize)]
struct Active<'a> {
    active: bool,
    token_type: &'static str,
    iss: &'a str,
    sub: &'a str,
    aud: &'a Audience,
    exp: u64,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    jti: &'a str,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(flatten)]
    extra: OtherClaims<'a>,
}

impl<'a> Active<'a> {
    fn new(claims: &'a AccessClaims) -> Self {
        // No `..`: a new field in `AccessClaims` must be placed here (and in
        // `RESPONSE_MEMBERS`) before this compiles.
        let AccessClaims { iss, sub, aud, exp, iat, nbf, jti, client_id, scope, extra } = claims;
        Active {
            active: true,
            token_type: "Bearer",
            iss,
            sub,
            aud,
            exp: *exp,
            iat: *iat,
            nbf: *nbf,
            jti,
            client_id,
            scope: scope.as_deref(),
            extra: OtherClaims(extra),
        }
    }
}

/// A token's extra claims, minus any that would repeat one of [`RESPONSE_MEMBERS`].
struct OtherClaims<'a>(&'a Map<String, Value>);

impl Serialize for OtherClaims<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().filter(|(name, _)| !RESPONSE_MEMBERS.contains(&name.as_str())))
    }
}

/// The introspection endpoint.
pub(crate) async fn introspect(State(state): State<AppState>, request: Request) -> Response {
    match state.limits().in_time(pin!(handle(&state, request))).await.and_then(|handled| handled) {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn handle(state: &AppState, request: Request) -> Result<Response, OAuthError> {
    let (parts, body) = state.limits().read(request).await?;
    let params = Params::parse(&parts.headers, None, &body)?;
    let credentials = client_credentials(&parts.headers, &params)?;
    let live = state.live();
    live.registry()
        .authenticate(&credentials, state.requester(&parts, state.monotonic()), state.now())
        .await?;
    let Some(token) = params.get("token") else {
        return Err(OAuthError::invalid_request("missing `token` (RFC 7662 section 2.1)"));
    };
    let answer = live.issuer().introspect(token, live.registry(), state.now());
    state.metrics().introspection(answer.is_ok());
    let body = match answer {
        Ok(claims) => serde_json::to_vec(&Active::new(&claims)),
        Err(reason) => {
            tracing::debug!(caller = %credentials.client_id, reason = %reason, "introspected an inactive token");
            Ok(br#"{"active":false}"#.to_vec())
        }
    }
    .map_err(|_| OAuthError::new(ErrorCode::ServerError, "response encoding failed"))?;
    Ok(no_store_json(StatusCode::OK, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::RESERVED_CLAIMS;
    use crate::http::params::PairsVisitor;

    /// The member names of a JSON object in order, repeats included (a `Map` would fold them).
    fn member_names(json: &[u8]) -> Vec<String> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let pairs = serde::Deserializer::deserialize_map(&mut de, PairsVisitor).expect("a JSON object");
        pairs.into_iter().map(|(name, _)| name).collect()
    }

    fn claims(extra: Map<String, Value>) -> AccessClaims {
        AccessClaims {
            iss: "https://tokens.test".into(),
            sub: "svc".into(),
            aud: Audience::One("https://api".into()),
            exp: 2,
            iat: 1,
            nbf: Some(1),
            jti: "j".into(),
            client_id: "svc".into(),
            scope: Some("read".into()),
            extra,
        }
    }

    #[test]
    fn the_response_writes_exactly_its_own_members_rfc7662_2_2() {
        let json = serde_json::to_vec(&Active::new(&claims(Map::new()))).unwrap();
        assert_eq!(member_names(&json), RESPONSE_MEMBERS);
    }

    #[test]
    fn a_claim_named_like_a_response_member_never_repeats_it_rfc7662_2_2() {
        let mut extra: Map<String, Value> =
            RESPONSE_MEMBERS.iter().map(|name| ((*name).to_owned(), Value::from("forged"))).collect();
        extra.insert("tenant".into(), Value::from("acme"));
        let json = serde_json::to_vec(&Active::new(&claims(extra))).unwrap();
        let names = member_names(&json);
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "repeated members in {}", String::from_utf8_lossy(&json));
        let body: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(body["active"], true);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["sub"], "svc");
        assert_eq!(body["tenant"], "acme");
    }

    #[test]
    fn configuration_refuses_every_member_the_response_sets_as_a_claim() {
        for name in RESPONSE_MEMBERS {
            assert!(RESERVED_CLAIMS.contains(name), "`{name}` is not in RESERVED_CLAIMS");
        }
    }
}
