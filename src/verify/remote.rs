//! A remote JWKS, cached the way verifiers need it to survive rotations and attacks:
//! - honours the response's `Cache-Control: max-age` (clamped to sane bounds);
//! - refreshes in the background before the cache goes stale;
//! - on an unknown `kid`, refetches, but at most [`REFETCH_BUDGET`] fetches (of any kind)
//!   start within one [`RemoteOptions::refetch_cooldown`], and concurrent misses wait for
//!   one fetch instead of starting their own: a key published and used within the cooldown
//!   is still found, and a flood of made-up kids costs at most the budget per cooldown;
//! - remembers a `kid` that was still unknown after a fetch (at most [`MAX_UNKNOWN_KIDS`],
//!   each for one cooldown): a token that names it again fails at once, with no fetch and
//!   no wait, so repeated bad kids never spend the budget that new keys need;
//! - when a fetch fails, keeps serving the keys it has (stale-if-error);
//! - fetches over HTTPS only (plain HTTP to loopback hosts, or when told to): whoever can
//!   change the keys in transit can forge any token.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;
use tokio::time::Instant;

use super::jwks::Jwks;
use super::{ErrorKind, VerifyError};

/// Most JWKS fetches that start within one [`RemoteOptions::refetch_cooldown`]: a fetch
/// for an unknown `kid` is skipped when this many (for unknown kids, at start-up or in the
/// background) already started within the cooldown. Three lets a verifier find a key
/// published and used within the cooldown even after a refresh, while a flood of made-up
/// kids costs at most three requests to the issuer per cooldown.
pub const REFETCH_BUDGET: usize = 3;

/// Most unknown `kid`s a [`RemoteJwks`] remembers at once (each for one
/// [`RemoteOptions::refetch_cooldown`]); beyond that, the oldest are forgotten first.
pub const MAX_UNKNOWN_KIDS: usize = 1024;

/// Longest `kid` remembered as unknown, in bytes: bounds the memory of that cache to
/// [`MAX_UNKNOWN_KIDS`] short strings. Longer unknown kids are refused as well, only not
/// remembered (real kids, such as RFC 7638 thumbprints, are far shorter).
const MAX_REMEMBERED_KID_BYTES: usize = 256;

/// Largest JWKS or metadata document read, in bytes.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Least time between two background fetches, whatever the options say.
const MIN_PACE: Duration = Duration::from_secs(1);

/// Longest cache lifetime or wait ever computed, whatever the options say: keeps time
/// arithmetic far from overflow.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Tuning of a [`RemoteJwks`]. The defaults suit most resource servers.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// The window of the refetch budget: at most [`REFETCH_BUDGET`] fetches start within
    /// any span this long, so an unknown `kid` triggers a fetch only while fewer did. Also how
    /// long a `kid` still unknown after a fetch is remembered and refused without a fetch.
    /// Zero lets every unknown `kid` fetch. Default 30 s.
    pub refetch_cooldown: Duration,
    /// Cache lifetime when the response gives no `max-age`. Default 5 min.
    pub default_max_age: Duration,
    /// Shortest cache lifetime honoured, whatever the server says, and the least time
    /// between two background fetches (at least 1 s). Default 30 s.
    pub min_max_age: Duration,
    /// Longest cache lifetime honoured, whatever the server says. Default 24 h.
    pub max_max_age: Duration,
    /// Time limit of one fetch. Default 5 s.
    pub fetch_timeout: Duration,
    /// Fetch metadata and keys over plain `http://` from hosts other than loopback too.
    /// Default `false`: anyone on the network path could swap in their own keys.
    pub allow_http: bool,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            refetch_cooldown: Duration::from_secs(30),
            default_max_age: Duration::from_secs(300),
            min_max_age: Duration::from_secs(30),
            max_max_age: Duration::from_secs(24 * 3600),
            fetch_timeout: Duration::from_secs(5),
            allow_http: false,
        }
    }
}

