//! Per-client rate limits (`rate_limit = "20/s"`): a GCRA limiter per client, in memory, per
//! replica (governor). A limit of N per second, minute or hour lets N requests through at
//! once and then one every 1/N of the period.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use serde::Deserialize;

/// A rate limit as configured: `N/s`, `N/m` or `N/h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimit {
    /// Requests per period (the burst too).
    count: NonZeroU32,
    /// The period.
    period: Period,
}

/// The period of a [`RateLimit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Second,
    Minute,
    Hour,
}

impl RateLimit {
    /// Parses `N/s`, `N/m` or `N/h` (also `N/sec`, `N/min`, `N/hour`), N ≥ 1.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (count, period) = text.trim().split_once('/')?;
        let count = count.trim().parse::<NonZeroU32>().ok()?;
        let period = match period.trim() {
            "s" | "sec" | "second" => Period::Second,
            "m" | "min" | "minute" => Period::Minute,
            "h" | "hour" => Period::Hour,
            _ => return None,
        };
        Some(RateLimit { count, period })
    }

    /// The governor quota.
    fn quota(self) -> Quota {
        match self.period {
            Period::Second => Quota::per_second(self.count),
            Period::Minute => Quota::per_minute(self.count),
            Period::Hour => Quota::per_hour(self.count),
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let period = match self.period {
            Period::Second => "s",
            Period::Minute => "m",
            Period::Hour => "h",
        };
        write!(f, "{}/{period}", self.count)
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        RateLimit::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a rate limit: write requests per period, as \"20/s\", \"600/m\" or \"5000/h\""
            ))
        })
    }
}

/// One client's limiter.
pub(crate) struct Limiter {
    limit: RateLimit,
    state: DefaultDirectRateLimiter,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter").field("limit", &self.limit.to_string()).finish_non_exhaustive()
    }
}

impl Limiter {
    /// A limiter for `limit`, with its full burst available.
    pub(crate) fn new(limit: RateLimit) -> Self {
        Limiter { limit, state: DefaultDirectRateLimiter::direct(limit.quota()) }
    }

    /// The limit it enforces.
    pub(crate) fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Counts one request: `Err(wait)` when it is over the limit, `wait` being how long
    /// until one more would be let through.
    pub(crate) fn admit(&self) -> Result<(), Duration> {
        self.state.check().map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_parse_per_second_minute_and_hour() {
        assert_eq!(RateLimit::parse("20/s").map(|r| r.to_string()).as_deref(), Some("20/s"));
        assert_eq!(RateLimit::parse(" 600 / min").map(|r| r.to_string()).as_deref(), Some("600/m"));
        assert_eq!(RateLimit::parse("5000/hour").map(|r| r.to_string()).as_deref(), Some("5000/h"));
        for bad in ["", "20", "0/s", "-1/s", "20/d", "x/s", "20/s/s"] {
            assert!(RateLimit::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_burst_of_the_limit_passes_and_the_next_waits_about_one_interval() {
        let limiter = Limiter::new(RateLimit::parse("4/s").unwrap());
        for _ in 0..4 {
            assert!(limiter.admit().is_ok());
        }
        let wait = limiter.admit().unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(250), "{wait:?}");
    }
}
