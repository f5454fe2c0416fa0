//! Brute-force protection for the password grant: exponential backoff per username and per
//! source address, in memory.
//!
//! Each replica keeps its own counters; nothing is shared. An attacker spreading guesses
//! over N replicas gets N times the budget, which stays tiny next to an argon2 hash's cost,
//! and no state shared between replicas is needed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failures allowed before backoff starts.
pub(crate) const FREE_ATTEMPTS: u32 = 5;
/// The first backoff; each further failure doubles it.
pub(crate) const BASE_DELAY: Duration = Duration::from_secs(1);
/// The longest backoff.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(300);
/// Counters idle this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(900);
/// Bound on remembered counters; past it, idle ones are dropped first.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Failure counters by username and by source address.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Throttle {
    fn keys(username: &str, address: Option<IpAddr>) -> impl Iterator<Item = Key> {
        std::iter::once(Key::User(username.to_owned())).chain(address.map(Key::Address))
    }

    /// `Err(wait)` while either the username or the address is backing off.
    pub(crate) fn check(
        &self,
        username: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let wait = Self::keys(username, address)
            .filter_map(|k| entries.get(&k).and_then(|e| e.blocked_until))
            .filter_map(|until| until.checked_duration_since(now))
            .max();
        match wait {
            Some(w) if !w.is_zero() => Err(w),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt; past [`FREE_ATTEMPTS`], blocks for a doubling delay.
    pub(crate) fn failure(&self, username: &str, address: Option<IpAddr>, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| now.duration_since(e.last) < FORGET_AFTER);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        for key in Self::keys(username, address) {
            let e = entries.entry(key).or_insert(Entry { failures: 0, last: now, blocked_until: None });
            if now.duration_since(e.last) >= FORGET_AFTER {
                *e = Entry { failures: 0, last: now, blocked_until: None };
            }
            e.failures += 1;
            e.last = now;
            if e.failures >= FREE_ATTEMPTS {
                let doublings = (e.failures - FREE_ATTEMPTS).min(16);
                let delay = BASE_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
                e.blocked_until = Some(now + delay);
            }
        }
    }

    /// A successful login clears the username's counter (not the address's: one good
    /// password must not reset an address that is guessing others).
    pub(crate) fn success(&self, username: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.remove(&Key::User(username.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_after_the_free_attempts_and_doubles() {
        let t = Throttle::default();
        let now = Instant::now();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..FREE_ATTEMPTS - 1 {
            t.failure("alice", Some(ip), now);
            assert!(t.check("alice", Some(ip), now).is_ok());
        }
        t.failure("alice", Some(ip), now);
        assert_eq!(t.check("alice", None, now), Err(BASE_DELAY));
        t.failure("alice", Some(ip), now);
        assert_eq!(t.check("alice", None, now), Err(BASE_DELAY * 2));
        // The address is blocked for other usernames too.
        assert!(t.check("bob", Some(ip), now).is_err());
        assert!(t.check("alice", None, now + BASE_DELAY * 2).is_ok());
        t.success("alice");
        assert!(t.check("alice", None, now).is_ok());
    }
}
