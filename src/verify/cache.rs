//! The verified-token cache of a [`Verifier`](super::Verifier) (opt-in,
//! [`Verifier::with_cache`](super::Verifier::with_cache)): a client reuses one token for its
//! whole lifetime, so a resource server sees the same compact token hundreds or thousands of
//! times, and only the first needs its signature checked.
//!
//! - Keyed by the whole compact token itself, compared byte for byte: a token that differs in
//!   any byte is another entry, and a forged token never finds a genuine one's. (As Envoy's
//!   `jwt_cache_config` and PostgREST do.) The table hashes the token with `ahash`, seeded at
//!   random per process, to find the entry; equality, not the hash, decides a hit. A SHA-256
//!   of the token would give the same guarantee but costs 0.5–0.8 µs by itself, more than a
//!   whole hit does now (0.3–0.4 µs; the `sha256` and `hit` columns of
//!   `benches/verify_paired.rs`, BENCHMARKS.md).
//! - Only tokens whose signature verified are ever inserted, so nobody without a genuine token
//!   can fill the table or steer its hashing; a token the cache holds is one the process was
//!   handed anyway, kept no longer than its `exp` (or `max_age`), and never printed: the
//!   cache's `Debug` shows no entry.
//! - Bounded by entries (and so memory: each holds a token of at most
//!   [`MAX_TOKEN_BYTES`](super::MAX_TOKEN_BYTES) and its claims): past `capacity`, the least used
//!   go first (`quick_cache`'s CLOCK-Pro).
//! - An entry lives until the token's `exp` or `max_age` after it was verified, whichever is
//!   first; and it is used only while the key that verified it is still in the key set, so a
//!   rotation or a revocation that removes the key removes its tokens too.
//! - What depends on time (`exp`, `nbf`, the lifetime) and on the caller (issuer, audience,
//!   and the scopes the caller then asks for) is checked on every call; only the parsing and
//!   the signature are skipped. Failures are never cached.

use std::sync::Arc;
use std::time::Duration;

use crate::claims::AccessClaims;

/// A verified token, as remembered.
#[derive(Debug)]
pub(super) struct Verified {
    /// Its claims, shared with every caller that gets them from the cache.
    pub(super) claims: Arc<AccessClaims>,
    /// The `kid` of the key that verified it.
    pub(super) kid: String,
    /// Until when (seconds since the epoch, exclusive) the entry may be used.
    pub(super) until: u64,
}

/// Tokens whose signature verified, by the compact token.
#[derive(Debug)]
pub(super) struct TokenCache {
    entries: quick_cache::sync::Cache<Box<str>, Arc<Verified>>,
    /// Longest time an entry is used after its token was verified.
    max_age: Duration,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens, each used at most `max_age` after it verified.
    pub(super) fn new(capacity: usize, max_age: Duration) -> Self {
        TokenCache { entries: quick_cache::sync::Cache::new(capacity.max(1)), max_age }
    }

    /// The entry of `token`, if it may still be used at `now` (seconds since the epoch).
    pub(super) fn get(&self, token: &str, now: u64) -> Option<Arc<Verified>> {
        let entry = self.entries.get(token)?;
        if now < entry.until {
            return Some(entry);
        }
        self.entries.remove(token);
        None
    }

    /// Forgets `token` (its key left the key set).
    pub(super) fn remove(&self, token: &str) {
        self.entries.remove(token);
    }

    /// Remembers the verified `claims` of `token`, verified by `kid` at `now`.
    pub(super) fn insert(&self, token: &str, claims: &Arc<AccessClaims>, kid: String, now: u64) {
        let until = claims.exp.min(now.saturating_add(self.max_age.as_secs()));
        if until > now {
            let verified = Verified { claims: Arc::clone(claims), kid, until };
            self.entries.insert(Box::from(token), Arc::new(verified));
        }
    }

    /// How many tokens it holds.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}
