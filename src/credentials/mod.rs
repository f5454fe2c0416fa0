//! Credentials as a leaf: presented secrets and their stored hashes, argon2id checks on
//! the blocking pool, and the brute-force throttle. Shared by `clients` (client secrets)
//! and `users` (passwords); imports nothing else of the crate.

pub(crate) mod argon2;
mod secret;
pub(crate) mod throttle;

pub(crate) use argon2::Argon2Pool;
pub(crate) use secret::{Secret, SecretHash, SecretHashError, matching_sha256, sha256, sha256_digest};
pub(crate) use throttle::{Admitted, Attempt, Throttle};

use std::net::IpAddr;
use std::time::Instant;

/// Who tries a credential, and when: what the brute-force throttle counts by. Read once per
/// request at the HTTP edge and passed down as a value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Requester {
    /// The client's address (see `server.trusted_proxies`); `None` when unknown (requests
    /// without a connection, such as in-process ones).
    pub(crate) address: Option<IpAddr>,
    /// When the request arrived, on the monotonic clock.
    pub(crate) at: Instant,
}
