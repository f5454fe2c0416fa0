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

    /// Maps a jsonwebtoken error. The message describes structure, never token contents:
    /// serde's messages can quote a claim's value, so those are replaced.
    pub(crate) fn from_jwt(e: jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind as K;
        let kind = match e.kind() {
            K::InvalidSignature | K::InvalidEcdsaKey | K::InvalidEddsaKey | K::InvalidRsaKey(_) => {
                ErrorKind::BadSignature
            }
            K::InvalidAlgorithm | K::InvalidAlgorithmName | K::UnsupportedAlgorithm | K::MissingAlgorithm => {
                ErrorKind::UnsupportedAlgorithm
            }
            K::ExpiredSignature => ErrorKind::Expired,
            K::ImmatureSignature => ErrorKind::NotYetValid,
            K::InvalidIssuer => ErrorKind::WrongIssuer,
            K::InvalidAudience => ErrorKind::WrongAudience,
            K::MissingRequiredClaim(_) | K::InvalidClaimFormat(_) => ErrorKind::MissingClaim,
            _ => ErrorKind::Malformed,
        };
        let detail = match e.kind() {
            // Names one of our fields, nothing of the token's.
            K::Json(json) if json.to_string().starts_with("missing field") => format!("claims: {json}"),
            K::Json(json) => format!(
                "claims: not an access token's claims (a value has the wrong type, or the JSON is malformed near \
                 column {})",
                json.column()
            ),
            _ => e.to_string(),
        };
        VerifyError { kind, detail }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.detail)
    }
}

impl std::error::Error for VerifyError {}
