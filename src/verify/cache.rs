//! The verified-token cache of a [`Verifier`](super::Verifier) (opt-in,
//! [`Verifier::with_cache`](super::Verifier::with_cache)): a client reuses one token for its
//! whole lifetime, so a resource server sees the same compact token hundreds or thousands of
//! times, and only the first needs its signature checked.
//!
//! - Keyed by the SHA-256 of the whole compact token: a token that differs in any byte is
//!   another entry, and a forged token never finds a genuine one's.
//! - Bounded by entries (and so memory): past `capacity`, the least used go first
//!   (`quick_cache`'s CLOCK-Pro).
//! - An entry lives until the token's `exp` or `max_age` after it was verified, whichever is
//!   first; and it is used only while the key that verified it is still in the key set, so a
//!   rotation or a revocation that removes the key removes its tokens too.
//! - What depends on time (`exp`, `nbf`, the lifetime) and on the caller (issuer, audience,
//!   and the scopes the caller then asks for) is checked on every call; only the parsing and
//!   the signature are skipped. Failures are never cached.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest;

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

/// Tokens whose signature verified, by the SHA-256 of the compact token.
#[derive(Debug)]
pub(super) struct TokenCache {
    entries: quick_cache::sync::Cache<[u8; 32], Arc<Verified>>,
    /// Longest time an entry is used after its token was verified.
    max_age: Duration,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens, each used at most `max_age` after it verified.
    pub(super) fn new(capacity: usize, max_age: Duration) -> Self {
        TokenCache { entries: quick_cache::sync::Cache::new(capacity.max(1)), max_age }
    }

    /// The key of `token`.
    pub(super) fn key(token: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        out
    }

    /// The entry of `key`, if it may still be used at `now` (seconds since the epoch).
    pub(super) fn get(&self, key: &[u8; 32], now: u64) -> Option<Arc<Verified>> {
        let entry = self.entries.get(key)?;
        if now < entry.until {
            return Some(entry);
        }
        self.entries.remove(key);
        None
    }

    /// Forgets `key` (its key left the key set).
    pub(super) fn remove(&self, key: &[u8; 32]) {
        self.entries.remove(key);
    }

    /// Remembers the verified `claims` of the token of `key`, verified by `kid` at `now`.
    pub(super) fn insert(&self, key: [u8; 32], claims: &Arc<AccessClaims>, kid: String, now: u64) {
        let until = claims.exp.min(now.saturating_add(self.max_age.as_secs()));
        if until > now {
            let verified = Verified { claims: Arc::clone(claims), kid, until };
            self.entries.insert(key, Arc::new(verified));
        }
    }

    /// How many tokens it holds.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}
