//! Where the public keys that verify a foreign JWT come from: a client's own keys
//! (`private_key_jwt`) or a trusted issuer's (workload identity federation). Read from a file
//! or written inline (fixed until the configuration is reloaded), fetched from a `jwks_uri`
//! (the `verify` module's [`RemoteJwks`]: HTTPS only but loopback, a refetch on an unknown
//! `kid` within a budget, stale keys kept when a fetch fails), or found by discovery at the
//! issuer on first use.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::verify::foreign::ForeignHeader;
use crate::verify::{ErrorKind, Jwks, RemoteJwks, RemoteOptions, VerifyError};

/// Least time between two discovery attempts at an issuer whose metadata could not be read:
/// a flood of tokens naming it costs the issuer one request per this long.
const DISCOVERY_RETRY: Duration = Duration::from_secs(30);

/// The HTTP client every fetched key set of one configuration shares, built when the first
/// one needs it: building one costs about 2 ms (its TLS roots), which a configuration with
/// thousands of `jwks_uri`s would otherwise pay thousands of times.
#[derive(Debug, Default)]
pub(crate) struct Fetcher {
    http: OnceLock<reqwest::Client>,
}

impl Fetcher {
    /// The shared client.
    fn http(&self) -> Result<reqwest::Client, VerifyError> {
        if let Some(http) = self.http.get() {
            return Ok(http.clone());
        }
        let http = RemoteJwks::http_client(&RemoteOptions::default())?;
        Ok(self.http.get_or_init(|| http).clone())
    }
}

/// A key set and how it is kept current.
#[derive(Debug)]
pub(crate) enum KeySource {
    /// Keys read from a file or written inline.
    Static(Jwks),
    /// Keys fetched from a `jwks_uri`, cached.
    Remote {
        /// The URL, as configured (what a reload compares).
        uri: String,
        /// The cache.
        jwks: RemoteJwks,
    },
    /// Keys found through the issuer's metadata (RFC 8414, then OpenID Connect discovery),
    /// on first use.
    Discovered {
        /// The issuer whose metadata names the `jwks_uri`.
        issuer: String,
        /// What discovery and the key set fetch with.
        http: reqwest::Client,
        /// The key cache, once discovery succeeded.
        found: OnceCell<RemoteJwks>,
        /// When discovery last failed: the next attempt waits [`DISCOVERY_RETRY`].
        failed_at: Mutex<Option<Instant>>,
    },
}

impl KeySource {
    /// Keys fetched from `uri` (checked now: an HTTPS URL, or HTTP on a loopback host) with
    /// `fetcher`'s client.
    pub(crate) fn remote(uri: &str, fetcher: &Fetcher) -> Result<Self, VerifyError> {
        let jwks = RemoteJwks::with_client(uri, RemoteOptions::default(), fetcher.http()?)?;
        Ok(KeySource::Remote { uri: uri.to_owned(), jwks })
    }

    /// Keys found at `issuer`'s metadata on first use (`issuer` checked now, as a `jwks_uri`
    /// is), with `fetcher`'s client.
    pub(crate) fn discovered(issuer: &str, fetcher: &Fetcher) -> Result<Self, VerifyError> {
        RemoteJwks::check_url("issuer (for discovery)", issuer, &RemoteOptions::default())?;
        Ok(KeySource::Discovered {
            issuer: issuer.to_owned(),
            http: fetcher.http()?,
            found: OnceCell::new(),
            failed_at: Mutex::new(None),
        })
    }

    /// This source, or `previous` if it fetches from the same place: a reload keeps the
    /// cached keys (and the fetch budget) instead of fetching them again.
    pub(crate) fn keep_cache(self, previous: &KeySource) -> Self {
        match (self, previous) {
            (KeySource::Remote { uri, .. }, KeySource::Remote { uri: old_uri, jwks }) if uri == *old_uri => {
                KeySource::Remote { uri, jwks: jwks.clone() }
            }
            (
                KeySource::Discovered { issuer, http, .. },
                KeySource::Discovered { issuer: old, found, .. },
            ) if issuer == *old => {
                let kept =
                    found.get().map_or_else(OnceCell::new, |jwks| OnceCell::new_with(Some(jwks.clone())));
                KeySource::Discovered { issuer, http, found: kept, failed_at: Mutex::new(None) }
            }
            (this, _) => this,
        }
    }

    /// The keys a token with `header` is verified with: those with its `kid` (refetched
    /// within the budget when the `kid` is unknown), or the whole set for a token without
    /// one.
    pub(crate) async fn keys_for(&self, header: &ForeignHeader<'_>) -> Result<Jwks, VerifyError> {
        let remote = match self {
            KeySource::Static(jwks) => return Ok(jwks.clone()),
            KeySource::Remote { jwks, .. } => jwks,
            KeySource::Discovered { issuer, http, found, failed_at } => {
                found.get_or_try_init(|| discover(issuer, http, failed_at)).await?
            }
        };
        match &header.kid {
            Some(kid) => remote
                .keys_for(kid)
                .await?
                .ok_or_else(|| VerifyError::new(ErrorKind::UnknownKey, "no key of the set has this kid")),
            None => remote.current().await,
        }
    }
}

/// Discovery at `issuer`, at most once per [`DISCOVERY_RETRY`] after a failure.
async fn discover(
    issuer: &str,
    http: &reqwest::Client,
    failed_at: &Mutex<Option<Instant>>,
) -> Result<RemoteJwks, VerifyError> {
    let recent = failed_at
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_some_and(|at| at.elapsed() < DISCOVERY_RETRY);
    if recent {
        return Err(VerifyError::new(
            ErrorKind::KeysUnavailable,
            "the issuer's metadata could not be read recently; retrying later",
        ));
    }
    RemoteJwks::discover_with_client(issuer, RemoteOptions::default(), http.clone()).await.inspect_err(|e| {
        tracing::warn!(issuer = %issuer.escape_debug(), error = %e, "discovery of a trusted issuer's keys failed");
        *failed_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    })
}
