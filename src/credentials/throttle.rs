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
//! Only failures refuse. An attempt that finds its slots taken by checks still running
//! waits for one of them to settle and then asks again: a busy client, or a backend logging
//! many users in from one address, is slowed to the pace of its own checks, never answered
//! `429` for guesses nobody made. Guesses sent all at once still get no more checks than the
//! free attempts: the waiting ones find the block their predecessors' failures set. Waiting
//! attempts are admitted first come, first served (each holds a ticket in the queue of its
//! name and of its address, and newcomers line up behind them), so under a load its checks
//! cannot keep up with, each waits its turn and none starves.
//!
//! No I/O, no HTTP, no clock: it takes `now` (an attempt dropped unsettled counts as failed
//! when it began). The one async piece is a [`Notify`] that wakes waiting attempts when one
//! settles. Its owners (`users`, `clients`) read the monotonic clock (`Instant`), not the
//! injected wall clock: a backoff is a duration, and tests move time by passing instants
//! here. Each replica keeps its own counters; nothing is shared. An attacker
//! spreading guesses over N replicas gets N times the budget, which stays tiny next to an
//! argon2 hash's cost.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

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
#[derive(Debug, Clone)]
struct Entry {
    /// Failed attempts since the counter was last cleared or forgotten.
    failures: u32,
    /// Attempts admitted whose outcome is not known yet.
    in_flight: u32,
    /// Tickets of the attempts waiting for a slot, oldest (smallest) first.
    queue: BTreeSet<u64>,
    /// The last attempt's start or end.
    last: Instant,
    /// No attempt is admitted before this.
    blocked_until: Option<Instant>,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Entry { failures: 0, in_flight: 0, queue: BTreeSet::new(), last: now, blocked_until: None }
    }

    /// Whether no attempt is running or waiting on this counter.
    fn is_idle(&self) -> bool {
        self.in_flight == 0 && self.queue.is_empty()
    }

    /// Whether nothing about this counter matters any more.
    fn is_forgotten(&self, now: Instant) -> bool {
        self.is_idle() && now.saturating_duration_since(self.last) >= FORGET_AFTER
    }

    /// How long until the block ends, if it is blocking at `now`.
    fn blocked_for(&self, now: Instant) -> Option<Duration> {
        self.blocked_until.and_then(|until| until.checked_duration_since(now)).filter(|w| !w.is_zero())
    }

    /// Whether the attempt holding `ticket` (none for a newcomer) may start now: not
    /// blocked, no attempt waiting ahead of it, and either within the free attempts
    /// (counting those in flight) or, past them, none in flight.
    fn admits(&self, now: Instant, ticket: Option<u64>) -> Result<(), Refusal> {
        if let Some(wait) = self.blocked_for(now) {
            return Err(Refusal::Blocked(wait));
        }
        if self.queue.first().is_some_and(|first| Some(*first) != ticket) {
            return Err(Refusal::Busy);
        }
        let pending = self.failures.saturating_add(self.in_flight);
        if pending < FREE_ATTEMPTS || self.in_flight == 0 { Ok(()) } else { Err(Refusal::Busy) }
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

/// What [`Throttle::begin_unless`] lets through.
#[derive(Debug)]
pub(crate) enum Admitted<'a, T> {
    /// A counted attempt: the check must run.
    Attempt(Attempt<'a>),
    /// What `known_good` answered: nothing was reserved.
    KnownGood(T),
}

/// Why an attempt may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Backing off after failures, for this long.
    Blocked(Duration),
    /// Every slot is held by a check still running: ask again when one settles.
    Busy,
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
    /// Wakes the attempts waiting for a slot whenever one settles or leaves the queue.
    settled: Notify,
    /// The next waiting attempt's ticket: tickets grow, so their order is arrival order.
    next_ticket: AtomicU64,
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

/// A waiting attempt's place in the queues: its ticket, once it has one. Dropped while it
/// holds one (the attempt was refused, or its request dropped), it leaves the queues.
struct Place<'a> {
    throttle: &'a Throttle,
    name: Key,
    address: Option<Key>,
    ticket: Option<u64>,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket {
            self.throttle.leave(self.name, self.address, ticket);
        }
    }
}

