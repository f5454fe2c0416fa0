//! Verifying tokenmint access tokens in a resource server, offline.
//!
//! A [`Verifier`] checks a token the way RFC 9068 §4 and RFC 8725 ask:
//! - the key decides the algorithm: the token's `kid` selects a published key, the token's
//!   `alg` must equal that key's algorithm and be one of the allowed ones; `none` and HMAC
//!   are never accepted, and `jku`, `x5u`, `jwk` and `x5c` headers are ignored (keys come
//!   only from the configured JWKS);
//! - `typ` must be `at+jwt`; a `crit` header is refused (no extension is understood);
//! - `iss` must equal the issuer exactly, `aud` must contain the audience;
//! - `exp`, `nbf` and `iat` are checked against `now` with the configured leeway;
//! - the lifetime, `exp - iat`, must not exceed a maximum ([`DEFAULT_MAX_LIFETIME`], one day,
//!   unless [`Verifier::with_max_lifetime`] says otherwise), like jose's `maxTokenAge`: a
//!   token that lives for years is refused even while it is unexpired.
//!
//! When several published keys share the token's `kid` and algorithm, each is tried and the
//! token verifies if one of them verifies its signature: the order of the JWKS never decides.
//!
//! Nothing security-relevant has a silent default: [`Requirements`] names the issuer, the
//! audience, the algorithms and the leeway. The one default, the maximum lifetime, only
//! refuses more.
//!
//! ```no_run
//! # #[cfg(feature = "jwks-fetch")]
//! # async fn example(token: &str) -> Result<(), tokenmint::verify::VerifyError> {
//! use std::time::Duration;
//! use tokenmint::verify::{Algorithm, Requirements, Verifier};
//!
//! let verifier = Verifier::discover(Requirements {
//!     issuer: "https://tokens.example.com".into(),
//!     audience: "https://billing.example.com".into(),
//!     algorithms: vec![Algorithm::ES256],
//!     leeway: Duration::from_secs(30),
//! })
//! .await?
//! // Optional: this service accepts tokens that live at most an hour (default: one day).
//! .with_max_lifetime(Duration::from_secs(3600));
//! let claims = verifier.verify(token).await?;
//! if !claims.has_scopes(&["invoices:read"]) { /* 403 */ }
//! # Ok(()) }
//! ```
//!
//! Depends on `claims` only; never on the server.

mod cache;
mod compact;
mod error;
#[cfg(feature = "server")]
pub(crate) mod foreign;
mod jwks;
#[cfg(feature = "jwks-fetch")]
mod remote;

#[cfg(feature = "axum-extract")]
pub mod axum;

pub use error::{ErrorKind, VerifyError};
pub use jsonwebtoken::Algorithm;
pub use jwks::Jwks;
#[cfg(feature = "jwks-fetch")]
pub use remote::{MAX_UNKNOWN_KIDS, REFETCH_BUDGET, RemoteJwks, RemoteOptions};

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::claims::{ACCESS_TOKEN_TYPE, AccessClaims};
use cache::TokenCache;
use jwks::VerifyKey;

/// Longest token accepted, in bytes. Real tokens are well under 2 KiB; the bound stops a
/// hostile caller from making the verifier decode megabytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The longest token lifetime (`exp - iat`) a [`Verifier`] accepts unless
/// [`Verifier::with_max_lifetime`] sets another: one day. tokenmint's own tokens live at most
/// `tokens.max_ttl` (one hour by default).
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What a token must satisfy. Every field is required: there are no silent defaults.
#[derive(Debug, Clone)]
pub struct Requirements {
    /// The exact `iss` expected (the token service's issuer URL).
    pub issuer: String,
    /// An audience that `aud` must contain (this resource server).
    pub audience: String,
    /// Signature algorithms accepted. Keys of other algorithms are ignored.
    pub algorithms: Vec<Algorithm>,
    /// Clock-skew allowance for `exp`, `nbf` and `iat`.
    pub leeway: Duration,
}

/// Where a verifier's keys come from.
#[derive(Debug, Clone)]
enum Keys {
    Static(Jwks),
    #[cfg(feature = "jwks-fetch")]
    Remote(RemoteJwks),
}

