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
use super::{IssueError, IssuedToken, Issuer, TokenRequest, granted_audiences, new_jti, scope_tokens};
use crate::clients::Client;
use crate::clock::unix_seconds;
use crate::keys::{Algorithm, KeySet, REFRESH_TOKEN_TYPE, TokenKind};
use crate::oauth::GrantType;
use crate::users::{User, Users};
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
const OPENID: &str = "openid";

impl Issuer {
    /// The password grant, after the user's password was checked: an access token for the
    /// user, plus a refresh token if the client also has `refresh_token`, plus an ID token
    /// if `openid` was granted.
    pub(crate) fn password(
        &self,
        client: &Client,
        user: &User,
        req: &TokenRequest<'_>,
        keys: &KeySet,
        now: SystemTime,
    ) -> Result<IssuedToken, IssueError> {
        let scope = user_scope(client, user, req.scope, None)?;
        self.user_tokens(client, user, &scope, req, keys, now, unix_seconds(now), None)
    }

    /// The refresh token grant (RFC 6749 §6): checks the refresh token and its binding, then
    /// issues a fresh access token and a fresh refresh token (same absolute expiry).
    pub(crate) fn refresh(
        &self,
        client: &Client,
        refresh_token: &str,
        users: &Users,
        req: &TokenRequest<'_>,
        keys: &KeySet,
        now: SystemTime,
    ) -> Result<IssuedToken, IssueError> {
        let invalid = IssueError::InvalidGrant;
        let claims = self.read_refresh_token(refresh_token, keys, now).map_err(|e| {
            tracing::debug!(reason = %e, "refresh token refused");
            invalid("the refresh token is invalid or expired")
        })?;
        if claims.client_id != client.id {
            return Err(invalid("the refresh token was issued to another client"));
        }
        let Some(user) = users.get(&claims.sub).filter(|u| u.enabled) else {
            return Err(invalid("the refresh token's user is no longer active"));
        };
        let held: Vec<&str> = claims.scope.split(' ').filter(|s| !s.is_empty()).collect();
        let scope = user_scope(client, user, req.scope, Some(&held))?;
        if scope.is_empty() && !held.is_empty() {
            return Err(invalid("the refresh token's scopes are no longer allowed"));
        }
        self.user_tokens(client, user, &scope, req, keys, now, claims.auth_time, Some(claims.exp))
    }

    /// Access token, optional refresh token, optional ID token for `user`.
    #[allow(clippy::too_many_arguments)]
    fn user_tokens(
        &self,
        client: &Client,
        user: &User,
        scope: &str,
        req: &TokenRequest<'_>,
        keys: &KeySet,
        now: SystemTime,
        auth_time: u64,
        refresh_exp: Option<u64>,
    ) -> Result<IssuedToken, IssueError> {
        let audiences = granted_audiences(client, &req.resources, &req.audiences)?;
        let ttl = self.lifetime(client, req.expires_in)?;
        let signer = keys.signer()?;
        let iat = unix_seconds(now);
        // The user's claims win over the client's.
        let mut extra: Map<String, Value> = client.claims.clone();
        extra.extend(user.claims.iter().map(|(k, v)| (k.clone(), v.clone())));
        let access_token =
            self.access_token(&user.username, client, scope, &audiences, ttl, &extra, signer, now)?;
        let refresh_token = if client.allows_grant(GrantType::RefreshToken) {
            let claims = RefreshClaims {
                iss: self.issuer.clone(),
                sub: user.username.clone(),
                aud: self.issuer.clone(),
                client_id: client.id.clone(),
                scope: scope.to_owned(),
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
        Ok(IssuedToken {
            access_token,
            expires_in: ttl,
            scope: scope.to_owned(),
            kid: signer.shared_kid(),
            refresh_token,
            id_token,
            reused: false,
        })
    }

    /// Verifies a refresh token: `typ` rt+jwt, a key that may have signed one, signature,
    /// issuer as both `iss` and `aud`, not expired at `now`.
    fn read_refresh_token(
        &self,
        token: &str,
        keys: &KeySet,
        now: SystemTime,
    ) -> Result<RefreshClaims, RefreshRefused> {
        let checks = Checks {
            typ: REFRESH_TOKEN_TYPE,
            algorithms: &Algorithm::ALL_JWT,
            issuer: Some(&self.issuer),
            // Addressed to tokenmint itself: `aud` is the issuer.
            audience: Some(&self.issuer),
            leeway: Duration::ZERO,
        };
        let claims: RefreshClaims = checks.signed(token, &keys.refresh_verify)?;
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