impl Throttle {
    fn with_capacity(capacity: usize) -> Self {
        Throttle {
            entries: Mutex::new(HashMap::new()),
            settled: Notify::new(),
            next_ticket: AtomicU64::new(0),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        // Every update leaves the map consistent, so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits an attempt for `name` from `address`, or `Err(wait)` while either is backing
    /// off. While either has as many attempts in flight as it may, waits for one to settle
    /// (a caller bounds the wait with its request timeout; dropped, it reserves nothing).
    pub(crate) async fn begin(
        &self,
        name: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt<'_>, Duration> {
        let (name, address) = (Key::name(name), address.map(Key::Address));
        self.reserve(name, address, now, || None::<()>).await?;
        Ok(Attempt { throttle: self, name, address, begun: now, settled: false })
    }

    /// Like [`begin`](Self::begin), but once admitted, asks `known_good` (under the lock)
    /// whether the credential is already known to be right; if it answers `Some`, clears the
    /// name's counter and returns that answer without reserving anything. A known-good
    /// credential is refused exactly when a new one would be, so the answer never tells a
    /// guesser more than a counted attempt would.
    pub(crate) async fn begin_unless<T>(
        &self,
        name: &str,
        address: Option<IpAddr>,
        now: Instant,
        known_good: impl FnMut() -> Option<T>,
    ) -> Result<Admitted<'_, T>, Duration> {
        let (name, address) = (Key::name(name), address.map(Key::Address));
        Ok(match self.reserve(name, address, now, known_good).await? {
            Some(good) => Admitted::KnownGood(good),
            None => Admitted::Attempt(Attempt { throttle: self, name, address, begun: now, settled: false }),
        })
    }

    /// [`admit`](Self::admit), again each time an attempt settles while it answers busy,
    /// holding a place in the queue from the first busy answer on.
    async fn reserve<T>(
        &self,
        name: Key,
        address: Option<Key>,
        now: Instant,
        mut known_good: impl FnMut() -> Option<T>,
    ) -> Result<Option<T>, Duration> {
        let mut place = Place { throttle: self, name, address, ticket: None };
        loop {
            // Registered before asking, so a settle between the answer and the wait wakes it.
            let settled = self.settled.notified();
            let mut settled = std::pin::pin!(settled);
            settled.as_mut().enable();
            match self.admit(name, address, now, &mut place.ticket, &mut known_good) {
                Ok(good) => {
                    if place.ticket.take().is_some() {
                        // The next in line may fit too.
                        self.settled.notify_waiters();
                    }
                    return Ok(good);
                }
                Err(Refusal::Blocked(wait)) => return Err(wait),
                Err(Refusal::Busy) => settled.await,
            }
        }
    }

    /// Under one lock: refuses while a counter says wait or is busy (then, the first time,
    /// gives the attempt a `ticket` in both counters' queues); else takes the attempt out
    /// of the queues and, unless `known_good` answers `Some` (returned), reserves it on both
    /// counters (`Ok(None)`).
    fn admit<T>(
        &self,
        name: Key,
        address: Option<Key>,
        now: Instant,
        ticket: &mut Option<u64>,
        known_good: impl FnOnce() -> Option<T>,
    ) -> Result<Option<T>, Refusal> {
        let keys = [Some(name), address];
        let mut entries = self.lock();
        let (mut wait, mut busy) = (None::<Duration>, false);
        for key in keys.iter().flatten() {
            if let Some(e) = entries.get_mut(key) {
                if e.is_forgotten(now) {
                    *e = Entry::new(now);
                }
                match e.admits(now, *ticket) {
                    Ok(()) => {}
                    Err(Refusal::Blocked(w)) => wait = wait.max(Some(w)),
                    Err(Refusal::Busy) => busy = true,
                }
            }
        }
        // A block outranks a wait for a slot: waiting would end in the same refusal.
        if let Some(wait) = wait {
            return Err(Refusal::Blocked(wait));
        }
        if busy {
            if ticket.is_none() {
                let t = self.next_ticket.fetch_add(1, Ordering::Relaxed);
                self.counters(&mut entries, keys, now, |e| {
                    e.queue.insert(t);
                });
                *ticket = Some(t);
            }
            return Err(Refusal::Busy);
        }
        if let Some(t) = *ticket {
            dequeue(&mut entries, keys, t);
        }
        if let Some(good) = known_good() {
            clear(&mut entries, name);
            return Ok(Some(good));
        }
        self.counters(&mut entries, keys, now, |e| {
            e.in_flight = e.in_flight.saturating_add(1);
            e.last = now;
        });
        Ok(None)
    }

    /// Applies `update` to the counters of `keys`, creating those missing (after making room).
    fn counters(
        &self,
        entries: &mut HashMap<Key, Entry>,
        keys: [Option<Key>; 2],
        now: Instant,
        mut update: impl FnMut(&mut Entry),
    ) {
        let adding = keys.iter().flatten().filter(|k| !entries.contains_key(k)).count();
        make_room(entries, adding, self.capacity, now);
        for key in keys.into_iter().flatten() {
            update(entries.entry(key).or_insert_with(|| Entry::new(now)));
        }
    }

    /// Takes `ticket` out of the queues of `name` and `address`: its attempt stopped
    /// waiting (refused, or its request dropped).
    fn leave(&self, name: Key, address: Option<Key>, ticket: u64) {
        dequeue(&mut self.lock(), [Some(name), address], ticket);
        self.settled.notify_waiters();
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
        drop(entries);
        self.settled.notify_waiters();
    }
}

/// Takes `ticket` out of the queues of `keys`.
fn dequeue(entries: &mut HashMap<Key, Entry>, keys: [Option<Key>; 2], ticket: u64) {
    for key in keys.iter().flatten() {
        if let Some(e) = entries.get_mut(key) {
            e.queue.remove(&ticket);
        }
    }
}

/// Clears a counter's failures and block; drops it unless attempts are in flight or waiting.
fn clear(entries: &mut HashMap<Key, Entry>, key: Key) {
    if let Some(e) = entries.get_mut(&key) {
        if e.is_idle() {
            entries.remove(&key);
        } else {
            e.failures = 0;
            e.blocked_until = None;
        }
    }
}

/// Makes room for `adding` new counters within `capacity`: drops forgotten counters, then
/// (down to 7/8 of the capacity, so this runs rarely) the oldest that block nothing, then
/// the oldest blocking ones. Counters with attempts in flight or waiting are never dropped,
/// so the bound can be exceeded by at most the number of requests being checked or waiting.
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
        .filter(|(_, e)| e.is_idle())
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

