//! Tokens for users: the resource owner password grant (RFC 6749 §4.3), stateless refresh
//! tokens with rotation (§6), and OpenID Connect ID tokens.
//!
//! Refresh tokens are JWTs signed by tokenmint with their own `typ` (`rt+jwt`) and
//! audience (tokenmint itself), bound to client and user. Each use re-checks that both
//! still exist, are enabled and still hold the scopes, so removing or disabling either in
//! configuration revokes at once. Detecting reuse of an old refresh token would need shared
//! state, which tokenmint does not keep.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::claims::{IdTokenClaims, RefreshClaims};
use super::policy::{granted_audiences, scope_tokens};
use super::{Grant, IssueError, IssuedToken, Issuer, TokenRequest, new_jti};
use crate::clients::Client;
use crate::clock::unix_seconds;
use crate::credentials::{Requester, Secret};
use crate::keys::{Algorithm, REFRESH_TOKEN_TYPE, TokenKind};
use crate::oauth::GrantType;
use crate::users::User;
use crate::verify::{Checks, VerifyError};

/// Why a refresh token was refused; only logged (the answer is `invalid_grant`).
#[derive(Debug, thiserror::Error)]
enum RefreshRefused {
    /// Signature, key, `typ`, issuer or audience.
    #[error("{0}")]
    Token(#[from] VerifyError),
    /// Its `exp` has passed.
    #[error("refresh token expired")]
    Expired,
}

/// The scope that asks for an ID token (OpenID Connect Core §3.1.2.1).
pub(super) const OPENID: &str = "openid";

/// A user's login, as the tokens issued for it need it.
#[derive(Debug, Clone, Copy)]
struct Login<'a> {
    /// The client it came through.
    client: &'a Client,
    /// The user.
    user: &'a User,
    /// The scopes granted to the access token, space-delimited.
    scope: &'a str,
    /// The scopes of the refresh token issued with it: a refresh that narrows the access
    /// token's scope keeps the refresh token's (RFC 6749 §6: "identical" to the original).
    refresh_scope: &'a str,
    /// When the user entered their password (OpenID Connect `auth_time`).
    auth_time: u64,
    /// The refresh token's expiry to keep, when refreshing: it never moves.
    refresh_exp: Option<u64>,
}

impl Issuer {
    /// The password grant (RFC 6749 §4.3): checks `username` and `password` under the
    /// brute-force throttle (unknown user, disabled user and wrong password give the same
    /// answer), then issues an access token for the user, plus a refresh token if the client
    /// also has `refresh_token`, plus an ID token if `openid` was granted.
    pub(super) async fn password(
        &self,
        client: &Client,
        req: &TokenRequest<'_>,
        requester: Requester,
        now: SystemTime,
    ) -> Result<IssuedToken, IssueError> {
        let (Some(username), Some(password)) = (req.username, req.password) else {
            return Err(IssueError::InvalidRequest("the password grant needs `username` and `password`"));
        };
        let password = Secret::new(password.to_owned());
        let user = self.users.authenticate(username, &password, requester).await.inspect_err(|e| {
            tracing::debug!(reason = %e, "password login failed");
        })?;
        let scope = user_scope(client, &user, req.scope, None)?;
        let login = Login {
            client,
            user: &user,
            scope: &scope,
            refresh_scope: &scope,
            auth_time: unix_seconds(now),
            refresh_exp: None,
        };
        self.user_tokens(login, req, now)
    }

    /// The refresh token grant (RFC 6749 §6): checks the refresh token and its binding, then
    /// issues a fresh access token (of the requested scope, which may only narrow) and a
    /// fresh refresh token (same absolute expiry, same scope as the one presented, less any
    /// scope configuration no longer allows).
    pub(super) fn refresh(
        &self,
        client: &Client,
        req: &TokenRequest<'_>,
        now: SystemTime,
    ) -> Result<IssuedToken, IssueError> {
        let Some(refresh_token) = req.refresh_token else {
            return Err(IssueError::InvalidRequest("missing `refresh_token`"));
        };
        let invalid = IssueError::InvalidGrant;
        let claims = self.read_refresh_token(refresh_token, now).map_err(|e| {
            tracing::debug!(reason = %e, "refresh token refused");
            invalid("the refresh token is invalid or expired")
        })?;
        if claims.client_id != client.id {
            return Err(invalid("the refresh token was issued to another client"));
        }
        let Some(user) = self.users.get(&claims.sub).filter(|u| u.enabled) else {
            return Err(invalid("the refresh token's user is no longer active"));
        };
        let held: Vec<&str> = claims.scope.split(' ').filter(|s| !s.is_empty()).collect();
        // What the refresh token holds and configuration still allows: the new refresh
        // token's scope, whatever this request narrows the access token to.
        let kept = user_scope(client, user, None, Some(&held))?;
        if kept.is_empty() && !held.is_empty() {
            return Err(invalid("the refresh token's scopes are no longer allowed"));
        }
        let scope = user_scope(client, user, req.scope, Some(&held))?;
        let login = Login {
            client,
            user,
            scope: &scope,
            refresh_scope: &kept,
            auth_time: claims.auth_time,
            refresh_exp: Some(claims.exp),
        };
        self.user_tokens(login, req, now)
    }

