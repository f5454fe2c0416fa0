//! OAuth error responses (RFC 6749 §5.2): the only place domain errors become status codes.
//!
//! Every `error_description` passes through [`OAuthError::new`], which keeps it within the
//! characters RFC 6749 §5.2 allows; values a client sent are quoted only through
//! [`OAuthError::echoing`], which also shortens them.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::clients::ClientError;
use crate::keys::KeyError;
use crate::metrics::Throttled;
use crate::oauth::is_nqchar;
use crate::token::IssueError;
use crate::users::UserError;

/// The `WWW-Authenticate` challenge sent with every 401 (RFC 9110 §15.5.2).
pub(crate) const BASIC_CHALLENGE: &str = "Basic realm=\"tokenmint\"";

/// An error code from RFC 6749 §5.2 (or RFC 8707 §2 for `invalid_target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported by this server.
    UnsupportedGrantType,
    /// A requested scope is invalid, unknown or not allowed.
    InvalidScope,
    /// Bad user credentials, or an invalid, expired or foreign refresh token.
    InvalidGrant,
    /// A requested resource (audience) is invalid or not allowed (RFC 8707).
    InvalidTarget,
    /// The server failed; the description stays generic.
    ServerError,
    /// The server cannot issue tokens for now (no key may sign); 503.
    TemporarilyUnavailable,
    /// The client is over its `rate_limit`; 429 with `Retry-After`. Not an RFC 6749 code:
    /// tokenmint's own (RFC 6749 §8.5 allows extension codes).
    RateLimited,
    /// No such endpoint (not an OAuth code; used by the fallback route).
    NotFound,
    /// The endpoint exists but not with this method.
    MethodNotAllowed,
}

impl ErrorCode {
    /// The wire value of `error`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
        }
    }

    fn default_status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Longest client-supplied value quoted in an `error_description`, in characters.
const MAX_ECHOED_CHARS: usize = 40;

/// Whether `b` may appear in an `error_description`: RFC 6749 §5.2 allows
/// `%x20-21 / %x23-5B / %x5D-7E`, a space or an `NQCHAR`.
fn allowed_in_description(b: u8) -> bool {
    b == b' ' || is_nqchar(b)
}

/// `text` with every character RFC 6749 §5.2 does not allow in an `error_description`
/// replaced by `?`. Text that already conforms is returned as it came, without copying.
fn conforming(text: Cow<'static, str>) -> Cow<'static, str> {
    if text.bytes().all(allowed_in_description) {
        return text;
    }
    let replaced = text
        .chars()
        .map(|c| if u8::try_from(c).is_ok_and(allowed_in_description) { c } else { '?' })
        .collect();
    Cow::Owned(replaced)
}

/// A client-supplied value as an `error_description` quotes it: at most
/// [`MAX_ECHOED_CHARS`] characters, then `...`. Characters are made conforming later, by
/// [`OAuthError::new`], with the rest of the description.
struct Echo<'a>(&'a str);

impl fmt::Display for Echo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match super::shortened(self.0, MAX_ECHOED_CHARS) {
            Some(prefix) => write!(f, "{prefix}..."),
            None => f.write_str(self.0),
        }
    }
}

/// An error answer: status, code, and a description safe to show the client.
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    code: ErrorCode,
    description: Cow<'static, str>,
    /// `Retry-After` seconds, for throttled requests.
    retry_after: Option<u64>,
    /// What held the request back, when a throttle or a rate limit did.
    throttled: Option<Throttled>,
    /// Whether the connection closes after this answer (`Connection: close`).
    close: bool,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    error_description: &'a str,
}

