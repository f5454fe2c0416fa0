//! Signing keys: files on disk ([`store`]) or keys derived from a master secret ([`derive`]),
//! the key pair and its public JWK ([`signing`]), and the in-memory set the service signs and
//! publishes with ([`ring`]).
//!
//! Never imports `http`, `config` or `server`. Private key material never leaves this
//! module except as a signature or, when written to the key store, as a PKCS#8 file.

pub(crate) mod admin;
pub(crate) mod derive;
pub(crate) mod jwks;
pub(crate) mod keyset;
pub(crate) mod ring;
pub(crate) mod schedule;
pub(crate) mod settings;
pub(crate) mod signing;
pub(crate) mod source;
pub(crate) mod store;
#[cfg(test)]
mod testing;

pub(crate) use derive::{Deriver, MasterSecret, MasterSecretError};
pub(crate) use keyset::KeySet;
pub(crate) use ring::KeyRing;
pub(crate) use schedule::{KeyPolicy, NextKey};
pub(crate) use settings::{KeyProblem, KeySettings, SourceKind};
pub(crate) use signing::{REFRESH_TOKEN_TYPE, SigningKey, TokenKind};
pub(crate) use source::KeySource;
pub(crate) use store::KeyStore;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A JWS signing algorithm tokenmint signs with (RFC 7518 §3.1, RFC 8037).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Algorithm {
    /// ECDSA on P-256 with SHA-256. The default: fast to sign, small tokens.
    ES256,
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys, for verifiers that know only RSA.
    RS256,
}

impl Algorithm {
    /// Every algorithm tokenmint signs with, as jsonwebtoken names them: what its own keys
    /// may have signed (each key still verifies only its own algorithm).
    pub(crate) const ALL_JWT: [jsonwebtoken::Algorithm; 3] =
        [jsonwebtoken::Algorithm::ES256, jsonwebtoken::Algorithm::EdDSA, jsonwebtoken::Algorithm::RS256];

    /// The JOSE `alg` name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::RS256 => "RS256",
        }
    }

    /// The matching jsonwebtoken algorithm.
    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" => Ok(Algorithm::ES256),
            "EdDSA" => Ok(Algorithm::EdDSA),
            "RS256" => Ok(Algorithm::RS256),
            other => Err(KeyError::UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

/// What can go wrong with keys. Messages name files and algorithms, never key material.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    /// An algorithm name tokenmint does not sign with.
    #[error("unsupported algorithm `{0}` (expected ES256, EdDSA or RS256)")]
    UnsupportedAlgorithm(String),
    /// Reading or writing the key directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A key file that is not a usable key.
    #[error("{path}: {reason}")]
    BadKeyFile {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// Key material the crypto library refused.
    #[error("invalid {alg} key: {reason}")]
    Rejected {
        /// The algorithm the key was loaded for.
        alg: Algorithm,
        /// The library's reason.
        reason: String,
    },
    /// The key is already in the directory: adding a second copy is refused.
    #[error(
        "key {kid} is already in the key directory ({}){}; not added again",
        path.display(),
        if *revoked { ", revoked: a revoked key never comes back" } else { "" }
    )]
    KidExists {
        /// The key's kid.
        kid: String,
        /// The file that holds it.
        path: PathBuf,
        /// Whether that key was revoked.
        revoked: bool,
    },
    /// No key with this kid in the directory.
    #[error("no key with kid `{0}` in the key directory")]
    UnknownKid(String),
    /// No key in the directory can sign (all revoked, or none at all).
    #[error("no key in the key directory can sign")]
    NoSigningKey,
    /// Key generation or signing failed inside the crypto library.
    #[error("crypto operation failed: {0}")]
    Crypto(&'static str),
    /// Writing a key file's metadata failed.
    #[error("key metadata: {0}")]
    Metadata(String),
    /// Serializing a header, claims or JWK failed.
    #[error("serialization failed: {0}")]
    Json(#[from] serde_json::Error),
    /// jsonwebtoken refused to build a JWK.
    #[error("building the JWK failed: {0}")]
    Jwk(#[from] jsonwebtoken::errors::Error),
}
