//! Verification errors: an opaque error with a non-exhaustive kind. Never carries the token.

use std::fmt;

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Not a well-formed JWS, or a part could not be decoded.
    Malformed,
    /// `typ` is not `at+jwt` (RFC 9068 §4).
    WrongType,
    /// No published key has the token's `kid`.
    UnknownKey,
    /// The algorithm is not allowed or does not match the key.
    UnsupportedAlgorithm,
    /// The signature does not verify.
    BadSignature,
    /// `exp` has passed.
    Expired,
    /// `nbf` or `iat` lies in the future.
    NotYetValid,
    /// The token lives longer (`exp - iat`) than the verifier's maximum lifetime
    /// ([`Verifier::with_max_lifetime`](super::Verifier::with_max_lifetime)).
    LifetimeTooLong,
    /// `iss` is not the expected issuer.
    WrongIssuer,
    /// `aud` does not contain the expected audience.
    WrongAudience,
    /// A required claim is missing or has the wrong type.
    MissingClaim,
    /// The keys could not be fetched and none are cached.
    KeysUnavailable,
    /// The verifier itself is misconfigured.
    Configuration,
}

impl ErrorKind {
    /// A short, stable name, e.g. for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::WrongType => "wrong_type",
            ErrorKind::UnknownKey => "unknown_key",
            ErrorKind::UnsupportedAlgorithm => "unsupported_algorithm",
            ErrorKind::BadSignature => "bad_signature",
            ErrorKind::Expired => "expired",
            ErrorKind::NotYetValid => "not_yet_valid",
            ErrorKind::LifetimeTooLong => "lifetime_too_long",
            ErrorKind::WrongIssuer => "wrong_issuer",
            ErrorKind::WrongAudience => "wrong_audience",
            ErrorKind::MissingClaim => "missing_claim",
            ErrorKind::KeysUnavailable => "keys_unavailable",
            ErrorKind::Configuration => "configuration",
        }
    }
}

/// A token verification failure.
#[derive(Debug, Clone)]
pub struct VerifyError {
    kind: ErrorKind,
    detail: String,
}

impl VerifyError {
    /// An error of `kind` with a description (never containing the token).
    pub(crate) fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        VerifyError { kind, detail: detail.into() }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The description, without the kind.
    #[cfg(feature = "jwks-fetch")]
    pub(crate) fn detail(&self) -> &str {
        &self.detail
    }

    /// Maps a failure to decode the claims. serde's messages can quote a claim's value, so
    /// only a missing field (which names one of our fields) is passed on.
    pub(crate) fn from_claims_json(json: serde_json::Error) -> Self {
        if json.to_string().starts_with("missing field") {
            return VerifyError { kind: ErrorKind::MissingClaim, detail: format!("claims: {json}") };
        }
        let detail = format!(
            "claims: not an access token's claims (a value has the wrong type, or the JSON is malformed near \
             column {})",
            json.column()
        );
        VerifyError { kind: ErrorKind::Malformed, detail }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.detail)
    }
}

impl std::error::Error for VerifyError {}