impl OAuthError {
    /// An error with the code's usual status (401 for `invalid_client`, 400 for most).
    ///
    /// Characters RFC 6749 §5.2 does not allow in `error_description` become `?`.
    pub(crate) fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        let description = conforming(description.into());
        OAuthError {
            status: code.default_status(),
            code,
            description,
            retry_after: None,
            throttled: None,
            close: false,
        }
    }

    /// An error about a value the client sent: `text`, then the value quoted, shortened to
    /// [`MAX_ECHOED_CHARS`] and made conforming like any description.
    pub(crate) fn echoing(code: ErrorCode, text: impl fmt::Display, value: &str) -> Self {
        Self::new(code, format!("{text}: `{}`", Echo(value)))
    }

    /// `invalid_request`.
    pub(crate) fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client` (401).
    pub(crate) fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    /// The same error with another status (413, 408, 431 for limits).
    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Closes the connection after the answer: the rest of what the client sent (an unread
    /// body, a request whose framing is in doubt) cannot be read as the next request.
    pub(crate) fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// The same error with a `Retry-After` header (RFC 9110 §10.2.3).
    pub(crate) fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The same error as `429 Too Many Requests` with `Retry-After`, held back by `kind`.
    fn throttled(mut self, kind: Throttled, wait: Duration) -> Self {
        self.throttled = Some(kind);
        self.with_status(StatusCode::TOO_MANY_REQUESTS).with_retry_after(retry_after_secs(wait))
    }

    /// What held the request back, if a throttle or a rate limit did.
    pub(crate) fn throttled_by(&self) -> Option<Throttled> {
        self.throttled
    }

    /// The error code, for the request log.
    pub(crate) fn code(&self) -> ErrorCode {
        self.code
    }
}

/// A JSON body that must never be cached: every token, introspection and error answer
/// (RFC 6749 §5.1, §5.2: `Cache-Control: no-store`, `Pragma: no-cache`).
pub(crate) fn no_store_json(status: StatusCode, body: Vec<u8>) -> Response {
    let mut res = Response::new(axum::body::Body::from(body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body =
            serde_json::to_vec(&Body { error: self.code.as_str(), error_description: &self.description })
                .unwrap_or_else(|_| b"{\"error\":\"server_error\"}".to_vec());
        let mut res = no_store_json(self.status, body);
        let h = res.headers_mut();
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(BASIC_CHALLENGE));
        }
        if self.close {
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        res
    }
}

impl From<ClientError> for OAuthError {
    fn from(e: ClientError) -> Self {
        match e {
            // RFC 6749 §2.3.1 brute-force protection: still `invalid_client`, but 429 with
            // `Retry-After`, so a client can tell "wait" from "wrong secret".
            ClientError::Throttled { retry_after } => OAuthError::invalid_client(format!(
                "too many failed authentication attempts for this client or address; retry in {} s",
                retry_after_secs(retry_after)
            ))
            .throttled(Throttled::ClientSecret, retry_after),
            // Unknown client, disabled client, wrong secret, a method the client may not use
            // and a refused assertion look the same from outside (RFC 7523 §3.2: a bad client
            // assertion is `invalid_client`); the reason is logged at debug.
            ClientError::Unknown
            | ClientError::Disabled
            | ClientError::BadSecret
            | ClientError::MethodNotAllowed(_)
            | ClientError::BadAssertion(_) => OAuthError::invalid_client("client authentication failed"),
        }
    }
}

impl From<UserError> for OAuthError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Throttled { retry_after } => OAuthError::new(
                ErrorCode::InvalidGrant,
                format!(
                    "too many failed attempts for this user or address; retry in {} s",
                    retry_after_secs(retry_after)
                ),
            )
            .throttled(Throttled::Password, retry_after),
            // Unknown user, disabled user and wrong password look the same from outside.
            UserError::Unknown | UserError::Disabled | UserError::BadPassword => {
                OAuthError::new(ErrorCode::InvalidGrant, "invalid username or password")
            }
        }
    }
}

/// Whole seconds to wait, rounded up and at least 1 (`Retry-After` has no fractions).
fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs().saturating_add(u64::from(wait.subsec_nanos() > 0)).max(1)
}

impl From<IssueError> for OAuthError {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::UnsupportedGrantType(ref grant) => {
                OAuthError::echoing(ErrorCode::UnsupportedGrantType, &e, grant)
            }
            IssueError::UnauthorizedClient(_) => {
                OAuthError::new(ErrorCode::UnauthorizedClient, e.to_string())
            }
            IssueError::InvalidScope { reason, scope: Some(ref scope) } => {
                OAuthError::echoing(ErrorCode::InvalidScope, reason, scope)
            }
            IssueError::InvalidScope { reason, scope: None } => {
                OAuthError::new(ErrorCode::InvalidScope, reason)
            }
            IssueError::InvalidTarget { reason, ref resource } => {
                OAuthError::echoing(ErrorCode::InvalidTarget, reason, resource)
            }
            IssueError::InvalidRequest(m) => OAuthError::invalid_request(m),
            IssueError::RateLimited { retry_after } => OAuthError::new(
                ErrorCode::RateLimited,
                format!(
                    "too many token requests for this client (its rate_limit); retry in {} s",
                    retry_after_secs(retry_after)
                ),
            )
            .throttled(Throttled::RateLimit, retry_after),
            IssueError::InvalidGrant(m) => OAuthError::new(ErrorCode::InvalidGrant, m),
            IssueError::Login(e) => OAuthError::from(e),
            // Every key that could sign was revoked: fail closed. The key ring has logged why.
            IssueError::Signing(KeyError::NoSigningKey) => OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "no signing key is available; try again later",
            ),
            IssueError::Signing(err) => {
                tracing::error!(error = %err, "signing an access token failed");
                OAuthError::new(ErrorCode::ServerError, "the server could not issue a token")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_to_the_rfc6749_5_2_character_set() {
        let err = OAuthError::echoing(ErrorCode::InvalidScope, "bad scope", "a\"b\\c\u{e9}\u{7}\u{2028}d");
        assert_eq!(err.description, "bad scope: `a?b?c???d`");
        let err = OAuthError::new(ErrorCode::InvalidRequest, "section \u{a7}3.2");
        assert_eq!(err.description, "section ?3.2");
        let clean = OAuthError::new(ErrorCode::InvalidRequest, "nothing to replace");
        assert!(matches!(clean.description, Cow::Borrowed(_)), "a conforming text is not copied");
    }

    #[test]
    fn echoed_values_are_shortened() {
        let long = "\u{e9}".repeat(1000);
        let err = OAuthError::echoing(ErrorCode::InvalidTarget, "resource not allowed", &long);
        assert_eq!(err.description, format!("resource not allowed: `{}...`", "?".repeat(MAX_ECHOED_CHARS)));
    }
}
