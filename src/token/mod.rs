//! The issuing policy: which grant, which scopes, which audience, how long; then signing.
//!
//! [`Issuer::issue`] takes an authenticated [`Client`], the request's parameters, who sent
//! it and `now`, and runs the grant: every grant is dispatched here, and each lives in its
//! own place (client credentials below, the user grants in `user`). Knows nothing of HTTP:
//! the edge maps [`IssueError`] to OAuth error codes.
//!
//! - `policy`: the scopes and audiences a client may be granted;
//! - `user`: the password and refresh token grants, and ID tokens;
//! - `reuse`: handing out the same token again within `tokens.reuse_window`;
//! - `claims`: the claims as signed; `jti`: their identifiers; `settings`: `[tokens]`.

mod claims;
mod exchange;
mod jti;
mod policy;
mod reuse;
mod settings;
mod user;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::claims::{ACCESS_TOKEN_TYPE, AccessClaims};
use crate::clients::{Authenticated, Client, Registry};
use crate::clock::unix_seconds;
use crate::credentials::Requester;
use crate::keys::{Algorithm, KeyError, KeyRing, SigningKey};
use crate::oauth::GrantType;
use crate::users::{UserError, Users};
use crate::verify::{Checks, VerifyError};
use claims::{AccessTokenClaims, AudienceRef};
use jti::new_jti;
use policy::{granted_audiences, granted_scope};
use reuse::{Reusable, ReuseCache};
pub(crate) use settings::TokenSettings;

/// A token request's parameters (RFC 6749 §4.3.2, §4.4.2, §6; RFC 8707 §2), as the edge
/// parsed them. Which of them matter depends on the grant.
#[derive(Debug, Default)]
pub(crate) struct TokenRequest<'a> {
    /// `grant_type`.
    pub(crate) grant_type: &'a str,
    /// `scope`, space-delimited (RFC 6749 §3.3).
    pub(crate) scope: Option<&'a str>,
    /// `resource` values (RFC 8707 §2): absolute URIs naming configured audiences.
    pub(crate) resources: Vec<&'a str>,
    /// `audience` values (Keycloak's and Auth0's name): any configured audience.
    pub(crate) audiences: Vec<&'a str>,
    /// `expires_in` (or WSO2's `validity_period`): a shorter lifetime, in seconds.
    pub(crate) expires_in: Option<&'a str>,
    /// `username`, for the password grant.
    pub(crate) username: Option<&'a str>,
    /// `password`, for the password grant.
    pub(crate) password: Option<&'a str>,
    /// `refresh_token`, for the refresh token grant.
    pub(crate) refresh_token: Option<&'a str>,
    /// `subject_token`, for token exchange (RFC 8693 §2.1).
    pub(crate) subject_token: Option<&'a str>,
    /// `subject_token_type`, for token exchange.
    pub(crate) subject_token_type: Option<&'a str>,
    /// `requested_token_type`, for token exchange.
    pub(crate) requested_token_type: Option<&'a str>,
    /// `actor_token`, for token exchange (refused: the authenticated client is the actor).
    pub(crate) actor_token: Option<&'a str>,
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
    pub(crate) kid: Arc<str>,
    /// Its `jti`.
    pub(crate) jti: String,
    /// Its `exp`, seconds since the epoch.
    pub(crate) expires_at: u64,
    /// Its `aud`, space-separated.
    pub(crate) audience: String,
    /// The user it was issued for (password and refresh grants); `None` for the client itself.
    pub(crate) user: Option<String>,
    /// A refresh token (password grant, for clients that also have `refresh_token`).
    pub(crate) refresh_token: Option<String>,
    /// An OpenID Connect ID token, when `openid` was granted to a user.
    pub(crate) id_token: Option<String>,
    /// Handed out again from the reuse window rather than newly signed.
    pub(crate) reused: bool,
    /// `issued_token_type` of a token exchange's answer (RFC 8693 §2.2.1).
    pub(crate) issued_token_type: Option<&'static str>,
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
    /// A missing or malformed parameter.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// The client is over its `rate_limit`.
    #[error("rate limit exceeded")]
    RateLimited {
        /// How long until one more request would be let through.
        retry_after: Duration,
    },
    /// The user's login failed (password grant): `invalid_grant`.
    #[error("{0}")]
    Login(#[from] UserError),
    /// A bad refresh token (RFC 6749 §5.2 `invalid_grant`).
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
    /// Signed with this service's key, but not a token its configuration could issue now.
    #[error("not a token this service issues: {0}")]
    NotIssuable(&'static str),
}

/// What an access token says, once the policy has decided it.
#[derive(Debug)]
struct Grant<'a> {
    /// `sub`: the client, or the user.
    sub: &'a str,
    /// The client it is issued to.
    client: &'a Client,
    /// Granted scopes, space-delimited.
    scope: &'a str,
    /// Granted audiences.
    audiences: &'a [&'a str],
    /// Lifetime in seconds.
    ttl: u64,
    /// Extra claims.
    extra: &'a Map<String, Value>,
}

