//! Brute-force throttling of password-like credentials: user passwords (the password grant)
//! and human-chosen client secrets (argon2id). Exponential backoff per name (a username or a
//! `client_id`) and per source address, in memory.
//!
//! An attempt is counted when it *starts*, not when its slow check ends: [`Throttle::begin`]
//! reserves it under the same lock that decides whether it may run, so concurrent requests
//! cannot all slip past the limit while their checks run. At most [`FREE_ATTEMPTS`] checks
//! can be running or done for a name or an address before the backoff; after each backoff,
//! one at a time.
//!
//! Pure: takes `now` (an attempt dropped unsettled counts as failed when it began), no
//! tokio, no I/O, no HTTP. Its owners (`users`, `clients`) read the monotonic clock (`Instant`),
//! not the injected wall clock: a backoff is a duration, and tests move time by passing
//! instants here. Each replica keeps its own counters; nothing is shared. An attacker
//! spreading guesses over N replicas gets N times the budget, which stays tiny next to an
//! argon2 hash's cost.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::sha256;

/// Failed attempts allowed (counting those still being checked) before backoff starts.
pub(crate) const FREE_ATTEMPTS: u32 = 5;
/// The first backoff; each further failure doubles it.
pub(crate) const BASE_DELAY: Duration = Duration::from_secs(1);
/// The longest backoff.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(300);
/// Counters idle this long are forgotten. Longer than [`MAX_DELAY`], so no block is lost.
const FORGET_AFTER: Duration = Duration::from_secs(900);
/// Bound on remembered counters. Past it, forgotten ones go first, then the oldest that are
/// not blocking, then the oldest blocking ones; counters with an attempt in flight stay.
const MAX_ENTRIES: usize = 100_000;

/// What a counter is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    /// SHA-256 of a username or client id: 32 bytes however long the name a client sent,
    /// and no name kept in memory.
    Name([u8; 32]),
    /// A source address.
    Address(IpAddr),
}

impl Key {
    fn name(name: &str) -> Key {
        Key::Name(sha256(name.as_bytes()))
    }
}

/// One counter.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Failed attempts since the counter was last cleared or forgotten.
    failures: u32,
    /// Attempts admitted whose outcome is not known yet.
    in_flight: u32,
    /// The last attempt's start or end.
    last: Instant,
    /// No attempt is admitted before this.
    blocked_until: Option<Instant>,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Entry { failures: 0, in_flight: 0, last: now, blocked_until: None }
    }

    /// Whether nothing about this counter matters any more.
    fn is_forgotten(&self, now: Instant) -> bool {
        self.in_flight == 0 && now.saturating_duration_since(self.last) >= FORGET_AFTER
    }

    /// How long until the block ends, if it is blocking at `now`.
    fn blocked_for(&self, now: Instant) -> Option<Duration> {
        self.blocked_until.and_then(|until| until.checked_duration_since(now)).filter(|w| !w.is_zero())
    }

    /// `Err(wait)` unless a new attempt may start now: not blocked, and either within the
    /// free attempts (counting those in flight) or, past them, none in flight.
    fn admits(&self, now: Instant) -> Result<(), Duration> {
        if let Some(wait) = self.blocked_for(now) {
            return Err(wait);
        }
        let pending = self.failures.saturating_add(self.in_flight);
        if pending < FREE_ATTEMPTS || self.in_flight == 0 {
            Ok(())
        } else {
            // If the attempts in flight fail, this is the block that follows.
            Err(delay_after(pending))
        }
    }

    fn record_failure(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.last = now;
        if self.failures >= FREE_ATTEMPTS {
            let until = now + delay_after(self.failures);
            self.blocked_until = Some(self.blocked_until.map_or(until, |u| u.max(until)));
        }
    }
}

/// The block after `failures` failures (at least [`FREE_ATTEMPTS`]): doubling, capped.
fn delay_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(FREE_ATTEMPTS).min(16);
    BASE_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

/// Attempt counters by name and by source address. One instance per kind of credential,
/// so a username and a client id with the same spelling never share a counter.
pub(crate) struct Throttle {
    /// A `std` mutex: it is held for a few hash-map operations and never across an await.
    entries: Mutex<HashMap<Key, Entry>>,
    /// [`MAX_ENTRIES`], smaller in tests.
    capacity: usize,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::with_capacity(MAX_ENTRIES)
    }
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle").field("entries", &self.lock().len()).finish_non_exhaustive()
    }
}

/// An admitted attempt, counted as in flight until it is settled. Dropped without
/// [`succeeded`](Attempt::succeeded) (a failed check, or a request cancelled mid-check), it
/// counts as a failure: the check it paid for may well have run.
#[derive(Debug)]
#[must_use = "an attempt is a failure unless it is reported as a success"]
pub(crate) struct Attempt<'a> {
    throttle: &'a Throttle,
    name: Key,
    address: Option<Key>,
    /// When it was admitted: a dropped attempt's failure counts from then.
    begun: Instant,
    settled: bool,
}

