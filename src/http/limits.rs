//! Request limits with OAuth-shaped answers: header size, body size and body time for the
//! endpoints that read a body, and JSON bodies for unknown paths and methods.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use axum::body::{Bytes, to_bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::error::{ErrorCode, OAuthError};

/// What the token and introspection endpoints accept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest total size of request header names and values.
    pub(crate) max_header_bytes: usize,
    /// Largest request body.
    pub(crate) max_body_bytes: usize,
    /// How long the body may take to arrive once the headers are in.
    pub(crate) request_timeout: Duration,
}

impl Limits {
    /// Checks the header size (431), then reads the body within the size (413) and time
    /// (408) limits.
    ///
    /// A token request's body nearly always arrives with its headers, so the body is read
    /// once before any timer is armed: only a body still in flight costs a timer.
    pub(crate) async fn read(&self, request: Request) -> Result<(Parts, Bytes), OAuthError> {
        let (parts, body) = request.into_parts();
        let header_bytes: usize = parts.headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
        if header_bytes > self.max_header_bytes {
            return Err(OAuthError::invalid_request(format!(
                "request headers larger than {} bytes",
                self.max_header_bytes
            ))
            .with_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
        }
        let mut reading = pin!(to_bytes(body, self.max_body_bytes));
        let first = std::future::poll_fn(|cx| Poll::Ready(reading.as_mut().poll(cx))).await;
        let read = match first {
            Poll::Ready(read) => read,
            Poll::Pending => tokio::time::timeout(self.request_timeout, reading).await.map_err(|_| {
                OAuthError::invalid_request("request body not received in time")
                    .with_status(StatusCode::REQUEST_TIMEOUT)
            })?,
        };
        let body = read.map_err(|_| {
            OAuthError::invalid_request(format!("request body larger than {} bytes", self.max_body_bytes))
                .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        })?;
        Ok((parts, body))
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
