//! Read-only documents: the JWKS (RFC 7517), authorization server metadata (RFC 8414) and
//! its OpenID Connect twin, and the health probes. All bodies are precomputed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::clients::{ASSERTION_ALGORITHMS, AuthMethod, Registry};
use crate::token::Issuer;

/// Path of the JWK Set.
pub(crate) const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Path of the token endpoint.
pub(crate) const TOKEN_PATH: &str = "/oauth2/token";
/// Path of the introspection endpoint (RFC 7662).
pub(crate) const INTROSPECT_PATH: &str = "/oauth2/introspect";

/// `GET /.well-known/jwks.json`: cacheable, with an ETag and 304 on `If-None-Match`.
pub(crate) async fn jwks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let keys = state.keys().current_at(state.now());
    let doc = &keys.jwks;
    let etag =
        HeaderValue::from_maybe_shared(doc.etag.clone()).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let not_modified = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t.as_bytes() == doc.etag.as_ref() || t == "*");
    let cache = state.jwks_cache_control(&keys);
    state.metrics().jwks(not_modified);
    if not_modified {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), (header::CACHE_CONTROL, cache)])
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
        ],
        doc.bytes.clone(),
    )
        .into_response()
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414 §3).
pub(crate) async fn oauth_metadata(State(state): State<AppState>) -> Response {
    metadata_response(state.live().metadata.oauth.clone())
}

/// The RFC 8414 §3.1 metadata path of an issuer with a path component
/// (`/.well-known/oauth-authorization-server/tenant` for `https://host/tenant`); `None` for an
/// issuer without one, whose metadata path is the plain one.
pub(crate) fn path_inserted_metadata(issuer: &str) -> Option<String> {
    let url = url::Url::parse(issuer).ok()?;
    let path = url.path().trim_end_matches('/');
    (!path.is_empty()).then(|| format!("{OAUTH_METADATA_PATH}{path}"))
}

/// Path of the authorization server metadata (RFC 8414 §3).
pub(crate) const OAUTH_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4).
pub(crate) async fn openid_metadata(State(state): State<AppState>) -> Response {
    metadata_response(state.live().metadata.openid.clone())
}

fn metadata_response(body: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
        ],
        body,
    )
        .into_response()
}

/// `GET /healthz`: the process is up.
pub(crate) async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: configuration is loaded and a signing key is available. Without one
/// (every key that could sign was revoked), and from the moment shutdown begins (SIGTERM,
/// for `server.shutdown_delay` before the listener closes), it answers 503, so load
/// balancers stop sending token requests here.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if state.draining() {
        return unavailable("shutting down");
    }
    let keys = state.keys().current_at(state.now());
    match keys.signer() {
        Ok(signer) => {
            axum::Json(json!({"status": "ready", "kid": signer.kid(), "alg": signer.alg().as_str()}))
                .into_response()
        }
        Err(e) => unavailable(&e.to_string()),
    }
}

/// `503` from `/readyz`, with the reason.
fn unavailable(reason: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(json!({"status": "unavailable", "reason": reason})),
    )
        .into_response()
}

/// Both discovery documents, serialized once at startup.
#[derive(Debug)]
pub(crate) struct Metadata {
    oauth: Bytes,
    openid: Bytes,
}

impl Metadata {
    /// Builds the documents from the issuer, its advertised grants and the clients' scopes.
    pub(crate) fn build(issuer: &Issuer, registry: &Registry) -> Self {
        let base = issuer.issuer().trim_end_matches('/');
        let mut scopes: Vec<&str> =
            registry.iter().flat_map(|c| c.scopes.iter().map(String::as_str)).collect();
        scopes.sort_unstable();
        scopes.dedup();
        let grants: Vec<&str> = issuer.advertised_grants(registry).iter().map(|g| g.as_str()).collect();
        let alg = issuer.keys().alg();
        // The RFC 7591 methods some client may use, in a fixed order.
        let methods: Vec<&str> = [AuthMethod::SecretBasic, AuthMethod::SecretPost, AuthMethod::PrivateKeyJwt]
            .into_iter()
            .filter(|m| registry.iter().any(|c| c.allows_method(*m)))
            .map(AuthMethod::as_str)
            .collect();
        // jsonwebtoken writes each by its JWA name (RFC 7518 §3.1).
        let assertion_algs = ASSERTION_ALGORITHMS;
        let mut doc = json!({
            "issuer": issuer.issuer(),
            "token_endpoint": format!("{base}{TOKEN_PATH}"),
            "jwks_uri": format!("{base}{JWKS_PATH}"),
            "grant_types_supported": grants,
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
            "introspection_endpoint": format!("{base}{INTROSPECT_PATH}"),
            "introspection_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
            "scopes_supported": scopes,
            "response_types_supported": [],
        });
        let oauth = Bytes::from(doc.to_string());
        if let Some(map) = doc.as_object_mut() {
            map.insert("subject_types_supported".into(), json!(["public"]));
            map.insert("id_token_signing_alg_values_supported".into(), json!([alg.as_str()]));
        }
        Metadata { oauth, openid: Bytes::from(doc.to_string()) }
    }
}