impl Attempt<'_> {
    /// The check passed: clears the name's counter (not the address's: one right password
    /// must not reset an address that is guessing others) and ends the attempt.
    pub(crate) fn succeeded(mut self, now: Instant) {
        self.settle(true, now);
    }

    /// The check failed: counts a failure for the name and the address.
    pub(crate) fn failed(mut self, now: Instant) {
        self.settle(false, now);
    }

    fn settle(&mut self, success: bool, now: Instant) {
        if !std::mem::replace(&mut self.settled, true) {
            self.throttle.finish(self.name, self.address, success, now);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.settle(false, self.begun);
    }
}

impl Throttle {
    fn with_capacity(capacity: usize) -> Self {
        Throttle { entries: Mutex::new(HashMap::new()), capacity }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        // Every update leaves the map consistent, so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits an attempt for `name` from `address`, or `Err(wait)` while either is backing
    /// off or already has as many attempts in flight as it may.
    pub(crate) fn begin(
        &self,
        name: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt<'_>, Duration> {
        let (name, address) = (Key::name(name), address.map(Key::Address));
        self.admit(name, address, now, || false)?;
        Ok(Attempt { throttle: self, name, address, begun: now, settled: false })
    }

    /// Like [`begin`](Self::begin), but once admitted, asks `known_good` (under the lock)
    /// whether the credential is already known to be right; if so, clears the name's
    /// counter and returns `Ok(None)` without reserving anything. A known-good credential
    /// is refused exactly when a new one would be, so the answer never tells a guesser
    /// more than a counted attempt would.
    pub(crate) fn begin_unless(
        &self,
        name: &str,
        address: Option<IpAddr>,
        now: Instant,
        known_good: impl FnOnce() -> bool,
    ) -> Result<Option<Attempt<'_>>, Duration> {
        let (name, address) = (Key::name(name), address.map(Key::Address));
        let reserved = self.admit(name, address, now, known_good)?;
        // Lazily: an `Attempt` built and dropped would count as a failure.
        Ok(reserved.then(|| Attempt { throttle: self, name, address, begun: now, settled: false }))
    }