/// A JWKS fetched from a URL and cached. Cheap to clone; clones share the cache.
#[derive(Debug, Clone)]
pub struct RemoteJwks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: Url,
    http: reqwest::Client,
    options: RemoteOptions,
    state: RwLock<State>,
    /// Held for the duration of a fetch: concurrent misses queue here and then find the
    /// fetch already done.
    fetch_lock: tokio::sync::Mutex<()>,
    refresher_started: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    keys: Jwks,
    /// When the cached set should be refreshed.
    fresh_until: Option<Instant>,
    /// When the latest fetches (successful or not) started, oldest first; at most
    /// [`REFETCH_BUDGET`].
    attempts: VecDeque<Instant>,
    /// Counts successful fetches; a waiter that sees it change knows a fetch happened.
    generation: u64,
    /// Kids still unknown after a fetch.
    unknown: UnknownKids,
}

impl State {
    /// When the last fetch (successful or not) started.
    fn last_attempt(&self) -> Option<Instant> {
        self.attempts.back().copied()
    }

    /// Whether a fetch for an unknown kid may start now: fewer than [`REFETCH_BUDGET`]
    /// fetches started within the last `cooldown`.
    fn may_refetch(&self, cooldown: Duration) -> bool {
        let now = Instant::now();
        self.attempts.iter().filter(|&&t| now.saturating_duration_since(t) < cooldown).count()
            < REFETCH_BUDGET
    }
}

/// A bounded set of kids that were still unknown after a fetch, each until a deadline.
#[derive(Debug, Default)]
struct UnknownKids {
    /// Each kid's deadline.
    until: HashMap<String, Instant>,
    /// The kids of `until`, oldest first (all deadlines are one cooldown after insertion, so
    /// this is also their order of expiry).
    order: VecDeque<String>,
}

impl UnknownKids {
    /// Whether `kid` is remembered as unknown at `now`.
    fn contains(&self, kid: &str, now: Instant) -> bool {
        self.until.get(kid).is_some_and(|&until| until > now)
    }

    /// Remembers `kid` until `now + ttl`, first forgetting the expired entries and, when
    /// full, the oldest. A zero `ttl` or a kid longer than [`MAX_REMEMBERED_KID_BYTES`] is not
    /// remembered.
    fn remember(&mut self, kid: &str, now: Instant, ttl: Duration) {
        while let Some(oldest) = self.order.front() {
            let expired = self.until.get(oldest).is_none_or(|&until| until <= now);
            if !expired && self.order.len() < MAX_UNKNOWN_KIDS {
                break;
            }
            if let Some(oldest) = self.order.pop_front() {
                self.until.remove(&oldest);
            }
        }
        if ttl.is_zero() || kid.len() > MAX_REMEMBERED_KID_BYTES {
            return;
        }
        let until = now + ttl.min(FAR_FUTURE);
        if let Some(existing) = self.until.get_mut(kid) {
            *existing = until;
            return;
        }
        self.until.insert(kid.to_owned(), until);
        self.order.push_back(kid.to_owned());
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.until.len()
    }
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
}

impl RemoteJwks {
    /// A cache over `jwks_uri`. Nothing is fetched until the first key is needed.
    pub fn new(jwks_uri: &str, options: RemoteOptions) -> Result<Self, VerifyError> {
        let http = client(&options)?;
        Self::with_client(jwks_uri, options, http)
    }

    /// [`RemoteJwks::new`] fetching with `http`, an HTTP client shared with other caches (a
    /// client costs milliseconds to build: its TLS roots). `http` must not follow redirects
    /// and should have a timeout ([`RemoteJwks::http_client`] builds such a client).
    pub(crate) fn with_client(
        jwks_uri: &str,
        options: RemoteOptions,
        http: reqwest::Client,
    ) -> Result<Self, VerifyError> {
        let url = parse_url("jwks_uri", jwks_uri, &options)?;
        Ok(RemoteJwks {
            inner: Arc::new(Inner {
                url,
                http,
                options,
                state: RwLock::new(State::default()),
                fetch_lock: tokio::sync::Mutex::new(()),
                refresher_started: AtomicBool::new(false),
            }),
        })
    }

    /// The HTTP client a cache with `options` fetches with: no redirects, the fetch timeout.
    #[cfg(feature = "server")]
    pub(crate) fn http_client(options: &RemoteOptions) -> Result<reqwest::Client, VerifyError> {
        client(options)
    }

    /// Whether `url` may be fetched under `options` (an HTTPS URL, or HTTP to a loopback
    /// host), checked without building anything; `what` names it in the error.
    #[cfg(feature = "server")]
    pub(crate) fn check_url(what: &str, url: &str, options: &RemoteOptions) -> Result<(), VerifyError> {
        parse_url(what, url, options).map(drop)
    }

