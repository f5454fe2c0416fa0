//! Fixtures shared by the key tests that run over a real directory (test builds only).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Algorithm;
use super::ring::KeyPolicy;

/// The tests' "now", in seconds since the epoch.
pub(crate) const T0: u64 = 1_900_000_000;

/// `s` seconds since the epoch.
pub(crate) fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
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