    /// Under one lock: refuses while a counter says wait; else, unless `known_good`,
    /// reserves an attempt on both counters. `Ok(true)` when reserved.
    fn admit(
        &self,
        name: Key,
        address: Option<Key>,
        now: Instant,
        known_good: impl FnOnce() -> bool,
    ) -> Result<bool, Duration> {
        let keys = [Some(name), address];
        let mut entries = self.lock();
        let mut wait: Option<Duration> = None;
        for key in keys.iter().flatten() {
            if let Some(e) = entries.get_mut(key) {
                if e.is_forgotten(now) {
                    *e = Entry::new(now);
                }
                if let Err(w) = e.admits(now) {
                    wait = wait.max(Some(w));
                }
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        if known_good() {
            clear(&mut entries, name);
            return Ok(false);
        }
        let adding = keys.iter().flatten().filter(|k| !entries.contains_key(k)).count();
        make_room(&mut entries, adding, self.capacity, now);
        for key in keys.into_iter().flatten() {
            let e = entries.entry(key).or_insert_with(|| Entry::new(now));
            e.in_flight = e.in_flight.saturating_add(1);
            e.last = now;
        }
        Ok(true)
    }

    /// Ends an attempt begun by [`begin`](Self::begin) or [`begin_unless`](Self::begin_unless).
    fn finish(&self, name: Key, address: Option<Key>, success: bool, now: Instant) {
        let mut entries = self.lock();
        for key in std::iter::once(name).chain(address) {
            let e = entries.entry(key).or_insert_with(|| Entry::new(now));
            e.in_flight = e.in_flight.saturating_sub(1);
            e.last = now;
            if !success {
                e.record_failure(now);
            }
        }
        if success {
            clear(&mut entries, name);
        }
    }
}

/// Clears a counter's failures and block; drops it unless attempts are in flight.
fn clear(entries: &mut HashMap<Key, Entry>, key: Key) {
    if let Some(e) = entries.get_mut(&key) {
        if e.in_flight == 0 {
            entries.remove(&key);
        } else {
            e.failures = 0;
            e.blocked_until = None;
        }
    }
}

/// Makes room for `adding` new counters within `capacity`: drops forgotten counters, then
/// (down to 7/8 of the capacity, so this runs rarely) the oldest that block nothing, then
/// the oldest blocking ones. Counters with attempts in flight are never dropped, so the
/// bound can be exceeded by at most the number of requests being checked at once.
fn make_room(entries: &mut HashMap<Key, Entry>, adding: usize, capacity: usize, now: Instant) {
    if adding == 0 || entries.len() + adding <= capacity {
        return;
    }
    entries.retain(|_, e| !e.is_forgotten(now));
    if entries.len() + adding <= capacity {
        return;
    }
    let target = capacity - capacity / 8;
    let mut candidates: Vec<(bool, Instant, Key)> = entries
        .iter()
        .filter(|(_, e)| e.in_flight == 0)
        .map(|(k, e)| (e.blocked_for(now).is_some(), e.last, *k))
        .collect();
    let excess = (entries.len() + adding).saturating_sub(target).min(candidates.len());
    if excess == 0 {
        return;
    }
    // Unblocked (`false`) before blocked, then oldest first.
    candidates.select_nth_unstable_by_key(excess - 1, |c| (c.0, c.1));
    for (_, _, key) in candidates.iter().take(excess) {
        entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn fail(t: &Throttle, name: &str, address: Option<IpAddr>, now: Instant) {
        t.begin(name, address, now).unwrap().failed(now);
    }

    #[test]
    fn backoff_starts_after_the_free_attempts_and_doubles() {
        let t = Throttle::default();
        let now = Instant::now();
        let addr = ip("127.0.0.1");
        for _ in 0..FREE_ATTEMPTS - 1 {
            fail(&t, "alice", addr, now);
        }
        fail(&t, "alice", addr, now);
        assert_eq!(t.begin("alice", None, now).unwrap_err(), BASE_DELAY);
        let later = now + BASE_DELAY;
        fail(&t, "alice", addr, later);
        assert_eq!(t.begin("alice", None, later).unwrap_err(), BASE_DELAY * 2);
        // The address is blocked for other usernames too.
        assert!(t.begin("bob", addr, later).is_err());
        // After the block, one attempt; a success clears the name but not the address.
        t.begin("alice", None, later + BASE_DELAY * 2).unwrap().succeeded(later + BASE_DELAY * 2);
        assert!(t.begin("alice", None, later).is_ok());
        assert!(t.begin("bob", addr, later).is_err());
    }

    #[test]
    fn attempts_in_flight_count_toward_the_limit() {
        let t = Throttle::default();
        let now = Instant::now();
        let running: Vec<_> = (0..FREE_ATTEMPTS).map(|_| t.begin("alice", None, now).unwrap()).collect();
        assert_eq!(t.begin("alice", None, now).unwrap_err(), BASE_DELAY, "no sixth check while five run");
        assert!(t.begin("bob", None, now).is_ok(), "other names are not affected");
        // Dropped unsettled (a cancelled request), they count as failures.
        drop(running);
        assert!(t.begin("alice", None, now).is_err());
        // Past the free attempts, one attempt at a time after each block.
        let after = now + MAX_DELAY;
        let one = t.begin("alice", None, after).unwrap();
        assert!(t.begin("alice", None, after).is_err());
        one.failed(after);
        assert_eq!(t.begin("alice", None, after).unwrap_err(), BASE_DELAY * 2);
    }

    #[test]
    fn known_good_credentials_skip_the_count_but_never_the_block() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..3 {
            assert!(t.begin_unless("svc", None, now, || true).unwrap().is_none());
        }
        let running: Vec<_> = (0..FREE_ATTEMPTS).map(|_| t.begin("svc", None, now).unwrap()).collect();
        let mut asked = false;
        assert!(
            t.begin_unless("svc", None, now, || {
                asked = true;
                true
            })
            .is_err()
        );
        assert!(!asked, "a refused attempt learns nothing about the credential");
        drop(running);
    }

    #[test]
    fn a_full_table_drops_the_oldest_unblocked_counters_first() {
        let t = Throttle::with_capacity(16);
        let start = Instant::now();
        // One blocked name, then enough other failures to fill the table many times over.
        for _ in 0..FREE_ATTEMPTS {
            fail(&t, "victim", None, start);
        }
        for i in 0..100u32 {
            fail(&t, &format!("filler-{i}"), None, start + Duration::from_millis(u64::from(i)));
            assert!(t.lock().len() <= 16);
        }
        assert!(t.begin("victim", None, start).is_err(), "the block survives eviction");
        // The newest filler is still counted; the oldest is gone.
        assert!(t.lock().contains_key(&Key::name("filler-99")));
        assert!(!t.lock().contains_key(&Key::name("filler-0")));
    }

    #[test]
    fn names_are_stored_as_fixed_size_digests() {
        let t = Throttle::default();
        let now = Instant::now();
        let long = "x".repeat(16 * 1024);
        fail(&t, &long, None, now);
        assert!(t.lock().contains_key(&Key::name(&long)));
    }
}
