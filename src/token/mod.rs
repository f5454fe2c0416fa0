//! The issuing policy: which grant, which scopes, which audience, how long; then signing.
//!
//! Knows nothing of HTTP: the edge hands it an authenticated [`Client`], a parsed
//! [`TokenRequest`] and `now`, and maps [`IssueError`] to OAuth error codes.

mod claims;
mod reuse;
mod settings;
mod user;

use std::time::{Duration, SystemTime};

use aws_lc_rs::rand;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::claims::{ACCESS_TOKEN_TYPE, AccessClaims};
use crate::clients::{Client, Registry};
use crate::clock::unix_seconds;
use crate::keys::{Algorithm, KeyError, KeySet, SigningKey};
use crate::oauth::{GrantType, is_resource_uri};
use crate::users::Users;
use crate::verify::{Checks, VerifyError};
use claims::{AccessTokenClaims, AudienceRef};
use reuse::{Reusable, ReuseCache};
pub(crate) use settings::TokenSettings;

/// Random bytes in a `jti`: 128 bits, so identifiers never collide in practice.
const JTI_BYTES: usize = 16;

/// A token request's parameters after client authentication, as the policy needs them.
#[derive(Debug, Default)]
pub(crate) struct TokenRequest<'a> {
    /// `scope`, space-delimited (RFC 6749 §3.3).
    pub(crate) scope: Option<&'a str>,
    /// `resource` values (RFC 8707 §2): absolute URIs naming configured audiences.
    pub(crate) resources: Vec<&'a str>,
    /// `audience` values (Keycloak's and Auth0's name): any configured audience.
    pub(crate) audiences: Vec<&'a str>,
    /// `expires_in` (or WSO2's `validity_period`): a shorter lifetime, in seconds.
    pub(crate) expires_in: Option<&'a str>,
}

/// A signed access token and what the response says about it.
#[derive(Debug)]
pub(crate) struct IssuedToken {
    /// The compact JWS.
    pub(crate) access_token: String,
    /// Lifetime in seconds.
    pub(crate) expires_in: u64,
    /// Granted scopes, space-delimited; empty when none.
    pub(crate) scope: String,
    /// The `kid` that signed it.
    pub(crate) kid: std::sync::Arc<str>,
    /// A refresh token (password grant, for clients that also have `refresh_token`).
    pub(crate) refresh_token: Option<String>,
    /// An OpenID Connect ID token, when `openid` was granted to a user.
    pub(crate) id_token: Option<String>,
    /// Handed out again from the reuse window rather than newly signed.
    pub(crate) reused: bool,
}

