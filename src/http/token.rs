//! `POST /oauth2/token` (RFC 6749 §4.3, §4.4, §5, §6): read the request, authenticate the
//! client, hand the grant to [`Issuer::issue`](crate::token::Issuer::issue), answer. Each
//! request is counted and leaves one audit event.

use std::borrow::Cow;
use std::net::IpAddr;
use std::pin::pin;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::credentials::client_credentials;
use super::error::{ErrorCode, OAuthError, no_store_json};
use super::params::Params;
use super::token_response::token_response;
use crate::clients::{AuthMethod, ClientCredentials, FederatedSubject};
use crate::credentials::Requester;
use crate::metrics::GrantLabel;
use crate::token::{IssuedToken, TokenRequest};

/// The token endpoint.
pub(crate) async fn token(State(state): State<AppState>, request: Request) -> Response {
    // The arrival time: the audit event's latency, and the brute-force throttles' clock.
    let started = state.monotonic();
    match state.limits().in_time(pin!(handle(&state, request, started))).await {
        Ok(response) => response,
        Err(timed_out) => answer(&state, Err(timed_out), &Attempt::default(), started),
    }
}

/// Who asked for what: the request's side of its audit event.
#[derive(Debug, Default)]
struct Attempt<'a> {
    /// The `client_id` the request claims (authenticated only if the outcome says so).
    client_id: Option<&'a str>,
    /// The `grant_type` asked for.
    grant_type: Option<&'a str>,
    /// How the client authenticated.
    method: Option<AuthMethod>,
    /// The requester's address, as the brute-force throttles count it.
    address: Option<IpAddr>,
}

/// A token issued to an authenticated client.
#[derive(Debug)]
struct Issued {
    token: IssuedToken,
    /// Which of the client's secrets matched, if a secret authenticated it.
    secret_index: Option<usize>,
    /// The external identity that acted as the client (workload identity federation).
    federated: Option<FederatedSubject>,
}

/// Reads the request, issues, answers.
async fn handle(state: &AppState, request: Request, started: Instant) -> Response {
    let (parts, body) = match state.limits().read(request).await {
        Ok(read) => read,
        Err(err) => return answer(state, Err(err), &Attempt::default(), started),
    };
    let requester = state.requester(&parts, started);
    let mut attempt = Attempt { address: requester.address, ..Attempt::default() };
    let params = match Params::parse(&parts.headers, parts.uri.query(), &body) {
        Ok(params) => params,
        Err(err) => return answer(state, Err(err), &attempt, started),
    };
    attempt.grant_type = params.get("grant_type");
    let credentials = match client_credentials(&parts.headers, &params) {
        Ok(credentials) => credentials,
        Err(err) => return answer(state, Err(err), &attempt, started),
    };
    attempt.client_id = Some(&credentials.client_id);
    attempt.method = Some(credentials.method());
    let result = issue(state, &params, &credentials, requester).await;
    answer(state, result, &attempt, started)
}

/// Authenticates the client and runs its grant.
async fn issue(
    state: &AppState,
    params: &Params<'_>,
    credentials: &ClientCredentials,
    requester: Requester,
) -> Result<Issued, OAuthError> {
    let request = token_request(params)?;
    let live = state.live();
    let now = state.now();
    let client = live.registry().authenticate(credentials, requester, now).await.map_err(|e| {
        tracing::debug!(client_id = %credentials.client_id.escape_debug(), reason = %e, "client authentication failed");
        match credentials.is_grant() {
            // RFC 7523 §3.1: an assertion grant that is not valid is `invalid_grant`.
            true => OAuthError::new(ErrorCode::InvalidGrant, "the assertion was not accepted"),
            false => e.into(),
        }
    })?;
    let token = live.issuer().issue(&client, &request, live.registry(), requester, now).await?;
    Ok(Issued { token, secret_index: client.secret_index, federated: client.federated })
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
        subject_token: params.get("subject_token"),
        subject_token_type: params.get("subject_token_type"),
        requested_token_type: params.get("requested_token_type"),
        actor_token: params.get("actor_token"),
    })
}

