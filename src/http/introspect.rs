//! `POST /oauth2/introspect` (RFC 7662): for resource servers that cannot verify locally.
//!
//! The caller authenticates like at the token endpoint. The answer is `{"active": true,
//! ...claims}` for a valid token and `{"active": false}` for anything else, with no reason
//! given (RFC 7662 §2.2).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::error::{ErrorCode, OAuthError, no_store_json};
use super::params::{Params, client_credentials};
use crate::claims::AccessClaims;

#[derive(Serialize)]
struct Active<'a> {
    active: bool,
    token_type: &'static str,
    #[serde(flatten)]
    claims: &'a AccessClaims,
}

/// The introspection endpoint.
pub(crate) async fn introspect(State(state): State<AppState>, request: Request) -> Response {
    match state.limits().in_time(handle(&state, request)).await.and_then(|handled| handled) {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn handle(state: &AppState, request: Request) -> Result<Response, OAuthError> {
    let (parts, body) = state.limits().read(request).await?;
    let params = Params::parse(&parts.headers, None, &body)?;
    let creds = client_credentials(&parts.headers, &params)?;
    state.registry().authenticate(&creds.client_id, &creds.secret, state.requester(&parts)).await?;
    let Some(token) = params.get("token") else {
        return Err(OAuthError::invalid_request("missing `token` (RFC 7662 section 2.1)"));
    };
    let now = state.now();
    let keys = state.keys().current_at(now);
    let body = match state.issuer().introspect(token, &keys, state.registry(), now) {
        Ok(claims) => serde_json::to_vec(&Active { active: true, token_type: "Bearer", claims: &claims }),
        Err(reason) => {
            tracing::debug!(caller = %creds.client_id, reason = %reason, "introspected an inactive token");
            Ok(br#"{"active":false}"#.to_vec())
        }
    }
    .map_err(|_| OAuthError::new(ErrorCode::ServerError, "response encoding failed"))?;
    Ok(no_store_json(StatusCode::OK, body))
}