/// Why a token was refused. Each variant maps to one RFC 6749 §5.2 / RFC 8707 error code.
///
/// A value the client sent travels as data next to our own text, so the HTTP edge can
/// quote it safely (shortened, restricted to the characters `error_description` allows).
#[derive(Debug, thiserror::Error)]
pub(crate) enum IssueError {
    /// A grant type this service does not implement, or has switched off: the value asked for.
    #[error("unsupported grant type")]
    UnsupportedGrantType(String),
    /// A grant type the client is not allowed to use.
    #[error("client is not allowed to use the `{0}` grant")]
    UnauthorizedClient(GrantType),
    /// A scope the client may not have, or a malformed scope.
    #[error("{reason}")]
    InvalidScope {
        /// What is wrong.
        reason: &'static str,
        /// The scope token it is about, if one.
        scope: Option<String>,
    },
    /// A resource/audience the client may not ask for, or a malformed one (RFC 8707 §2).
    #[error("{reason}")]
    InvalidTarget {
        /// What is wrong.
        reason: &'static str,
        /// The `resource` or `audience` value it is about.
        resource: String,
    },
    /// A malformed parameter.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// Bad user credentials or refresh token (RFC 6749 §5.2 `invalid_grant`).
    #[error("{0}")]
    InvalidGrant(&'static str),
    /// Signing failed: a server error, never the client's fault.
    #[error("signing failed: {0}")]
    Signing(#[from] KeyError),
}

/// Why introspection calls a token inactive (RFC 7662 §2.2). Only logged: the answer is
/// `{"active": false}` whatever the reason.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Inactive {
    /// The token fails verification: signature, key, `typ`, issuer or expiry.
    #[error("{0}")]
    Token(#[from] VerifyError),
    /// The client it was issued to is no longer configured, or is disabled.
    #[error("the token's client is gone or disabled")]
    ClientGone,
    /// The user it was issued for is no longer configured, or is disabled.
    #[error("the token's user is gone or disabled")]
    UserGone,
}

/// Issues access tokens under the service-wide settings.
#[derive(Debug)]
pub(crate) struct Issuer {
    issuer: String,
    settings: TokenSettings,
    enabled_grants: Vec<GrantType>,
    /// Tokens kept for identical requests, when `tokens.reuse_window` is set.
    reuse: Option<ReuseCache>,
}

impl Issuer {
    /// An issuer for `issuer` (the `iss` claim) that accepts `enabled_grants`.
    pub(crate) fn new(issuer: String, settings: TokenSettings, enabled_grants: Vec<GrantType>) -> Self {
        let reuse = ReuseCache::new(settings.reuse_window);
        Issuer { issuer, settings, enabled_grants, reuse }
    }

    /// The grant types the service accepts.
    pub(crate) fn enabled_grants(&self) -> &[GrantType] {
        &self.enabled_grants
    }

    /// The `iss` value.
    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The grant a request asks for, if the service has it on and the client may use it.
    pub(crate) fn grant(&self, grant_type: &str, client: &Client) -> Result<GrantType, IssueError> {
        let grant = GrantType::parse(grant_type)
            .filter(|g| self.enabled_grants.contains(g))
            .ok_or_else(|| IssueError::UnsupportedGrantType(grant_type.to_owned()))?;
        if !client.allows_grant(grant) {
            return Err(IssueError::UnauthorizedClient(grant));
        }
        Ok(grant)
    }

    /// The client credentials grant (RFC 6749 §4.4): a token whose subject is the client.
    pub(crate) fn client_credentials(
        &self,
        client: &Client,
        req: &TokenRequest<'_>,
        keys: &KeySet,
        now: SystemTime,
    ) -> Result<IssuedToken, IssueError> {
        let scope = granted_scope(client, req.scope)?;
        let audiences = granted_audiences(client, &req.resources, &req.audiences)?;
        let ttl = self.lifetime(client, req.expires_in)?;
        // No signing key (all revoked): no token at all, not even a reused one.
        let signer = keys.signer()?;
        let issued = |access_token, expires_in, scope| IssuedToken {
            access_token,
            expires_in,
            scope,
            kid: signer.shared_kid(),
            refresh_token: None,
            id_token: None,
            reused: false,
        };
        // Checked after authentication and every policy decision: a reused token is one
        // this request would have been granted anyway.
        let now_secs = unix_seconds(now);
        let reuse = self.reuse.as_ref().map(|cache| {
            let request = reuse::Request {
                kid: signer.kid(),
                client_id: &client.id,
                scope: &scope,
                audiences: &audiences,
                ttl,
            };
            (cache, request.key())
        });
        if let Some(kept) = reuse.as_ref().and_then(|(cache, key)| cache.get(key, now_secs)) {
            let remaining = kept.expires_at.saturating_sub(now_secs);
            return Ok(IssuedToken { reused: true, ..issued(kept.access_token.clone(), remaining, scope) });
        }
        let access_token =
            self.access_token(&client.id, client, &scope, &audiences, ttl, &client.claims, signer, now)?;
        if let Some((cache, key)) = reuse {
            let kept = Reusable {
                access_token: access_token.clone(),
                issued_at: now_secs,
                expires_at: now_secs + ttl,
            };
            cache.put(key, kept);
        }
        Ok(issued(access_token, ttl, scope))
    }

    /// Signs an RFC 9068 access token for `sub`.
    #[allow(clippy::too_many_arguments)]
    fn access_token(
        &self,
        sub: &str,
        client: &Client,
        scope: &str,
        audiences: &[&str],
        ttl: u64,
        extra: &Map<String, Value>,
        signer: &SigningKey,
        now: SystemTime,
    ) -> Result<String, KeyError> {
        let jti = new_jti()?;
        let iat = unix_seconds(now);
        let claims = AccessTokenClaims {
            iss: &self.issuer,
            sub,
            aud: AudienceRef::from_slice(audiences),
            exp: iat + ttl,
            iat,
            nbf: iat,
            jti: &jti,
            client_id: &client.id,
            scope,
            extra,
        };
        signer.sign_access_token(&claims)
    }

    /// Introspects `token` (RFC 7662 §2.2): its claims if it is active, why not otherwise.
    ///
    /// Active means: signed by a key this service still publishes, `typ` at+jwt, our
    /// issuer, not expired (no leeway: this is the authoritative answer), issued to a
    /// client that is still configured and enabled, and, for a user's token, whose user
    /// is still configured and enabled.
    pub(crate) fn introspect(
        &self,
        token: &str,
        keys: &KeySet,
        registry: &Registry,
        users: &Users,
        now: SystemTime,
    ) -> Result<AccessClaims, Inactive> {
        let checks = Checks {
            typ: ACCESS_TOKEN_TYPE,
            // The key decides: each published key verifies only its own algorithm.
            algorithms: &Algorithm::ALL_JWT,
            issuer: Some(&self.issuer),
            audience: None,
            leeway: Duration::ZERO,
        };
        let claims = checks.access_token(token, &keys.verify, now)?;
        if !registry.get(&claims.client_id).is_some_and(|client| client.enabled) {
            return Err(Inactive::ClientGone);
        }
        // `sub` is the client for the client credentials grant and the user for the password
        // and refresh grants (RFC 9068 §2.2). Configuration keeps client ids and usernames
        // apart, so a `sub` that is not the client is a user.
        if claims.sub != claims.client_id && !users.get(&claims.sub).is_some_and(|user| user.enabled) {
            return Err(Inactive::UserGone);
        }
        Ok(claims)
    }

    /// The lifetime in seconds: the client's `ttl`, else the default, capped at `max_ttl`;
    /// a request may only shorten it.
    fn lifetime(&self, client: &Client, requested: Option<&str>) -> Result<u64, IssueError> {
        let allowed = client.ttl.unwrap_or(self.settings.ttl).min(self.settings.max_ttl).as_secs();
        let Some(text) = requested else {
            return Ok(allowed);
        };
        match text.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n.min(allowed)),
            _ => Err(IssueError::InvalidRequest(
                "`expires_in` must be a whole number of seconds greater than zero",
            )),
        }
    }
}

