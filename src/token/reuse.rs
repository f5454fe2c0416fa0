//! Token reuse (`tokens.reuse_window`, off by default): a client that repeats an identical
//! client-credentials request soon after the last one gets the token it was already given,
//! instead of a new signature.
//!
//! It protects the service from clients that never cache their tokens (ory/hydra#2046),
//! and lifts issuance toward the HTTP ceiling, since the signature is most of a request's
//! cost. A token is reused only when all of these hold:
//! - same client, same granted scopes, same audiences, same lifetime, same signing key
//!   (so a key rotation or revocation starts fresh tokens at once);
//! - it was issued less than `reuse_window` ago;
//! - at least half of its lifetime remains.
//!
//! The answer's `expires_in` is the remaining lifetime. The trade-off: the same `jti`
//! appears in several responses, so a resource server that treats `jti` as single-use
//! would refuse the repeats. Each replica keeps its own cache; nothing is shared.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// Most tokens remembered at once per replica. Beyond, the least useful entries are
/// evicted; an evicted entry only costs one more signature.
pub(crate) const REUSE_CAPACITY: usize = 4096;

/// A token kept for reuse.
#[derive(Debug)]
pub(crate) struct Reusable {
    /// The compact JWS.
    pub(crate) access_token: String,
    /// Its `jti`.
    pub(crate) jti: String,
    /// `iat`, seconds since the epoch.
    pub(crate) issued_at: u64,
    /// `exp`, seconds since the epoch.
    pub(crate) expires_at: u64,
}

/// The tokens issued within the window, by request.
pub(crate) struct ReuseCache {
    window: u64,
    tokens: quick_cache::sync::Cache<String, Arc<Reusable>>,
}

impl std::fmt::Debug for ReuseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReuseCache")
            .field("window_secs", &self.window)
            .field("len", &self.tokens.len())
            .finish()
    }
}

/// What makes two requests identical for reuse.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// The signing key's `kid`.
    pub(crate) kid: &'a str,
    /// The authenticated client.
    pub(crate) client_id: &'a str,
    /// The granted scopes, space-delimited.
    pub(crate) scope: &'a str,
    /// The granted audiences.
    pub(crate) audiences: &'a [&'a str],
    /// The token lifetime, seconds.
    pub(crate) ttl: u64,
}

/// A request's cache key, built once per request and used for both lookup and insert.
#[derive(Debug)]
pub(crate) struct ReuseKey(String);

impl Request<'_> {
    /// An unambiguous cache key: every part prefixed with its length.
    pub(crate) fn key(&self) -> ReuseKey {
        let parts = [self.kid, self.client_id, self.scope].into_iter().chain(self.audiences.iter().copied());
        let mut key = String::with_capacity(96);
        for part in parts {
            let _ = write!(key, "{}:{part}", part.len());
        }
        let _ = write!(key, "{}", self.ttl);
        ReuseKey(key)
    }
}

impl ReuseCache {
    /// A cache for `window`; `None` when the window is zero (reuse off).
    pub(crate) fn new(window: Duration) -> Option<Self> {
        let window = window.as_secs();
        (window > 0).then(|| ReuseCache { window, tokens: quick_cache::sync::Cache::new(REUSE_CAPACITY) })
    }

    /// The token an identical earlier request (same `key`) got, if it may still be handed out at `now`
    /// (seconds since the epoch).
    pub(crate) fn get(&self, key: &ReuseKey, now: u64) -> Option<Arc<Reusable>> {
        let token = self.tokens.get(key.0.as_str())?;
        let lifetime = token.expires_at.saturating_sub(token.issued_at);
        let fresh = now >= token.issued_at && now < token.issued_at + self.window;
        let half_left = token.expires_at.saturating_sub(now) * 2 >= lifetime;
        (fresh && half_left).then_some(token)
    }

    /// Remembers a token just issued for the request with this `key`.
    pub(crate) fn put(&self, key: ReuseKey, token: Reusable) {
        self.tokens.insert(key.0, Arc::new(token));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: Request<'static> =
        Request { kid: "k1", client_id: "svc", scope: "read", audiences: &["https://api"], ttl: 300 };

    fn token(issued_at: u64, ttl: u64) -> Reusable {
        Reusable {
            access_token: format!("token-{issued_at}"),
            jti: "j".into(),
            issued_at,
            expires_at: issued_at + ttl,
        }
    }

    #[test]
    fn reused_within_the_window_and_never_past_half_the_lifetime() {
        let cache = ReuseCache::new(Duration::from_secs(30)).unwrap();
        cache.put(REQ.key(), token(1000, 300));
        assert!(cache.get(&REQ.key(), 1000).is_some());
        assert!(cache.get(&REQ.key(), 1029).is_some());
        assert!(cache.get(&REQ.key(), 1030).is_none(), "past the window");
        assert!(cache.get(&REQ.key(), 999).is_none(), "clock went backwards");

        // A window longer than half the lifetime is cut at half the lifetime.
        let long = ReuseCache::new(Duration::from_secs(600)).unwrap();
        long.put(REQ.key(), token(1000, 300));
        assert!(long.get(&REQ.key(), 1150).is_some());
        assert!(long.get(&REQ.key(), 1151).is_none(), "less than half the lifetime left");
    }

    #[test]
    fn any_difference_in_the_request_misses() {
        let cache = ReuseCache::new(Duration::from_secs(30)).unwrap();
        cache.put(REQ.key(), token(1000, 300));
        let others = [
            Request { kid: "k2", ..REQ },
            Request { client_id: "svc2", ..REQ },
            Request { scope: "read write", ..REQ },
            Request { audiences: &["https://api", "https://other"], ..REQ },
            Request { audiences: &[], ..REQ },
            Request { ttl: 60, ..REQ },
            // Parts that run together the same way must not collide.
            Request { client_id: "svcr", scope: "ead", ..REQ },
        ];
        for other in others {
            assert!(cache.get(&other.key(), 1001).is_none(), "{other:?}");
        }
    }

    #[test]
    fn a_zero_window_is_off() {
        assert!(ReuseCache::new(Duration::ZERO).is_none());
    }
}
