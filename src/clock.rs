//! Time as an injected dependency (after rustls' `TimeProvider`).
//!
//! Only the HTTP handlers and background tasks ask a [`Clock`]; everything below them
//! takes `now` as a parameter, so tests move time by passing instants.

use std::fmt::Debug;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of time.
pub trait Clock: Send + Sync + Debug {
    /// The current wall-clock time: token times, key schedules.
    fn now(&self) -> SystemTime;

    /// The current monotonic time: durations, such as brute-force backoffs. The system's
    /// monotonic clock unless a clock says otherwise.
    fn monotonic(&self) -> Instant {
        Instant::now()
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock stopped at one instant, for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// The latest instant tokenmint computes with: 9999-12-31T23:59:59Z, the last second an
/// RFC 3339 timestamp (a key file's dates, `keys list`) can write.
const FAR_FUTURE_SECS: u64 = 253_402_300_799;

/// `t + d`, saturating at 9999-12-31T23:59:59Z (or at `t`, were `t` later still) instead
/// of overflowing. Durations come from configuration and the command line, so a sum may
/// be absurd, but it must never panic.
pub(crate) fn later(t: SystemTime, d: Duration) -> SystemTime {
    let far = UNIX_EPOCH + Duration::from_secs(FAR_FUTURE_SECS);
    t.checked_add(d).map_or(far.max(t), |sum| sum.min(far.max(t)))
}

/// Seconds since the Unix epoch; instants before 1970 count as 0.
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_saturates_at_the_last_rfc3339_second() {
        let now = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        assert_eq!(later(now, Duration::from_secs(10)), now + Duration::from_secs(10));
        let far = later(now, Duration::MAX);
        assert_eq!(humantime::format_rfc3339_seconds(far).to_string(), "9999-12-31T23:59:59Z");
        assert_eq!(later(now, Duration::from_secs(300_000_000_000 * 31_557_600)), far);
    }
}
