//! Secrets as presented and as stored: the presented [`Secret`], the configured
//! [`SecretHash`], and the fast SHA-256 comparison.
//!
//! Two hash kinds are accepted in configuration, never a plaintext secret:
//! - `sha256:<64 lowercase hex>` for generated, high-entropy secrets (`tokenmint clients add`).
//!   A check costs one SHA-256 and a constant-time compare: microseconds.
//! - argon2id PHC strings (`$argon2id$v=19$...`) for human-chosen secrets and passwords. A
//!   check costs tens of milliseconds, so it runs off the async runtime ([`super::argon2`]).

use std::fmt;

use aws_lc_rs::{constant_time, digest, rand};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Prefix of a SHA-256 secret hash in configuration.
pub(crate) const SHA256_PREFIX: &str = "sha256:";

/// Bytes of randomness in a generated client secret: 256 bits.
pub(crate) const GENERATED_SECRET_BYTES: usize = 32;

/// A client secret as presented in a request. Never printed.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl Secret {
    /// Wraps a presented secret.
    pub(crate) fn new(secret: String) -> Self {
        Secret(secret)
    }

    /// The secret's bytes, for hashing.
    pub(crate) fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The secret as text, for the single moment it is shown to an operator.
    pub(crate) fn expose_str(&self) -> &str {
        &self.0
    }

    /// A new random secret of [`GENERATED_SECRET_BYTES`], base64url without padding.
    pub(crate) fn generate() -> Result<Self, SecretHashError> {
        let mut bytes = [0u8; GENERATED_SECRET_BYTES];
        rand::fill(&mut bytes).map_err(|_| SecretHashError::Random)?;
        Ok(Secret(URL_SAFE_NO_PAD.encode(bytes)))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a configured secret hash or a hashing request was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretHashError {
    /// Not one of the accepted hash formats.
    #[error(
        "unsupported secret hash format: expected \"sha256:<64 lowercase hex>\" or an argon2id PHC string (\"$argon2id$...\"); plaintext secrets are not accepted"
    )]
    Format,
    /// A `sha256:` hash whose hex part is malformed.
    #[error("a sha256 secret hash needs exactly 64 lowercase hex digits after \"sha256:\"")]
    Sha256Hex,
    /// An argon2 PHC string that does not parse, or is not argon2id.
    #[error("invalid argon2id PHC string: {0}")]
    Argon2(String),
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    Random,
}

/// A stored secret hash from configuration. Its Debug form never shows the hash.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum SecretHash {
    /// SHA-256 of the secret's bytes.
    Sha256([u8; 32]),
    /// An argon2id PHC string, validated at load.
    Argon2id(String),
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretHash::Sha256(_) => f.write_str("SecretHash::Sha256(<redacted>)"),
            SecretHash::Argon2id(_) => f.write_str("SecretHash::Argon2id(<redacted>)"),
        }
    }
}

impl SecretHash {
    /// Parses a hash as written in configuration.
    pub(crate) fn parse(text: &str) -> Result<Self, SecretHashError> {
        if let Some(hex) = text.strip_prefix(SHA256_PREFIX) {
            return parse_sha256_hex(hex).map(SecretHash::Sha256);
        }
        if text.starts_with("$argon2id$") {
            let parsed =
                argon2::PasswordHash::new(text).map_err(|e| SecretHashError::Argon2(e.to_string()))?;
            if parsed.algorithm != argon2::Algorithm::Argon2id.ident() {
                return Err(SecretHashError::Argon2("only argon2id is accepted".into()));
            }
            return Ok(SecretHash::Argon2id(text.to_owned()));
        }
        Err(SecretHashError::Format)
    }

    /// The `sha256:` hash of `secret`, as written in configuration.
    pub(crate) fn sha256_of(secret: &Secret) -> String {
        format!("{SHA256_PREFIX}{}", hex::encode(sha256_digest(secret)))
    }

    /// An argon2id PHC hash of `secret` with the crate's recommended parameters.
    pub(crate) fn argon2id_of(secret: &Secret) -> Result<String, SecretHashError> {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let mut salt = [0u8; 16];
        rand::fill(&mut salt).map_err(|_| SecretHashError::Random)?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| SecretHashError::Argon2(e.to_string()))?;
        argon2::Argon2::default()
            .hash_password(secret.expose(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| SecretHashError::Argon2(e.to_string()))
    }

    /// Whether this is a slow (argon2) hash, to be checked off the async runtime.
    pub(crate) fn is_slow(&self) -> bool {
        matches!(self, SecretHash::Argon2id(_))
    }

    /// The PHC string of an argon2id hash; `None` for a SHA-256 one.
    pub(crate) fn argon2id_phc(&self) -> Option<&str> {
        match self {
            SecretHash::Argon2id(phc) => Some(phc),
            SecretHash::Sha256(_) => None,
        }
    }
}

/// Decodes the 64 lowercase hex digits of a `sha256:` hash. Uppercase is refused so that
/// every hash has exactly one spelling in configuration.
fn parse_sha256_hex(text: &str) -> Result<[u8; 32], SecretHashError> {
    if !text.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(SecretHashError::Sha256Hex);
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|_| SecretHashError::Sha256Hex)?;
    Ok(out)
}

/// The SHA-256 digest of a presented secret, computed once per request.
pub(crate) fn sha256_digest(secret: &Secret) -> [u8; 32] {
    sha256(secret.expose())
}

/// The SHA-256 digest of `bytes`, as an array.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Which of the SHA-256 hashes `digest` equals (its index in `hashes`, the first if several),
/// comparing each in constant time and never stopping early, so the time taken does not say
/// whether any matched.
pub(crate) fn matching_sha256(digest: &[u8; 32], hashes: &[SecretHash]) -> Option<usize> {
    let mut matched = None;
    for (i, h) in hashes.iter().enumerate() {
        if let SecretHash::Sha256(expected) = h {
            let equal = constant_time::verify_slices_are_equal(expected, digest).is_ok();
            matched = matched.or(equal.then_some(i));
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hash_round_trips_and_matches() {
        let secret = Secret::new("s3cret".into());
        let text = SecretHash::sha256_of(&secret);
        assert!(text.starts_with("sha256:") && text.len() == 71);
        let hash = SecretHash::parse(&text).unwrap();
        assert!(matching_sha256(&sha256_digest(&secret), std::slice::from_ref(&hash)).is_some());
        let wrong = Secret::new("s3cret!".into());
        assert!(matching_sha256(&sha256_digest(&wrong), &[hash]).is_none());
    }

    #[test]
    fn rejects_plaintext_uppercase_hex_and_argon2i() {
        assert!(matches!(SecretHash::parse("hunter2"), Err(SecretHashError::Format)));
        let upper = format!("sha256:{}", "A".repeat(64));
        assert!(matches!(SecretHash::parse(&upper), Err(SecretHashError::Sha256Hex)));
        assert!(SecretHash::parse("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA").is_err());
    }

    #[test]
    fn argon2id_hashes_parse_back() {
        let phc = SecretHash::argon2id_of(&Secret::new("correct horse".into())).unwrap();
        assert!(matches!(SecretHash::parse(&phc), Ok(SecretHash::Argon2id(_))));
    }

    #[test]
    fn debug_never_shows_material() {
        let secret = Secret::new("topsecret".into());
        let hash = SecretHash::parse(&SecretHash::sha256_of(&secret)).unwrap();
        assert!(!format!("{secret:?}").contains("topsecret"));
        assert!(!format!("{hash:?}").contains("sha256:"));
    }
}
