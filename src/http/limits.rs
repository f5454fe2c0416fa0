//! Request limits with OAuth-shaped answers: header size, a per-request time limit, and
//! JSON bodies for unknown paths and methods.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ErrorCode, OAuthError};

/// The limits the middleware enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest total size of request header names and values.
    pub(crate) max_header_bytes: usize,
    /// Time limit for producing a response.
    pub(crate) request_timeout: Duration,
}

/// Refuses oversized headers with 431 and slow requests with 408, both as OAuth errors.
pub(crate) async fn enforce(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    let header_bytes: usize = request.headers().iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if header_bytes > limits.max_header_bytes {
        return OAuthError::invalid_request(format!(
            "request headers larger than {} bytes",
            limits.max_header_bytes
        ))
        .with_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        .into_response();
    }
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => OAuthError::invalid_request("request timed out")
            .with_status(StatusCode::REQUEST_TIMEOUT)
            .into_response(),
    }
}

/// Unknown path.
pub(crate) async fn not_found() -> Response {
    OAuthError::new(ErrorCode::NotFound, "no such endpoint").into_response()
}

/// Known path, wrong method.
pub(crate) async fn method_not_allowed() -> Response {
    OAuthError::new(ErrorCode::MethodNotAllowed, "method not allowed on this endpoint").into_response()
}