    /// [`Throttle::begin`] without the wait: the refusal itself.
    fn try_begin<'a>(
        t: &'a Throttle,
        name: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt<'a>, Refusal> {
        let (name, address) = (Key::name(name), address.map(Key::Address));
        let mut ticket = None;
        let admitted = t.admit(name, address, now, &mut ticket, || None::<()>);
        if let Some(ticket) = ticket {
            t.leave(name, address, ticket);
        }
        admitted?;
        Ok(Attempt { throttle: t, name, address, begun: now, settled: false })
    }

    fn fail(t: &Throttle, name: &str, address: Option<IpAddr>, now: Instant) {
        try_begin(t, name, address, now).unwrap().failed(now);
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
        assert_eq!(try_begin(&t, "alice", None, now).unwrap_err(), Refusal::Blocked(BASE_DELAY));
        let later = now + BASE_DELAY;
        fail(&t, "alice", addr, later);
        assert_eq!(try_begin(&t, "alice", None, later).unwrap_err(), Refusal::Blocked(BASE_DELAY * 2));
        // The address is blocked for other usernames too.
        assert!(try_begin(&t, "bob", addr, later).is_err());
        // After the block, one attempt; a success clears the name but not the address.
        try_begin(&t, "alice", None, later + BASE_DELAY * 2).unwrap().succeeded(later + BASE_DELAY * 2);
        assert!(try_begin(&t, "alice", None, later).is_ok());
        assert!(try_begin(&t, "bob", addr, later).is_err());
    }

    #[test]
    fn attempts_in_flight_count_toward_the_limit() {
        let t = Throttle::default();
        let now = Instant::now();
        let running: Vec<_> =
            (0..FREE_ATTEMPTS).map(|_| try_begin(&t, "alice", None, now).unwrap()).collect();
        assert_eq!(
            try_begin(&t, "alice", None, now).unwrap_err(),
            Refusal::Busy,
            "no sixth check while five run"
        );
        assert!(try_begin(&t, "bob", None, now).is_ok(), "other names are not affected");
        // Dropped unsettled (a cancelled request), they count as failures.
        drop(running);
        assert!(try_begin(&t, "alice", None, now).is_err());
        // Past the free attempts, one attempt at a time after each block.
        let after = now + MAX_DELAY;
        let one = try_begin(&t, "alice", None, after).unwrap();
        assert_eq!(try_begin(&t, "alice", None, after).unwrap_err(), Refusal::Busy);
        one.failed(after);
        assert_eq!(try_begin(&t, "alice", None, after).unwrap_err(), Refusal::Blocked(BASE_DELAY * 2));
    }

    #[tokio::test]
    async fn known_good_credentials_skip_the_count_but_never_the_block() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..3 {
            assert!(matches!(
                t.begin_unless("svc", None, now, || Some(())).await,
                Ok(Admitted::KnownGood(()))
            ));
        }
        for _ in 0..FREE_ATTEMPTS {
            fail(&t, "svc", None, now);
        }
        let mut asked = false;
        let refused = t
            .begin_unless("svc", None, now, || {
                asked = true;
                Some(())
            })
            .await;
        assert_eq!(refused.map(|_| ()).unwrap_err(), BASE_DELAY);
        assert!(!asked, "a refused attempt learns nothing about the credential");
    }

    /// [`FREE_ATTEMPTS`] checks running for `svc` from 10.0.0.1.
    fn all_slots_taken(t: &Throttle, now: Instant) -> Vec<Attempt<'_>> {
        (0..FREE_ATTEMPTS).map(|_| try_begin(t, "svc", ip("10.0.0.1"), now).unwrap()).collect()
    }

    /// Five checks running and none failed: the sixth waits for one to settle instead of
    /// being refused, and a success lets it run.
    #[tokio::test]
    async fn a_busy_name_waits_for_a_slot_instead_of_being_refused() {
        let t = Throttle::default();
        let now = Instant::now();
        let mut running = all_slots_taken(&t, now);
        let sixth = t.begin("svc", ip("10.0.0.1"), now);
        let mut sixth = std::pin::pin!(sixth);
        assert!(futures_poll(sixth.as_mut()).is_none(), "waits while five run");
        running.pop().unwrap().succeeded(now);
        let admitted = futures_poll(sixth.as_mut()).expect("a settle wakes it");
        admitted.unwrap().succeeded(now);
        drop(running);
    }

    /// Waiting attempts get the freed slots in arrival order, newcomers line up behind them,
    /// and one that gives up waiting leaves its place.
    #[tokio::test]
    async fn waiting_attempts_are_served_first_come_first_served() {
        let t = Throttle::default();
        let now = Instant::now();
        let mut running = all_slots_taken(&t, now);
        let (first, second) = (t.begin("svc", ip("10.0.0.1"), now), t.begin("other", ip("10.0.0.1"), now));
        let (mut first, mut second) = (std::pin::pin!(first), std::pin::pin!(second));
        // Boxed, so that dropping it drops the waiting attempt.
        let mut third = Box::pin(t.begin("svc", None, now));
        assert!(futures_poll(first.as_mut()).is_none());
        assert!(futures_poll(second.as_mut()).is_none());
        assert!(futures_poll(third.as_mut()).is_none());
        running.pop().unwrap().succeeded(now);
        // The later arrivals are polled first, yet the slot goes to the first.
        assert!(futures_poll(third.as_mut()).is_none());
        assert!(futures_poll(second.as_mut()).is_none());
        assert_eq!(try_begin(&t, "new", ip("10.0.0.1"), now).unwrap_err(), Refusal::Busy, "no barging");
        running.push(futures_poll(first.as_mut()).expect("first in line").unwrap());
        running.pop().unwrap().succeeded(now);
        running.push(futures_poll(second.as_mut()).expect("second in line").unwrap());
        drop(third);
        running.pop().unwrap().succeeded(now);
        for attempt in running {
            attempt.succeeded(now);
        }
        assert!(t.lock().values().all(Entry::is_idle), "nothing left queued or running");
        assert!(try_begin(&t, "new", ip("10.0.0.1"), now).is_ok());
    }

    /// Guesses that find the slots taken wait, then meet the block the running ones set.
    #[tokio::test]
    async fn waiting_attempts_are_refused_once_the_running_ones_fail() {
        let t = Throttle::default();
        let now = Instant::now();
        let running: Vec<_> =
            (0..FREE_ATTEMPTS).map(|_| try_begin(&t, "alice", None, now).unwrap()).collect();
        let waiting = t.begin("alice", None, now);
        let mut waiting = std::pin::pin!(waiting);
        assert!(futures_poll(waiting.as_mut()).is_none());
        for attempt in running {
            attempt.failed(now);
        }
        assert_eq!(futures_poll(waiting.as_mut()).expect("woken").unwrap_err(), BASE_DELAY);
    }

    /// Polls `f` once with a no-op waker: `Some` when it is ready.
    fn futures_poll<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.poll(&mut cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        }
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
        assert!(try_begin(&t, "victim", None, start).is_err(), "the block survives eviction");
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