/// `jti`s drawn from the system's CSPRNG at once, per thread.
const JTI_BATCH: usize = 64;

/// Random bytes for the next `jti`s of one thread. Each draw from aws-lc pays a fixed cost
/// (a hardware random read and a lock, about 0.4 µs, 1% of a token); drawing for
/// [`JTI_BATCH`] tokens at a time pays it once per batch. The bytes are identifiers, not
/// secrets: a `jti` only has to be unique (RFC 7519 §4.1.7).
struct JtiPool {
    bytes: [u8; JTI_BYTES * JTI_BATCH],
    /// How many bytes are used up; the pool starts empty.
    used: usize,
}

thread_local! {
    static JTI_POOL: std::cell::RefCell<JtiPool> =
        const { std::cell::RefCell::new(JtiPool { bytes: [0; JTI_BYTES * JTI_BATCH], used: JTI_BYTES * JTI_BATCH }) };
}

/// A fresh `jti`: [`JTI_BYTES`] random bytes, base64url.
fn new_jti() -> Result<String, KeyError> {
    JTI_POOL.with_borrow_mut(|pool| {
        if pool.used == pool.bytes.len() {
            rand::fill(&mut pool.bytes).map_err(|_| KeyError::Crypto("random jti"))?;
            pool.used = 0;
        }
        let jti = &pool.bytes[pool.used..pool.used + JTI_BYTES];
        pool.used += JTI_BYTES;
        Ok(URL_SAFE_NO_PAD.encode(jti))
    })
}

/// The scope tokens of a `scope` parameter (RFC 6749 §3.3), duplicates dropped.
fn scope_tokens(requested: &str) -> Result<Vec<&str>, IssueError> {
    crate::oauth::scope_tokens(requested).map_err(|bad| IssueError::InvalidScope {
        reason: "not a valid scope token (RFC 6749 section 3.3)",
        scope: Some(bad.to_owned()),
    })
}

/// RFC 6749 §3.3: every requested scope must be allowed; none requested → the defaults.
fn granted_scope(client: &Client, requested: Option<&str>) -> Result<String, IssueError> {
    let Some(requested) = requested.filter(|s| !s.trim().is_empty()) else {
        return Ok(client.default_scope.clone());
    };
    let tokens = scope_tokens(requested)?;
    if let Some(denied) = tokens.iter().find(|t| !client.allows_scope(t)) {
        return Err(IssueError::InvalidScope {
            reason: "scope not allowed for this client",
            scope: Some((*denied).to_owned()),
        });
    }
    Ok(tokens.join(" "))
}

/// RFC 8707 §2: each requested resource must be one of the client's audiences; none
/// requested → the client's default audience. A `resource` must also be an absolute URI
/// without a fragment; an `audience` (the Keycloak/Auth0 alias) may name any configured
/// audience. Resources come first, then audiences, duplicates dropped.
fn granted_audiences<'a>(
    client: &'a Client,
    resources: &[&'a str],
    audiences: &[&'a str],
) -> Result<Vec<&'a str>, IssueError> {
    if resources.is_empty() && audiences.is_empty() {
        return Ok(vec![client.default_audience()]);
    }
    let mut granted: Vec<&str> = Vec::with_capacity(resources.len() + audiences.len());
    for r in resources {
        if !client.allows_resource(r) {
            let reason = if is_resource_uri(r) {
                "resource not allowed for this client"
            } else {
                "a resource must be an absolute URI without a fragment (RFC 8707 section 2)"
            };
            return Err(IssueError::InvalidTarget { reason, resource: (*r).to_owned() });
        }
        if !granted.contains(r) {
            granted.push(r);
        }
    }
    for a in audiences {
        if !client.allows_audience(a) {
            let reason = "audience not allowed for this client";
            return Err(IssueError::InvalidTarget { reason, resource: (*a).to_owned() });
        }
        if !granted.contains(a) {
            granted.push(a);
        }
    }
    Ok(granted)
}