    /// Finds `jwks_uri` in the issuer's metadata: RFC 8414 authorization server metadata,
    /// falling back to OpenID Connect discovery. The metadata's `issuer` must equal `issuer`
    /// exactly (RFC 8414 §3.3), or the metadata is refused. The issuer and its `jwks_uri`
    /// must both be HTTPS URLs (see [`RemoteOptions::allow_http`]).
    pub async fn discover(issuer: &str, options: RemoteOptions) -> Result<Self, VerifyError> {
        let http = client(&options)?;
        Self::discover_with_client(issuer, options, http).await
    }

    /// [`RemoteJwks::discover`] fetching with `http` (see [`RemoteJwks::with_client`]).
    pub(crate) async fn discover_with_client(
        issuer: &str,
        options: RemoteOptions,
        http: reqwest::Client,
    ) -> Result<Self, VerifyError> {
        let base = parse_url("issuer", issuer, &options)?;
        let mut last_error = None;
        for url in [rfc8414_metadata_url(&base), openid_configuration_url(&base)] {
            match fetch(&http, &url).await {
                Ok((body, _)) => {
                    let meta: Metadata = serde_json::from_slice(&body).map_err(|e| {
                        VerifyError::new(
                            ErrorKind::KeysUnavailable,
                            format!("{}: invalid metadata: {e}", shown(&url)),
                        )
                    })?;
                    if meta.issuer != issuer {
                        return Err(VerifyError::new(
                            ErrorKind::WrongIssuer,
                            format!(
                                "{} names issuer `{}`, expected `{issuer}` (RFC 8414 §3.3)",
                                shown(&url),
                                meta.issuer
                            ),
                        ));
                    }
                    return Self::with_client(&meta.jwks_uri, options, http);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| VerifyError::new(ErrorKind::KeysUnavailable, "no metadata found")))
    }

    /// Fetches now (for a start-up check); later refreshes happen on their own.
    pub async fn prefetch(&self) -> Result<(), VerifyError> {
        let _guard = self.inner.fetch_lock.lock().await;
        self.fetch_locked().await
    }

    /// The cached key set if it has a key with `kid`, refetching (within the budget) when
    /// `kid` is unknown; `None` if it is still unknown, or was after a recent fetch.
    pub(crate) async fn keys_for(&self, kid: &str) -> Result<Option<Jwks>, VerifyError> {
        let generation = {
            let state = self.state();
            if state.keys.contains(kid) {
                return Ok(Some(state.keys.clone()));
            }
            if state.unknown.contains(kid, Instant::now()) {
                return Ok(None); // unknown after a fetch within the cooldown: no new fetch
            }
            state.generation
        };
        let fetch_error = self.refetch_after_miss(generation).await.err();
        let state = self.state();
        match (state.generation, fetch_error) {
            // Never fetched successfully: the keys are unavailable, not the kid unknown.
            (0, Some(e)) => Err(e),
            (0, None) => {
                Err(VerifyError::new(ErrorKind::KeysUnavailable, "the JWKS has not been fetched yet"))
            }
            _ if state.keys.contains(kid) => Ok(Some(state.keys.clone())),
            (current, _) => {
                drop(state);
                // Keys fetched since the miss do not have it either: remember that, so that
                // the next token naming it costs no fetch. A kid that saw no new fetch (the
                // budget was spent, or the fetch failed) is not remembered: a key published
                // meanwhile is found once the budget allows a fetch again.
                if current != generation {
                    let ttl = self.inner.options.refetch_cooldown;
                    self.state_mut().unknown.remember(kid, Instant::now(), ttl);
                }
                Ok(None)
            }
        }
    }

    /// Whether the cached key set has a key with `kid` (nothing is fetched).
    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.state().keys.contains(kid)
    }

    /// The cached key set, fetched first if it never was (a first fetch that fails is the
    /// error): for tokens that name no `kid`, which cannot miss.
    #[cfg(feature = "server")]
    pub(crate) async fn current(&self) -> Result<Jwks, VerifyError> {
        let generation = self.state().generation;
        if generation == 0 {
            self.refetch_after_miss(0).await?;
        }
        let state = self.state();
        match state.generation {
            0 => Err(VerifyError::new(ErrorKind::KeysUnavailable, "the JWKS has not been fetched yet")),
            _ => Ok(state.keys.clone()),
        }
    }

