//! Request limits with OAuth-shaped answers: header size, body size and a time limit for
//! the endpoints that read a body, and JSON bodies for unknown paths and methods.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use axum::body::{Bytes, to_bytes};
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::LengthLimitError;

use super::error::{ErrorCode, OAuthError};

/// What the token and introspection endpoints accept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest total size of request header names and values.
    pub(crate) max_header_bytes: usize,
    /// Largest request body.
    pub(crate) max_body_bytes: usize,
    /// Time limit for producing a response, once the headers are in.
    pub(crate) request_timeout: Duration,
}

impl Limits {
    /// Checks the header size (431), then reads the body within the size limit (413); a body
    /// that cannot be read (broken chunked framing) is 400.
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
        // A declared length over the limit is refused before any of the body is read: waiting
        // for it would hold the connection until the request timeout.
        let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
        if declared.is_some_and(|length: u64| length > self.max_body_bytes as u64) {
            return Err(self.too_large());
        }
        let body = to_bytes(body, self.max_body_bytes).await.map_err(|e| {
            if std::error::Error::source(&e).is_some_and(|source| source.is::<LengthLimitError>()) {
                self.too_large()
            } else {
                // Malformed chunked framing, or the client closed before the body was complete.
                OAuthError::invalid_request(
                    "the request body could not be read: malformed chunked encoding, or cut short",
                )
                .closing()
            }
        })?;
        Ok((parts, body))
    }

    /// 413: the body is (or is declared) over `max_body_bytes`. The connection is closed after
    /// the answer, since the rest of the body is never read.
    fn too_large(&self) -> OAuthError {
        OAuthError::invalid_request(format!("request body larger than {} bytes", self.max_body_bytes))
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
            .closing()
    }

    /// Runs a handler under the request time limit: 408 if it takes longer.
    ///
    /// The first poll runs without a timer. A token request whose body came with its
    /// headers and whose client needs no slow hash check is answered within it, so only a
    /// request that has to wait (for its body, or for an argon2 check) arms a timer.
    ///
    /// The handler comes pinned where its caller holds it: a future taken by value would be
    /// stored twice in this one's state (as the argument and as the pinned local), and the
    /// token handler's is over a kilobyte, copied whenever the request's future moves.
    pub(crate) async fn in_time<F: Future>(&self, mut handler: Pin<&mut F>) -> Result<F::Output, OAuthError> {
        match std::future::poll_fn(|cx| Poll::Ready(handler.as_mut().poll(cx))).await {
            Poll::Ready(done) => Ok(done),
            Poll::Pending => tokio::time::timeout(self.request_timeout, handler).await.map_err(|_| {
                OAuthError::invalid_request("request timed out").with_status(StatusCode::REQUEST_TIMEOUT)
            }),
        }
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