/// Verifies access tokens against a fixed set of requirements and a key source.
#[derive(Debug, Clone)]
pub struct Verifier {
    requirements: Requirements,
    keys: Keys,
    /// False only for [`Verifier::without_issuer_check`].
    check_issuer: bool,
    /// The longest `exp - iat` accepted ([`Verifier::with_max_lifetime`]).
    max_lifetime: Duration,
    /// Tokens already verified ([`Verifier::with_cache`]); clones share it.
    cache: Option<Arc<TokenCache>>,
}

impl Verifier {
    /// A verifier over a static JWKS (for example one read from a file).
    pub fn new(requirements: Requirements, jwks: Jwks) -> Result<Self, VerifyError> {
        check_requirements(&requirements, true)?;
        Ok(Verifier::build(requirements, Keys::Static(jwks), true))
    }

    /// A verifier over a remote JWKS that is cached and refreshed (see [`RemoteJwks`]).
    #[cfg(feature = "jwks-fetch")]
    pub fn remote(requirements: Requirements, jwks: RemoteJwks) -> Result<Self, VerifyError> {
        check_requirements(&requirements, true)?;
        Ok(Verifier::build(requirements, Keys::Remote(jwks), true))
    }

    /// Discovers `jwks_uri` from the issuer's RFC 8414 metadata (checking that the metadata's
    /// `issuer` is exactly `requirements.issuer`), then builds a remote verifier with the
    /// default [`RemoteOptions`].
    #[cfg(feature = "jwks-fetch")]
    pub async fn discover(requirements: Requirements) -> Result<Self, VerifyError> {
        Self::discover_with(requirements, RemoteOptions::default()).await
    }

    /// [`Verifier::discover`] with the given [`RemoteOptions`].
    #[cfg(feature = "jwks-fetch")]
    pub async fn discover_with(
        requirements: Requirements,
        options: RemoteOptions,
    ) -> Result<Self, VerifyError> {
        check_requirements(&requirements, true)?;
        let jwks = RemoteJwks::discover(&requirements.issuer, options).await?;
        Self::remote(requirements, jwks)
    }

    /// A verifier over a static JWKS that does not check `iss`. Only for tools that say
    /// so to their user (`tokenmint verify --jwks FILE` without `--issuer`).
    #[cfg(feature = "server")]
    pub(crate) fn without_issuer_check(requirements: Requirements, jwks: Jwks) -> Result<Self, VerifyError> {
        check_requirements(&requirements, false)?;
        Ok(Verifier::build(requirements, Keys::Static(jwks), false))
    }

    fn build(requirements: Requirements, keys: Keys, check_issuer: bool) -> Self {
        Verifier { requirements, keys, check_issuer, max_lifetime: DEFAULT_MAX_LIFETIME, cache: None }
    }