    /// Access token, optional refresh token, optional ID token for a login.
    fn user_tokens(
        &self,
        login: Login<'_>,
        req: &TokenRequest<'_>,
        now: SystemTime,
    ) -> Result<IssuedToken, IssueError> {
        let Login { client, user, scope, refresh_scope, auth_time, refresh_exp } = login;
        let audiences = granted_audiences(client, &req.resources, &req.audiences)?;
        let ttl = self.lifetime(client, req.expires_in)?;
        let keys = self.keys.current_at(now);
        let signer = keys.signer()?;
        let iat = unix_seconds(now);
        // The user's claims win over the client's.
        let mut extra: Map<String, Value> = client.claims.clone();
        extra.extend(user.claims.iter().map(|(k, v)| (k.clone(), v.clone())));
        let grant = Grant { sub: &user.username, client, scope, audiences: &audiences, ttl, extra: &extra };
        let issued = self.fresh_token(&grant, signer, now)?;
        let refresh_token = if client.allows_grant(GrantType::RefreshToken) {
            let claims = RefreshClaims {
                iss: self.issuer.clone(),
                sub: user.username.clone(),
                aud: self.issuer.clone(),
                client_id: client.id.clone(),
                scope: refresh_scope.to_owned(),
                exp: refresh_exp.unwrap_or(iat + self.settings.refresh_ttl.as_secs()),
                iat,
                jti: new_jti()?,
                auth_time,
            };
            Some(signer.sign(TokenKind::Refresh, &claims)?)
        } else {
            None
        };
        let id_token = if scope.split(' ').any(|s| s == OPENID) {
            let claims = IdTokenClaims {
                iss: &self.issuer,
                sub: &user.username,
                aud: &client.id,
                exp: iat + ttl,
                iat,
                auth_time,
                extra: &user.claims,
            };
            Some(signer.sign(TokenKind::Id, &claims)?)
        } else {
            None
        };
        Ok(IssuedToken { user: Some(user.username.clone()), refresh_token, id_token, ..issued })
    }

    /// Verifies a refresh token: `typ` rt+jwt, a key that may have signed one, signature,
    /// issuer as both `iss` and `aud`, not expired at `now`.
    fn read_refresh_token(&self, token: &str, now: SystemTime) -> Result<RefreshClaims, RefreshRefused> {
        let checks = Checks {
            typ: REFRESH_TOKEN_TYPE,
            algorithms: &Algorithm::ALL_JWT,
            issuer: Some(&self.issuer),
            // Addressed to tokenmint itself: `aud` is the issuer.
            audience: Some(&self.issuer),
            leeway: Duration::ZERO,
            max_lifetime: None,
        };
        let claims: RefreshClaims = checks.signed(token, &self.keys.current_at(now).refresh_verify)?;
        // Only `exp`, with no leeway: the refresh token's own lifetime is absolute.
        if claims.exp <= unix_seconds(now) {
            return Err(RefreshRefused::Expired);
        }
        Ok(claims)
    }
}

/// Scopes for a user: requested ∩ client's ∩ user's (`openid` needs only the client's).
/// With nothing requested: the client's defaults (or, when refreshing, what the refresh
/// token held). When refreshing, a request may narrow but never widen (`held`).
fn user_scope(
    client: &Client,
    user: &User,
    requested: Option<&str>,
    held: Option<&[&str]>,
) -> Result<String, IssueError> {
    let requested = requested.filter(|s| !s.trim().is_empty());
    let asked: Vec<&str> = match (requested, held) {
        (Some(r), Some(held)) => {
            let tokens = scope_tokens(r)?;
            if let Some(wider) = tokens.iter().find(|t| !held.contains(t)) {
                return Err(IssueError::InvalidScope {
                    reason: "a refresh may only narrow the scope; not granted to this refresh token",
                    scope: Some((*wider).to_owned()),
                });
            }
            tokens
        }
        (Some(r), None) => scope_tokens(r)?,
        (None, Some(held)) => held.to_vec(),
        (None, None) => client.default_scope.split(' ').filter(|s| !s.is_empty()).collect(),
    };
    let granted: Vec<&str> = asked
        .iter()
        .copied()
        .filter(|s| client.allows_scope(s) && (*s == OPENID || user.allows_scope(s)))
        .collect();
    if granted.is_empty() && requested.is_some() {
        return Err(IssueError::InvalidScope {
            reason: "none of the requested scopes may be granted",
            scope: None,
        });
    }
    Ok(granted.join(" "))
}
