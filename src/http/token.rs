//! `POST /oauth2/token` (RFC 6749 §4.3, §4.4, §5, §6): read the request, authenticate the
//! client, hand the grant to [`Issuer::issue`](crate::token::Issuer::issue), answer. Logs
//! one line per request: client, grant, outcome, latency.

use std::borrow::Cow;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::credentials::client_credentials;
use super::error::{ErrorCode, OAuthError, no_store_json};
use super::params::Params;
use crate::clients::ClientCredentials;
use crate::token::{IssuedToken, TokenRequest};

/// The success body (RFC 6749 §5.1). No refresh token for client credentials (§4.4.3).
#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
}

/// The token endpoint.
pub(crate) async fn token(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    match state.limits().in_time(handle(&state, request, started)).await {
        Ok(response) => response,
        Err(timed_out) => answer(Err(timed_out), None, None, started),
    }
}

/// Reads the request, issues, answers.
async fn handle(state: &AppState, request: Request, started: Instant) -> Response {
    let (parts, body) = match state.limits().read(request).await {
        Ok(read) => read,
        Err(err) => return answer(Err(err), None, None, started),
    };
    let params = match Params::parse(&parts.headers, parts.uri.query(), &body) {
        Ok(params) => params,
        Err(err) => return answer(Err(err), None, None, started),
    };
    let grant_type = params.get("grant_type");
    let credentials = match client_credentials(&parts.headers, &params) {
        Ok(credentials) => credentials,
        Err(err) => return answer(Err(err), None, grant_type, started),
    };
    let result = issue(state, &parts, &params, &credentials).await;
    answer(result, Some(&credentials.client_id), grant_type, started)
}

/// Authenticates the client and runs its grant.
async fn issue(
    state: &AppState,
    parts: &Parts,
    params: &Params<'_>,
    credentials: &ClientCredentials,
) -> Result<IssuedToken, OAuthError> {
    let request = token_request(params)?;
    let requester = state.requester(parts);
    let client = state.registry().authenticate(credentials, requester).await.inspect_err(|e| {
        tracing::debug!(client_id = %credentials.client_id.escape_debug(), reason = %e, "client authentication failed");
    })?;
    Ok(state.issuer().issue(&client, &request, requester, state.now()).await?)
}

/// The grant's parameters; `grant_type` is required (RFC 6749 §4.4.2).
fn token_request<'a>(params: &'a Params<'_>) -> Result<TokenRequest<'a>, OAuthError> {
    let Some(grant_type) = params.get("grant_type") else {
        return Err(OAuthError::invalid_request("missing `grant_type`"));
    };
    Ok(TokenRequest {
        grant_type,
        scope: params.get("scope"),
        resources: params.all("resource").collect(),
        audiences: params.all("audience").collect(),
        expires_in: params.get("expires_in").or_else(|| params.get("validity_period")),
        username: params.get("username"),
        password: params.get("password"),
        refresh_token: params.get("refresh_token"),
    })
}

/// Logs the request's outcome and turns it into the response.
fn answer(
    result: Result<IssuedToken, OAuthError>,
    client_id: Option<&str>,
    grant_type: Option<&str>,
    started: Instant,
) -> Response {
    let latency_us = started.elapsed().as_micros() as u64;
    // Client-supplied strings are logged as `&str` fields, which the formatter quotes and
    // escapes: no line breaks or control characters reach the log from a request.
    let client_id = loggable(client_id.unwrap_or("-"));
    let grant_type = loggable(grant_type.unwrap_or("-"));
    let (client_id, grant_type) = (client_id.as_ref(), grant_type.as_ref());
    match result {
        Ok(issued) => {
            let outcome = if issued.reused { "reused" } else { "issued" };
            tracing::info!(client_id, grant_type, outcome, kid = %issued.kid, latency_us, "token request");
            success(&issued)
        }
        Err(err) => {
            tracing::info!(client_id, grant_type, outcome = err.code().as_str(), latency_us, "token request");
            err.into_response()
        }
    }
}

/// Longest client-supplied value copied into a log line.
const MAX_LOGGED_CHARS: usize = 64;

/// A client-supplied value as it may appear in the log: at most [`MAX_LOGGED_CHARS`].
fn loggable(value: &str) -> Cow<'_, str> {
    match super::shortened(value, MAX_LOGGED_CHARS) {
        Some(prefix) => Cow::Owned(format!("{prefix}…")),
        None => Cow::Borrowed(value),
    }
}

fn success(issued: &IssuedToken) -> Response {
    let body = TokenResponse {
        access_token: &issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: &issued.scope,
        refresh_token: issued.refresh_token.as_deref(),
        id_token: issued.id_token.as_deref(),
    };
    // Sized for the tokens plus the fixed fields, so the JSON is written without regrowing.
    let tokens = [Some(&issued.access_token), issued.refresh_token.as_ref(), issued.id_token.as_ref()];
    let mut bytes = Vec::with_capacity(tokens.iter().flatten().map(|t| t.len()).sum::<usize>() + 160);
    match serde_json::to_writer(&mut bytes, &body) {
        Ok(()) => no_store_json(StatusCode::OK, bytes),
        Err(_) => OAuthError::new(ErrorCode::ServerError, "response encoding failed").into_response(),
    }
}