    async fn refetch_after_miss(&self, seen_generation: u64) -> Result<(), VerifyError> {
        let _guard = self.inner.fetch_lock.lock().await;
        {
            let state = self.state();
            if state.generation != seen_generation {
                return Ok(()); // someone fetched while we waited
            }
            if !state.may_refetch(self.inner.options.refetch_cooldown) {
                return Ok(()); // the budget of this cooldown is spent: no new fetch for a miss
            }
        }
        self.fetch_locked().await
    }

    /// Fetches and swaps the cache. The caller holds `fetch_lock`.
    async fn fetch_locked(&self) -> Result<(), VerifyError> {
        let started = Instant::now();
        {
            let mut state = self.state_mut();
            state.attempts.push_back(started);
            while state.attempts.len() > REFETCH_BUDGET {
                state.attempts.pop_front();
            }
        }
        match fetch(&self.inner.http, &self.inner.url)
            .await
            .and_then(|(body, cache)| Jwks::from_json(&body).map(|keys| (keys, cache)))
        {
            Ok((keys, cache_control)) => {
                let max_age = self.max_age(cache_control.as_deref());
                let mut state = self.state_mut();
                state.keys = keys;
                state.fresh_until = Some(started + max_age.min(FAR_FUTURE));
                state.generation += 1;
                drop(state);
                self.start_refresher();
                Ok(())
            }
            Err(e) => {
                let url = shown(&self.inner.url);
                tracing::warn!(%url, error = %e, "JWKS fetch failed; keeping the cached keys");
                Err(e)
            }
        }
    }

    /// The cache lifetime `Cache-Control` asks for (RFC 9111 §5.2: directive names are
    /// case-insensitive), within the configured bounds.
    fn max_age(&self, cache_control: Option<&str>) -> Duration {
        let o = &self.inner.options;
        let mut age = o.default_max_age;
        for directive in cache_control.unwrap_or("").split(',').map(str::trim) {
            let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
            let value = value.trim().trim_matches('"');
            if name.trim().eq_ignore_ascii_case("max-age") {
                if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                    // More seconds than a u64 holds is "as long as you like".
                    age = value.parse().map_or(Duration::MAX, Duration::from_secs);
                }
            } else if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                age = Duration::ZERO;
            }
        }
        age.clamp(o.min_max_age, o.max_max_age.max(o.min_max_age))
    }

    /// Starts, once, a task that refreshes the cache shortly before it goes stale. It holds
    /// only a weak reference and ends when the last clone of this cache is dropped.
    fn start_refresher(&self) {
        if self.inner.refresher_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.inner.refresher_started.store(false, Ordering::Release);
            return;
        };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            loop {
                let (wake, generation) = {
                    let Some(inner) = weak.upgrade() else { return };
                    let this = RemoteJwks { inner };
                    let state = this.state();
                    let now = Instant::now();
                    // Refresh when 90% of the lifetime has passed (at once when it has all
                    // passed), but never sooner than `min_max_age` after the last attempt,
                    // so that a failing endpoint is retried at that pace.
                    let planned = match state.fresh_until {
                        Some(until) if until > now => now + (until - now).mul_f32(0.9),
                        _ => now,
                    };
                    let pace = this.inner.options.min_max_age.clamp(MIN_PACE, FAR_FUTURE);
                    let earliest = state.last_attempt().map_or(now, |t| t + pace);
                    (planned.max(earliest), state.generation)
                };
                tokio::time::sleep_until(wake).await;
                let Some(inner) = weak.upgrade() else { return };
                let this = RemoteJwks { inner };
                let _guard = this.inner.fetch_lock.lock().await;
                // A fetch for an unknown kid may have refreshed the keys while we slept.
                if this.state().generation == generation {
                    let _ = this.fetch_locked().await;
                }
            }
        });
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // The state is replaced whole under the lock; a panic cannot leave it half-written.
        self.inner.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn client(options: &RemoteOptions) -> Result<reqwest::Client, VerifyError> {
    reqwest::Client::builder()
        .timeout(options.fetch_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| VerifyError::new(ErrorKind::Configuration, format!("HTTP client: {e}")))
}

/// RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
fn rfc8414_metadata_url(issuer: &Url) -> Url {
    let mut url = issuer.clone();
    let path = issuer.path().trim_end_matches('/');
    url.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    url
}

/// OpenID Connect Discovery 1.0 §4: the well-known segment goes after the issuer's path.
fn openid_configuration_url(issuer: &Url) -> Url {
    let mut url = issuer.clone();
    let path = issuer.path().trim_end_matches('/');
    url.set_path(&format!("{path}/.well-known/openid-configuration"));
    url
}

/// Refuses plain HTTP except to loopback hosts or with [`RemoteOptions::allow_http`], and
/// every other scheme.
/// Parses `url` (named `what` in errors) and requires HTTPS of it ([`require_https`]).
fn parse_url(what: &str, url: &str, options: &RemoteOptions) -> Result<Url, VerifyError> {
    let parsed =
        Url::parse(url).map_err(|e| VerifyError::new(ErrorKind::Configuration, format!("{what}: {e}")))?;
    require_https(&parsed, options)
        .map_err(|e| VerifyError::new(e.kind(), format!("{what}: {}", e.detail())))?;
    Ok(parsed)
}

fn require_https(url: &Url, options: &RemoteOptions) -> Result<(), VerifyError> {
    let host = url.host_str().unwrap_or("");
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback || options.allow_http => Ok(()),
        "http" => Err(VerifyError::new(
            ErrorKind::Configuration,
            format!(
                "{}: keys must be fetched over https (anyone on the path of plain http could swap in \
                 their own keys); http is allowed to loopback hosts, or when allowed explicitly \
                 (RemoteOptions::allow_http, `tokenmint verify --allow-http`)",
                shown(url)
            ),
        )),
        other => Err(VerifyError::new(
            ErrorKind::Configuration,
            format!("{}: unsupported scheme `{other}`, use https", shown(url)),
        )),
    }
}

/// `url` without any user name or password, for messages and logs.
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    // Only URLs that cannot have credentials refuse these, and those have none to hide.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// GETs `url`; returns the body (at most [`MAX_DOCUMENT_BYTES`]) and `Cache-Control`.
async fn fetch(http: &reqwest::Client, url: &Url) -> Result<(Vec<u8>, Option<String>), VerifyError> {
    let unavailable =
        |m: String| VerifyError::new(ErrorKind::KeysUnavailable, format!("{}: {m}", shown(url)));
    let mut res = http.get(url.clone()).send().await.map_err(|e| unavailable(e.to_string()))?;
    if !res.status().is_success() {
        return Err(unavailable(format!("HTTP {}", res.status())));
    }
    let cache =
        res.headers().get(reqwest::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| unavailable(e.to_string()))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(unavailable(format!("document larger than {MAX_DOCUMENT_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, cache))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kids_are_bounded_and_expire() {
        let mut unknown = UnknownKids::default();
        let start = Instant::now();
        let ttl = Duration::from_secs(30);
        for i in 0..MAX_UNKNOWN_KIDS + 10 {
            unknown.remember(&format!("kid-{i}"), start, ttl);
        }
        assert_eq!(unknown.len(), MAX_UNKNOWN_KIDS);
        assert_eq!(unknown.order.len(), MAX_UNKNOWN_KIDS);
        assert!(!unknown.contains("kid-0", start), "the oldest are forgotten first");
        assert!(unknown.contains(&format!("kid-{}", MAX_UNKNOWN_KIDS + 9), start));
        // Expired at the deadline, and dropped by the next insertion.
        assert!(!unknown.contains("kid-20", start + ttl));
        unknown.remember("late", start + ttl, ttl);
        assert_eq!(unknown.len(), 1);
        assert!(unknown.contains("late", start + ttl));
        // Remembering again extends the deadline without a second entry.
        unknown.remember("late", start + ttl + ttl / 2, ttl);
        assert_eq!((unknown.len(), unknown.order.len()), (1, 1));
        assert!(unknown.contains("late", start + ttl * 2));
        // Too long, or a zero cooldown: not remembered.
        unknown.remember(&"k".repeat(MAX_REMEMBERED_KID_BYTES + 1), start + ttl, ttl);
        unknown.remember("zero", start + ttl, Duration::ZERO);
        assert_eq!(unknown.len(), 1);
    }
}