    /// Sets the longest lifetime accepted: a token whose `exp - iat` exceeds `max` is refused
    /// with [`ErrorKind::LifetimeTooLong`], however far its `exp` still is (jose's
    /// `maxTokenAge`). Both times come from the issuer's clock, so no leeway applies. The
    /// default is [`DEFAULT_MAX_LIFETIME`] (one day); `Duration::MAX` removes the bound.
    ///
    /// ```
    /// # fn example(verifier: tokenmint::verify::Verifier) -> tokenmint::verify::Verifier {
    /// use std::time::Duration;
    /// verifier.with_max_lifetime(Duration::from_secs(3600))
    /// # }
    /// ```
    #[must_use]
    pub fn with_max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = max;
        self
    }

    /// Remembers tokens whose signature verified, so that a token seen again costs a hash
    /// and a lookup instead of its parsing and signature check: at most `capacity` tokens,
    /// each for at most `max_age` after it verified and never past its `exp`, and only while
    /// the key that verified it is still in the key set (a rotation or revocation that
    /// removes the key ends its tokens' entries). `exp`, `nbf`, the lifetime, the issuer and
    /// the audience are still checked on every call; failures are never remembered. Keyed by
    /// the whole token, compared byte for byte, so memory is bounded by `capacity` entries of
    /// a token and its claims (a few KiB at most). Clones of the verifier share the cache.
    ///
    /// ```
    /// # fn example(verifier: tokenmint::verify::Verifier) -> tokenmint::verify::Verifier {
    /// use std::time::Duration;
    /// verifier.with_cache(10_000, Duration::from_secs(300))
    /// # }
    /// ```
    #[must_use]
    pub fn with_cache(mut self, capacity: usize, max_age: Duration) -> Self {
        self.cache = Some(Arc::new(TokenCache::new(capacity, max_age)));
        self
    }

    /// How many verified tokens the cache holds (0 without [`Verifier::with_cache`]).
    pub fn cached_tokens(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }

    /// The requirements this verifier enforces.
    pub fn requirements(&self) -> &Requirements {
        &self.requirements
    }

    /// The longest token lifetime (`exp - iat`) this verifier accepts.
    pub fn max_lifetime(&self) -> Duration {
        self.max_lifetime
    }

    /// Verifies `token` now.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        self.verify_at(token, SystemTime::now()).await
    }

    /// Verifies `token` as of `now`.
    pub async fn verify_at(&self, token: &str, now: SystemTime) -> Result<AccessClaims, VerifyError> {
        if self.cache.is_none() {
            return self.verify_uncached(&self.checks(), token, now).await.map(|(claims, _)| claims);
        }
        self.verify_shared_at(token, now).await.map(Arc::unwrap_or_clone)
    }

    /// Verifies `token` now, sharing the claims with the verified-token cache instead of
    /// copying them: with [`Verifier::with_cache`], a token seen again costs no allocation.
    /// The checks are those of [`Verifier::verify`].
    pub async fn verify_shared(&self, token: &str) -> Result<Arc<AccessClaims>, VerifyError> {
        self.verify_shared_at(token, SystemTime::now()).await
    }

    /// [`Verifier::verify_shared`] as of `now`.
    pub async fn verify_shared_at(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<Arc<AccessClaims>, VerifyError> {
        let checks = self.checks();
        let Some(cache) = &self.cache else {
            return self.verify_uncached(&checks, token, now).await.map(|(claims, _)| Arc::new(claims));
        };
        let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
        if let Some(hit) = cache.get(token, now_secs) {
            if self.has_key(&hit.kid) {
                checks.issuer_and_audience(&hit.claims.iss, hit.claims.aud.as_slice())?;
                checks.times(&hit.claims, now)?;
                return Ok(Arc::clone(&hit.claims));
            }
            cache.remove(token);
        }
        let (claims, kid) = self.verify_uncached(&checks, token, now).await?;
        let claims = Arc::new(claims);
        cache.insert(token, &claims, kid, now_secs);
        Ok(claims)
    }

    /// What this verifier checks in every token.
    fn checks(&self) -> Checks<'_> {
        let r = &self.requirements;
        Checks {
            typ: ACCESS_TOKEN_TYPE,
            algorithms: &r.algorithms,
            issuer: self.check_issuer.then_some(r.issuer.as_str()),
            audience: Some(&r.audience),
            leeway: r.leeway,
            max_lifetime: Some(self.max_lifetime),
        }
    }

    /// Every check, signature included: the claims and the `kid` that verified them.
    async fn verify_uncached(
        &self,
        checks: &Checks<'_>,
        token: &str,
        now: SystemTime,
    ) -> Result<(AccessClaims, String), VerifyError> {
        let header = checks.header(token)?;
        let claims = match &self.keys {
            Keys::Static(jwks) => checks.claims(&header, jwks)?,
            #[cfg(feature = "jwks-fetch")]
            Keys::Remote(remote) => {
                let keys = remote.keys_for(&header.kid).await?.ok_or_else(unknown_kid)?;
                checks.claims(&header, &keys)?
            }
        };
        checks.times(&claims, now)?;
        Ok((claims, header.kid))
    }

    /// Whether the key set still has the key `kid` that verified a cached token (for a
    /// remote set: as last fetched; nothing is fetched). A static set never changes, so the
    /// key that verified a token is still there: no lookup on that hit path.
    fn has_key(&self, kid: &str) -> bool {
        match &self.keys {
            Keys::Static(_) => true,
            #[cfg(feature = "jwks-fetch")]
            Keys::Remote(remote) => remote.has_kid(kid),
        }
    }
}

