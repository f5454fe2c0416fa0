//! Credentials as a leaf: presented secrets and their stored hashes, argon2id checks on
//! the blocking pool, and the brute-force throttle. Shared by `clients` (client secrets)
//! and `users` (passwords); imports nothing else of the crate.

pub(crate) mod argon2;
mod secret;
pub(crate) mod throttle;

pub(crate) use argon2::Argon2Pool;
pub(crate) use secret::{Secret, SecretHash, SecretHashError, matches_any_sha256, sha256, sha256_digest};
pub(crate) use throttle::{Attempt, Throttle};
