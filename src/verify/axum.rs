//! axum integration for resource servers: an extractor that verifies the bearer token
//! (RFC 6750 §2.1) and rejects with the RFC 6750 §3 challenge.
//!
//! The extractor verifies with the [`Verifier`] in the state, with every setting it was
//! built with (for example [`Verifier::with_max_lifetime`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use tokenmint::verify::Verifier;
//! use tokenmint::verify::axum::{Bearer, BearerRejection};
//!
//! async fn invoices(token: Bearer) -> Result<String, BearerRejection> {
//!     token.require_scopes(&["invoices:read"])?;
//!     Ok(format!("hello {}", token.claims().client_id))
//! }
//!
//! fn app(verifier: Verifier) -> Router {
//!     // Optional: accept tokens that live at most an hour (default: one day).
//!     let verifier = verifier.with_max_lifetime(std::time::Duration::from_secs(3600));
//!     Router::new().route("/invoices", get(invoices)).with_state(Arc::new(verifier))
//! }
//! ```

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ErrorKind, Verifier, VerifyError};
use crate::claims::AccessClaims;

/// A request whose bearer token verified. Extracting it needs `Arc<Verifier>` in the state.
#[derive(Debug, Clone)]
pub struct Bearer(AccessClaims);

impl Bearer {
    /// The verified claims.
    pub fn claims(&self) -> &AccessClaims {
        &self.0
    }

    /// The verified claims, by value.
    pub fn into_claims(self) -> AccessClaims {
        self.0
    }

    /// Succeeds if every scope in `required` was granted; otherwise the RFC 6750 §3.1
    /// `insufficient_scope` rejection (403) naming them.
    pub fn require_scopes(&self, required: &[&str]) -> Result<(), BearerRejection> {
        if self.0.has_scopes(required) { Ok(()) } else { Err(BearerRejection::insufficient_scope(required)) }
    }
}

impl<S> FromRequestParts<S> for Bearer
where
    S: Send + Sync,
    Arc<Verifier>: FromRef<S>,
{
    type Rejection = BearerRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<Verifier>::from_ref(state);
        let token = bearer_token(&parts.headers)?;
        match verifier.verify(token).await {
            Ok(claims) => Ok(Bearer(claims)),
            Err(e) => Err(BearerRejection::from_error(&e)),
        }
    }
}

/// The token from `Authorization: Bearer <token>` (the scheme is case-insensitive). More
/// than one `Authorization` header is a malformed request: a proxy that reads another one
/// than we do would disagree with us about who the caller is.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, BearerRejection> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(if headers.contains_key(header::AUTHORIZATION) {
            BearerRejection::invalid_request()
        } else {
            BearerRejection::missing()
        });
    };
    let value = value.to_str().map_err(|_| BearerRejection::invalid_request())?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(token.trim())
        }
        _ => Err(BearerRejection::missing()),
    }
}

/// An RFC 6750 §3 rejection: status, `WWW-Authenticate` challenge, and a JSON body.
#[derive(Debug)]
pub struct BearerRejection {
    status: StatusCode,
    /// The `WWW-Authenticate` value; empty for answers that are not a Bearer challenge.
    challenge: String,
    error: Option<&'static str>,
    description: String,
}

impl BearerRejection {
    /// No token (RFC 6750 §3.1: no error code, just the challenge).
    fn missing() -> Self {
        BearerRejection {
            status: StatusCode::UNAUTHORIZED,
            challenge: "Bearer".into(),
            error: None,
            description: "a bearer token is required".into(),
        }
    }

    fn invalid_request() -> Self {
        BearerRejection {
            status: StatusCode::BAD_REQUEST,
            challenge: "Bearer error=\"invalid_request\"".into(),
            error: Some("invalid_request"),
            description: "malformed Authorization header".into(),
        }
    }

    /// The rejection for a failed verification: `invalid_token` (401) when the token is at
    /// fault; when the verifier cannot judge it (keys unreachable, misconfiguration), a 503
    /// or 500 with no Bearer error, so that clients do not throw away a good token.
    pub(crate) fn from_error(e: &VerifyError) -> Self {
        let status = match e.kind() {
            ErrorKind::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Configuration => StatusCode::INTERNAL_SERVER_ERROR,
            _ => return Self::invalid_token(e),
        };
        BearerRejection {
            status,
            challenge: String::new(),
            error: None,
            description: format!("the token cannot be checked now ({})", e.kind().as_str()),
        }
    }

    fn invalid_token(e: &VerifyError) -> Self {
        BearerRejection {
            status: StatusCode::UNAUTHORIZED,
            challenge: format!("Bearer error=\"invalid_token\", error_description=\"{}\"", e.kind().as_str()),
            error: Some("invalid_token"),
            description: e.kind().as_str().to_owned(),
        }
    }

    pub(crate) fn insufficient_scope(required: &[&str]) -> Self {
        let scope = required.join(" ");
        BearerRejection {
            status: StatusCode::FORBIDDEN,
            challenge: format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
            error: Some("insufficient_scope"),
            description: format!("requires scope: {scope}"),
        }
    }

    /// The HTTP status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, axum::Json(body)).into_response();
        if !self.challenge.is_empty() {
            let challenge =
                HeaderValue::from_str(&self.challenge).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}