/// Counts the request, writes its audit event and turns the outcome into the response.
///
/// The event is one line on the `tokenmint::audit` target, for every request that reaches
/// a decision: who asked (client, how it authenticated, from where), for what, the outcome,
/// and for a token which secret matched (its index, never the hash; absent for other methods),
/// the user it was issued for (`-` for the client itself), the external identity that acted
/// as the client (`federated_iss`, `federated_sub`, only for workload identity federation),
/// the granted scopes and audiences, `jti`, `kid` and `exp`. Never the token or a secret. Client-supplied strings are logged as `&str` fields,
/// which the formatter quotes and escapes, shortened: no line breaks or control characters
/// reach the log from a request.
fn answer(
    state: &AppState,
    result: Result<Issued, OAuthError>,
    attempt: &Attempt<'_>,
    started: Instant,
) -> Response {
    let took = started.elapsed();
    let latency_us = took.as_micros() as u64;
    let grant = GrantLabel::of(attempt.grant_type);
    let client_id = loggable(attempt.client_id.unwrap_or("-"));
    let grant_type = loggable(attempt.grant_type.unwrap_or("-"));
    let (client_id, grant_type) = (client_id.as_ref(), grant_type.as_ref());
    let auth_method = attempt.method.map_or("-", AuthMethod::as_str);
    let address = tracing::field::display(LoggedAddress(attempt.address));
    match result {
        Ok(Issued { token, secret_index, federated }) => {
            let outcome = if token.reused { "reused" } else { "issued" };
            state.metrics().token_request(grant, outcome, took);
            // The client's own id: the logged one may be shortened.
            state.metrics().token_issued(attempt.client_id.unwrap_or_default());
            tracing::info!(
                target: "tokenmint::audit",
                client_id,
                grant_type,
                outcome,
                auth_method,
                secret_index,
                scope = token.scope.as_str(),
                aud = token.audience.as_str(),
                jti = token.jti.as_str(),
                kid = &*token.kid,
                user = token.user.as_deref().unwrap_or("-"),
                federated_iss = federated.as_ref().map(|f| f.issuer.as_str()),
                federated_sub = federated.as_ref().map(|f| f.subject.as_str()),
                exp = token.expires_at,
                address,
                latency_us,
                "token request"
            );
            success(&token)
        }
        Err(err) => {
            let outcome = err.code().as_str();
            state.metrics().token_request(grant, outcome, took);
            if let Some(kind) = err.throttled_by() {
                state.metrics().throttled(kind);
            }
            tracing::info!(
                target: "tokenmint::audit",
                client_id,
                grant_type,
                outcome,
                auth_method,
                address,
                latency_us,
                "token request"
            );
            err.into_response()
        }
    }
}

/// The requester's address as the audit event writes it: `-` when unknown. IPv4 octets are
/// written with `itoa`: `Ipv4Addr`'s `Display` formats through `write!` with four arguments,
/// about a tenth of an audit event's cost by instruction count.
struct LoggedAddress(Option<IpAddr>);

impl std::fmt::Display for LoggedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("-"),
            Some(IpAddr::V4(v4)) => {
                let mut digits = itoa::Buffer::new();
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(digits.format(octet))?;
                }
                Ok(())
            }
            Some(IpAddr::V6(v6)) => v6.fmt(f),
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
    match token_response(issued) {
        Ok(body) => no_store_json(StatusCode::OK, body),
        Err(_) => OAuthError::new(ErrorCode::ServerError, "response encoding failed").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future a two-argument async handler returns.
    fn future_size<A, B, F: std::future::Future>(_: impl FnOnce(A, B) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// The token handler's future is moved whole (into axum's box, among others) on every
    /// request, so it stays small: rare paths that wait (argon2, assertions, token
    /// exchange, the password grant) are boxed where they are awaited, and `in_time` takes
    /// the handler pinned. Awaited inline, those paths made it over 6 KB.
    #[test]
    fn the_token_handler_future_stays_small() {
        let size = future_size(token);
        assert!(size <= 2048, "the token handler's future is {size} bytes");
    }

    #[test]
    fn addresses_are_written_as_std_writes_them() {
        for address in
            ["127.0.0.1", "0.0.0.0", "255.255.255.255", "10.20.3.4", "::1", "2001:db8::8a2e:370:7334"]
        {
            let ip: IpAddr = address.parse().unwrap();
            assert_eq!(LoggedAddress(Some(ip)).to_string(), ip.to_string());
        }
        assert_eq!(LoggedAddress(None).to_string(), "-");
    }
}
