//! Fixtures shared by the key tests that run over a real directory (test builds only).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Algorithm;
use super::schedule::KeyPolicy;
use super::store::{Created, StoredKey};

/// The tests' "now", in seconds since the epoch.
pub(crate) const T0: u64 = 1_900_000_000;

/// `s` seconds since the epoch.
pub(crate) fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

/// The key a `create` or `add` wrote; panics if another writer had taken the slot.
pub(crate) fn created(c: Created) -> StoredKey {
    match c {
        Created::New(k) => k,
        Created::AlreadyThere(p) => panic!("slot taken: {}", p.display()),
    }
}

/// ES256, published an hour ahead, retired 30 s after `max_ttl` (1 h), no rotation, writer.
pub(crate) fn policy() -> KeyPolicy {
    KeyPolicy {
        alg: Algorithm::ES256,
        publish_ahead: Duration::from_secs(3600),
        retire_after: Duration::from_secs(3630),
        refresh_retire_after: Duration::from_secs(3630),
        rotate_every: None,
        writer: true,
    }
}
