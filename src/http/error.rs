//! OAuth error responses (RFC 6749 §5.2): the only place domain errors become status codes.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::clients::ClientError;
use crate::keys::KeyError;
use crate::token::IssueError;

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
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
        }
    }

    fn default_status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::BAD_REQUEST,
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
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    error_description: &'a str,
}

impl OAuthError {
    /// An error with the code's usual status (401 for `invalid_client`, 400 for most).
    pub(crate) fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError { status: code.default_status(), code, description: description.into(), retry_after: None }
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

    /// The same error with a `Retry-After` header (RFC 9110 §10.2.3).
    pub(crate) fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
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
        res
    }
}

impl From<ClientError> for OAuthError {
    fn from(_: ClientError) -> Self {
        // Unknown client, disabled client and wrong secret look the same from outside.
        OAuthError::invalid_client("client authentication failed")
    }
}

impl From<IssueError> for OAuthError {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::UnsupportedGrantType(_) => {
                OAuthError::new(ErrorCode::UnsupportedGrantType, e.to_string())
            }
            IssueError::UnauthorizedClient(_) => {
                OAuthError::new(ErrorCode::UnauthorizedClient, e.to_string())
            }
            IssueError::InvalidScope(m) => OAuthError::new(ErrorCode::InvalidScope, m),
            IssueError::InvalidTarget(m) => OAuthError::new(ErrorCode::InvalidTarget, m),
            IssueError::InvalidRequest(m) => OAuthError::invalid_request(m),
            IssueError::InvalidGrant(m) => OAuthError::new(ErrorCode::InvalidGrant, m),
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