/// Refuses requirements with a silent gap; `issuer` may be empty only when it is not checked.
fn check_requirements(r: &Requirements, check_issuer: bool) -> Result<(), VerifyError> {
    let bad = |m: &'static str| Err(VerifyError::new(ErrorKind::Configuration, m));
    if check_issuer && r.issuer.is_empty() {
        return bad("requirements: issuer must not be empty");
    }
    if r.audience.is_empty() {
        return bad("requirements: audience must not be empty");
    }
    if r.algorithms.is_empty() {
        return bad("requirements: name at least one algorithm");
    }
    if r.algorithms.iter().any(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)) {
        return bad("requirements: HMAC algorithms are not accepted for access tokens");
    }
    Ok(())
}

/// A token split and its header checked ([`Checks::header`]): what [`Checks::claims`]
/// verifies.
#[derive(Debug)]
pub(crate) struct TokenHeader<'a> {
    /// The token, split.
    compact: compact::Compact<'a>,
    /// Its `kid`.
    pub(crate) kid: String,
}

impl TokenHeader<'_> {
    /// The token's `alg`.
    fn alg(&self) -> Algorithm {
        self.compact.header.alg
    }
}

/// Claims that name their issuer and audience, which [`Checks::claims`] checks: access
/// tokens, and the token service's own refresh tokens.
pub(crate) trait Issued: serde::de::DeserializeOwned {
    /// `iss`.
    fn issuer(&self) -> &str;
    /// `aud`, as a list.
    fn audiences(&self) -> &[String];
}

impl Issued for AccessClaims {
    fn issuer(&self) -> &str {
        &self.iss
    }

    fn audiences(&self) -> &[String] {
        self.aud.as_slice()
    }
}

/// Everything a signed token is checked against besides its signature: one struct shared
/// by resource servers ([`Verifier`]) and the token service itself (introspection, refresh
/// tokens), so each caller names what it checks instead of passing a positional list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checks<'a> {
    /// The `typ` the header must carry (or its `application/` form).
    pub(crate) typ: &'a str,
    /// Algorithms accepted; the key's algorithm must be one of them.
    pub(crate) algorithms: &'a [Algorithm],
    /// The exact `iss`; `None` skips the issuer check (only the CLI, when told to, and it
    /// says so).
    pub(crate) issuer: Option<&'a str>,
    /// An audience `aud` must contain; `None` skips the audience check (introspection
    /// answers for every audience).
    pub(crate) audience: Option<&'a str>,
    /// Clock-skew allowance for `exp`, `nbf` and `iat` ([`Checks::times`]).
    pub(crate) leeway: Duration,
    /// The longest lifetime (`exp - iat`) accepted ([`Checks::times`]); `None` sets no bound.
    pub(crate) max_lifetime: Option<Duration>,
}