/// A signed access token and its `jti`.
#[derive(Debug)]
struct Signed {
    token: String,
    jti: String,
}

/// Issues tokens under the service-wide settings, with the live key ring, for the clients
/// and users of the configuration.
#[derive(Debug)]
pub(crate) struct Issuer {
    /// `iss`.
    issuer: String,
    settings: TokenSettings,
    /// Grant types the service accepts.
    enabled_grants: Vec<GrantType>,
    /// Tokens kept for identical requests, when `tokens.reuse_window` is set.
    reuse: Option<ReuseCache>,
    /// The keys that sign, shared with the key maintenance task.
    keys: Arc<KeyRing>,
    /// The password grant's users.
    users: Users,
}

impl Issuer {
    /// An issuer for `issuer` (the `iss` claim) that accepts `enabled_grants`, signs with
    /// `keys` and logs in `users`.
    pub(crate) fn new(
        issuer: String,
        settings: TokenSettings,
        enabled_grants: Vec<GrantType>,
        keys: Arc<KeyRing>,
        users: Users,
    ) -> Self {
        let reuse = ReuseCache::new(settings.reuse_window);
        Issuer { issuer, settings, enabled_grants, reuse, keys, users }
    }

    /// The `iss` value.
    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The password grant's users.
    pub(crate) fn users(&self) -> &Users {
        &self.users
    }

    /// The key ring.
    pub(crate) fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// Runs the grant `request` asks for, for the `authenticated` client, as of `now`, once
    /// the client's rate limit lets the request through. `requester` is counted by the
    /// password grant's brute-force throttle.
    ///
    /// A client that an external identity token authenticated (workload identity
    /// federation) gets only tokens of its own (client credentials, or the jwt-bearer grant
    /// that carried the identity token), living no longer than that identity token; the
    /// jwt-bearer grant needs such a token. `registry` judges token exchange's subject tokens.
    pub(crate) async fn issue(
        &self,
        authenticated: &Authenticated,
        request: &TokenRequest<'_>,
        registry: &Registry,
        requester: Requester,
        now: SystemTime,
    ) -> Result<IssuedToken, IssueError> {
        let client = &*authenticated.client;
        if let Some(limiter) = &client.limiter {
            limiter.admit().map_err(|retry_after| IssueError::RateLimited { retry_after })?;
        }
        let not_after = authenticated.federated.as_ref().map(|f| f.expires_at);
        // The grants that wait are boxed, so that client credentials' future stays small.
        match (self.grant(request.grant_type, client)?, not_after) {
            (GrantType::ClientCredentials, _) => self.client_credentials(client, request, not_after, now),
            (GrantType::JwtBearer, Some(_)) => self.client_credentials(client, request, not_after, now),
            (GrantType::JwtBearer, None) => Err(IssueError::InvalidGrant(
                "the jwt-bearer grant needs an identity token of a trusted issuer",
            )),
            (grant @ (GrantType::Password | GrantType::RefreshToken | GrantType::TokenExchange), Some(_)) => {
                Err(IssueError::UnauthorizedClient(grant))
            }
            (GrantType::TokenExchange, None) => {
                Box::pin(self.exchange(authenticated, request, registry, now)).await
            }
            (GrantType::Password, None) => Box::pin(self.password(client, request, requester, now)).await,
            (GrantType::RefreshToken, None) => self.refresh(client, request, now),
        }
    }

