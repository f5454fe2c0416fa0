//! The single-use rule of client assertions (RFC 7523 §3, item 7: "the authorization server
//! MAY ensure that JWTs are not replayed"; RFC 9700 §2.2.1 asks for it): every `jti` seen,
//! per client, until its assertion expires.
//!
//! Per replica, in memory: a replay against another replica is bounded only by the
//! assertion's short lifetime (`tokens.assertion_max_lifetime`, five minutes by default),
//! which is why that lifetime is capped. Bounded: past `tokens.assertion_replay_capacity`
//! unexpired entries, new assertions are refused (and logged) rather than an entry dropped,
//! since a dropped entry would make its assertion replayable. Only a client that holds a
//! valid key can add entries: they are added after the signature verified.
//!
//! Written by hand: the entries must live exactly until their own expiry, which the
//! general-purpose caches at hand (size- or idle-bounded) do not promise.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest;

/// Shards of the cache: concurrent assertions of different clients rarely wait for each other.
const SHARDS: usize = 16;

/// What the cache says about an assertion's `jti`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// First use: remembered until it expires.
    First,
    /// Seen before: a replay.
    Again,
    /// The cache holds its capacity in unexpired entries: refused, not remembered.
    Full,
}

/// Seen `jti`s of client assertions, each until its assertion's expiry.
#[derive(Debug)]
pub(crate) struct ReplayCache {
    shards: Box<[Mutex<Shard>]>,
    /// Most entries of one shard.
    per_shard: usize,
}

#[derive(Debug, Default)]
struct Shard {
    /// A digest of (client id, `jti`) and when its assertion expires, seconds since the epoch.
    seen: HashMap<[u8; 16], u64>,
    /// When expired entries were last swept: at most once a second.
    swept_at: u64,
}

impl ReplayCache {
    /// A cache of at most about `capacity` unexpired entries.
    pub(crate) fn new(capacity: usize) -> Self {
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect();
        ReplayCache { shards, per_shard: capacity.div_ceil(SHARDS).max(1) }
    }

    /// Records the use of `jti` by `client_id`, whose assertion expires at `expires_at`, as
    /// of `now` (both seconds since the epoch).
    pub(crate) fn first_use(&self, client_id: &str, jti: &str, expires_at: u64, now: u64) -> Seen {
        let key = digest_of(client_id, jti);
        let mut shard =
            self.shards[usize::from(key[0]) % SHARDS].lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&until) = shard.seen.get(&key)
            && until >= now
        {
            return Seen::Again;
        }
        if shard.seen.len() >= self.per_shard && shard.swept_at < now {
            shard.seen.retain(|_, until| *until >= now);
            shard.swept_at = now;
        }
        if shard.seen.len() >= self.per_shard && !shard.seen.contains_key(&key) {
            return Seen::Full;
        }
        shard.seen.insert(key, expires_at);
        Seen::First
    }
}

/// The first 128 bits of SHA-256 over the length-prefixed client id and `jti`: fixed-size
/// entries whatever a client sends, and no collision between clients.
fn digest_of(client_id: &str, jti: &str) -> [u8; 16] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in [client_id, jti] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&ctx.finish().as_ref()[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_single_use_until_its_assertion_expires_rfc7523_3() {
        let cache = ReplayCache::new(64);
        assert_eq!(cache.first_use("a", "j1", 100, 50), Seen::First);
        assert_eq!(cache.first_use("a", "j1", 100, 99), Seen::Again);
        // Another client's `jti` of the same value is its own.
        assert_eq!(cache.first_use("b", "j1", 100, 50), Seen::First);
        // Once the assertion has expired, it is refused by its `exp` anyway.
        assert_eq!(cache.first_use("a", "j1", 200, 101), Seen::First);
    }

    #[test]
    fn a_full_cache_refuses_new_assertions_until_entries_expire() {
        let cache = ReplayCache::new(SHARDS);
        // One entry per shard: fill until some shard refuses.
        let mut full_at = None;
        for i in 0..1000 {
            if cache.first_use("c", &format!("j{i}"), 10, 5) == Seen::Full {
                full_at = Some(i);
                break;
            }
        }
        let i = full_at.expect("a shard fills");
        // After the entries expired, the same assertion is accepted (its own `exp` is later).
        assert_eq!(cache.first_use("c", &format!("j{i}"), 20, 11), Seen::First);
    }
}