impl Checks<'_> {
    /// Splits the token and checks its header: size, `typ` (case-insensitively, as media
    /// types are, RFC 7515 §4.1.9; RFC 9068 §4), `crit`, `kid`.
    pub(crate) fn header<'t>(&self, token: &'t str) -> Result<TokenHeader<'t>, VerifyError> {
        let compact = compact::split(token)?;
        if !compact.header.typ_is(self.typ) {
            let detail = format!("typ must be {} (RFC 9068 §4)", self.typ);
            return Err(VerifyError::new(ErrorKind::WrongType, detail));
        }
        let kid = compact
            .header
            .kid
            .clone()
            .ok_or_else(|| VerifyError::new(ErrorKind::UnknownKey, "token has no kid"))?;
        Ok(TokenHeader { compact, kid })
    }

    /// The keys of `keys` with the token's `kid` and algorithm, each tried in turn
    /// ([`first_verifying`]): the first whose signature verifies decides; then the claims,
    /// decoded once, and their `iss` and `aud`. Times are left to the caller
    /// ([`Checks::times`]), who checks them against its own `now`.
    pub(crate) fn claims<T: Issued>(&self, header: &TokenHeader<'_>, keys: &Jwks) -> Result<T, VerifyError> {
        let candidates = keys.get(&header.kid, header.alg()).ok_or_else(unknown_kid)?;
        first_verifying(candidates, |key| verify_signature(&header.compact, key, self.algorithms))?;
        let claims: T = header.compact.claims()?;
        self.issuer_and_audience(claims.issuer(), claims.audiences())?;
        Ok(claims)
    }

    /// Header, keys by `kid` from `keys`, signature and claims ([`Checks::header`],
    /// [`Checks::claims`]), for keys already in memory.
    #[cfg(feature = "server")]
    pub(crate) fn signed<T: Issued>(&self, token: &str, keys: &Jwks) -> Result<T, VerifyError> {
        let header = self.header(token)?;
        self.claims(&header, keys)
    }

    /// `iss` and `aud` of signed claims, against these checks.
    fn issuer_and_audience(&self, iss: &str, aud: &[String]) -> Result<(), VerifyError> {
        if self.issuer.is_some_and(|issuer| iss != issuer) {
            return Err(VerifyError::new(ErrorKind::WrongIssuer, "iss is not the expected issuer"));
        }
        if self.audience.is_some_and(|audience| !aud.iter().any(|a| a == audience)) {
            return Err(VerifyError::new(
                ErrorKind::WrongAudience,
                "aud does not contain the expected audience",
            ));
        }
        Ok(())
    }

    /// An access token's `exp`, `nbf` and `iat` against `now`, with [`Checks::leeway`], and
    /// its lifetime `exp - iat` against [`Checks::max_lifetime`] (no leeway: both times are
    /// the issuer's).
    pub(crate) fn times(&self, claims: &AccessClaims, now: SystemTime) -> Result<(), VerifyError> {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
        let leeway = self.leeway.as_secs();
        if claims.exp.saturating_add(leeway) <= now {
            return Err(VerifyError::new(ErrorKind::Expired, "token has expired"));
        }
        if claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(VerifyError::new(ErrorKind::NotYetValid, "token is not valid yet (nbf)"));
        }
        if claims.iat > now.saturating_add(leeway) {
            return Err(VerifyError::new(ErrorKind::NotYetValid, "token was issued in the future (iat)"));
        }
        if let Some(max) = self.max_lifetime
            && claims.exp.saturating_sub(claims.iat) > max.as_secs()
        {
            let detail = format!("token lifetime (exp - iat) exceeds the maximum of {} s", max.as_secs());
            return Err(VerifyError::new(ErrorKind::LifetimeTooLong, detail));
        }
        Ok(())
    }

    /// Every check of an access token whose keys are in memory: [`Checks::signed`], then
    /// [`Checks::times`].
    #[cfg(feature = "server")]
    pub(crate) fn access_token(
        &self,
        token: &str,
        keys: &Jwks,
        now: SystemTime,
    ) -> Result<AccessClaims, VerifyError> {
        let claims = self.signed(token, keys)?;
        self.times(&claims, now)?;
        Ok(claims)
    }
}

/// Tries each key of `candidates` with `verify`: the first whose signature verifies
/// decides. A failed signature moves on to the next key; any other failure is the token's,
/// whichever key is tried (it depends on the token alone), so the order of the keys never
/// changes the answer.
fn first_verifying(
    candidates: &[Arc<VerifyKey>],
    mut verify: impl FnMut(&VerifyKey) -> Result<(), VerifyError>,
) -> Result<(), VerifyError> {
    let mut last = None;
    for key in candidates {
        match verify(key) {
            Err(e) if e.kind() == ErrorKind::BadSignature => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(unknown_kid))
}

/// The key decides the algorithm (RFC 8725 §3.1): the token's `alg` must be the key's, and
/// one of `algorithms`; then the signature, with the key parsed when the set was built.
fn verify_signature(
    token: &compact::Compact<'_>,
    key: &VerifyKey,
    algorithms: &[Algorithm],
) -> Result<(), VerifyError> {
    if token.header.alg != key.alg {
        return Err(VerifyError::new(
            ErrorKind::UnsupportedAlgorithm,
            "token alg does not match the key's algorithm",
        ));
    }
    if !algorithms.contains(&key.alg) {
        return Err(VerifyError::new(ErrorKind::UnsupportedAlgorithm, "algorithm not allowed"));
    }
    key.parsed
        .verify_sig(token.signing_input.as_bytes(), &token.signature)
        .map_err(|_| VerifyError::new(ErrorKind::BadSignature, "the signature does not verify"))
}

/// No key of the set has the token's `kid`.
fn unknown_kid() -> VerifyError {
    VerifyError::new(ErrorKind::UnknownKey, "no published key has this kid")
}