    /// The grant types discovery advertises: those enabled that some client may use (the
    /// password and refresh grants also need users).
    pub(crate) fn advertised_grants(&self, registry: &Registry) -> Vec<GrantType> {
        self.enabled_grants
            .iter()
            .copied()
            .filter(|g| registry.iter().any(|c| c.allows_grant(*g)))
            .filter(|g| !matches!(g, GrantType::Password | GrantType::RefreshToken) || !self.users.is_empty())
            .collect()
    }

    /// The grant a request asks for, if the service has it on and the client may use it.
    fn grant(&self, grant_type: &str, client: &Client) -> Result<GrantType, IssueError> {
        let grant = GrantType::parse(grant_type)
            .filter(|g| self.enabled_grants.contains(g))
            .ok_or_else(|| IssueError::UnsupportedGrantType(grant_type.to_owned()))?;
        if !client.allows_grant(grant) {
            return Err(IssueError::UnauthorizedClient(grant));
        }
        Ok(grant)
    }

    /// The client credentials grant (RFC 6749 §4.4): a token whose subject is the client,
    /// expiring at `not_after` at the latest (seconds since the epoch). Never waits, so it is
    /// a plain function.
    pub(crate) fn client_credentials(
        &self,
        client: &Client,
        req: &TokenRequest<'_>,
        not_after: Option<u64>,
        now: SystemTime,
    ) -> Result<IssuedToken, IssueError> {
        let scope = granted_scope(client, req.scope)?;
        let audiences = granted_audiences(client, &req.resources, &req.audiences)?;
        let now_secs = unix_seconds(now);
        let mut ttl = self.lifetime(client, req.expires_in)?;
        if let Some(not_after) = not_after {
            ttl = ttl.min(not_after.saturating_sub(now_secs)).max(1);
        }
        let keys = self.keys.current_at(now);
        // No signing key (all revoked): no token at all, not even a reused one.
        let signer = keys.signer()?;
        let issued = |access_token, jti, expires_at: u64, scope| IssuedToken {
            access_token,
            expires_in: expires_at.saturating_sub(now_secs),
            scope,
            kid: signer.shared_kid(),
            jti,
            expires_at,
            audience: audiences.join(" "),
            user: None,
            refresh_token: None,
            id_token: None,
            reused: false,
            issued_token_type: None,
        };
        // Checked after authentication and every policy decision: a reused token is one
        // this request would have been granted anyway.
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
        let reusable = |kept: &Reusable| not_after.is_none_or(|limit| kept.expires_at <= limit);
        if let Some(kept) =
            reuse.as_ref().and_then(|(cache, key)| cache.get(key, now_secs)).filter(|k| reusable(k))
        {
            let token = issued(kept.access_token.clone(), kept.jti.clone(), kept.expires_at, scope);
            return Ok(IssuedToken { reused: true, ..token });
        }
        let grant = Grant {
            sub: &client.id,
            client,
            scope: &scope,
            audiences: &audiences,
            ttl,
            extra: &client.claims,
        };
        let signed = self.access_token(&grant, signer, now)?;
        let expires_at = now_secs + ttl;
        if let Some((cache, key)) = reuse {
            let kept = Reusable {
                access_token: signed.token.clone(),
                jti: signed.jti.clone(),
                issued_at: now_secs,
                expires_at,
            };
            cache.put(key, kept);
        }
        Ok(issued(signed.token, signed.jti, expires_at, scope))
    }

    /// Signs `grant` as a fresh token, with what the response says of it: no refresh or ID
    /// token and no user, which the user grants and token exchange add.
    fn fresh_token(
        &self,
        grant: &Grant<'_>,
        signer: &SigningKey,
        now: SystemTime,
    ) -> Result<IssuedToken, KeyError> {
        let signed = self.access_token(grant, signer, now)?;
        Ok(IssuedToken {
            access_token: signed.token,
            expires_in: grant.ttl,
            scope: grant.scope.to_owned(),
            kid: signer.shared_kid(),
            jti: signed.jti,
            expires_at: unix_seconds(now) + grant.ttl,
            audience: grant.audiences.join(" "),
            user: None,
            refresh_token: None,
            id_token: None,
            reused: false,
            issued_token_type: None,
        })
    }

    /// Signs an RFC 9068 access token for `grant`.
    fn access_token(
        &self,
        grant: &Grant<'_>,
        signer: &SigningKey,
        now: SystemTime,
    ) -> Result<Signed, KeyError> {
        let jti = new_jti()?;
        let iat = unix_seconds(now);
        let claims = AccessTokenClaims {
            iss: &self.issuer,
            sub: grant.sub,
            aud: AudienceRef::from_slice(grant.audiences),
            exp: iat + grant.ttl,
            iat,
            nbf: iat,
            jti: &jti,
            client_id: &grant.client.id,
            scope: grant.scope,
            extra: grant.extra,
        };
        let token = signer.sign_access_token(&claims)?;
        Ok(Signed { token, jti })
    }

    /// Introspects `token` (RFC 7662 §2.2): its claims if it is active, why not otherwise.
    ///
    /// Active means: signed by a key this service still publishes, `typ` at+jwt, our
    /// issuer, not expired (no leeway: this is the authoritative answer), issued to a
    /// client of `registry` that is still enabled, and, for a user's token, whose user is
    /// still configured and enabled.
    pub(crate) fn introspect(
        &self,
        token: &str,
        registry: &Registry,
        now: SystemTime,
    ) -> Result<AccessClaims, Inactive> {
        let checks = Checks {
            typ: ACCESS_TOKEN_TYPE,
            // The key decides: each published key verifies only its own algorithm.
            algorithms: &Algorithm::ALL_JWT,
            issuer: Some(&self.issuer),
            audience: None,
            // As resource servers do: a replica whose clock lags a little still calls a
            // fresh token active.
            leeway: self.settings.leeway,
            // Nothing this service issues lives longer than `max_ttl`.
            max_lifetime: Some(self.settings.max_ttl + self.settings.leeway),
        };
        let claims = checks.access_token(token, &self.keys.current_at(now).verify, now)?;
        let Some(client) = registry.get(&claims.client_id).filter(|client| client.enabled) else {
            return Err(Inactive::ClientGone);
        };
        // `sub` is the client for the client credentials grant and the user for the password
        // and refresh grants (RFC 9068 §2.2); after a delegating token exchange (`act`), it may
        // also be another client, still configured and enabled. Configuration keeps client ids
        // and usernames apart, so any other `sub` is a user.
        let delegated_by_client = claims.extra.contains_key("act")
            && registry.get(&claims.sub).is_some_and(|subject| subject.enabled);
        let user = if claims.sub == claims.client_id || delegated_by_client {
            None
        } else {
            let Some(user) = self.users.get(&claims.sub).filter(|user| user.enabled) else {
                return Err(Inactive::UserGone);
            };
            Some(user)
        };
        // What this service could have issued under its configuration now (its lifetime is
        // checked above): a signature by its key alone does not make a token active.
        let audiences = claims.aud.as_slice();
        if audiences.is_empty() || !audiences.iter().all(|a| client.allows_audience(a)) {
            return Err(Inactive::NotIssuable("an audience the client does not have"));
        }
        let allowed =
            |s: &str| client.allows_scope(s) && user.is_none_or(|u| s == user::OPENID || u.allows_scope(s));
        if !claims.scopes().all(allowed) {
            return Err(Inactive::NotIssuable("a scope the client (or user) does not have"));
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
