//! Token exchange (RFC 8693): an authenticated client trades a token it holds for a
//! tokenmint access token of narrower scope or another audience.
//!
//! - `subject_token_type=urn:ietf:params:oauth:token-type:access_token`: a tokenmint access
//!   token, active as introspection would say. The client's own token is narrowed (no `act`);
//!   another client's or a user's token, whose `aud` names one of this client's
//!   `exchange_audiences` (the token was sent to this client's API), is delegated: the new
//!   token keeps the subject's `sub` and says who acts for it in `act` (RFC 8693 §4.1),
//!   nesting any `act` the subject token had.
//! - `subject_token_type=urn:ietf:params:oauth:token-type:jwt`: an identity token of a trusted
//!   issuer that matches one of this client's federated identities; the token issued is the
//!   client's own, as with the jwt-bearer grant.
//!
//! Scopes may only narrow (those of the subject token that the client may also have);
//! audiences are the client's own (`resource`, `audience`); the lifetime never exceeds the
//! subject token's. Only access tokens are issued (`requested_token_type`), and no
//! `actor_token` is taken: the authenticated client is the actor. Every refusal of the
//! request or the subject token is `invalid_request` (RFC 8693 §2.2.2), of an audience
//! `invalid_target`, of a scope `invalid_scope`.

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::policy::{granted_audiences, scope_tokens};
use super::{Grant, IssueError, IssuedToken, Issuer, TokenRequest};
use crate::claims::AccessClaims;
use crate::clients::{Authenticated, Client, Registry};
use crate::clock::unix_seconds;

/// `subject_token_type` and `issued_token_type` of an access token (RFC 8693 §3).
pub(crate) const ACCESS_TOKEN_TYPE_URI: &str = "urn:ietf:params:oauth:token-type:access_token";
/// `subject_token_type` of a JWT of another issuer (RFC 8693 §3).
const JWT_TYPE_URI: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The delegation claim (RFC 8693 §4.1).
const ACT: &str = "act";

impl Issuer {
    /// The token exchange grant for the `authenticated` client, as of `now`; `registry`
    /// judges the subject token (its client, a trusted issuer).
    pub(super) async fn exchange(
        &self,
        authenticated: &Authenticated,
        req: &TokenRequest<'_>,
        registry: &Registry,
        now: SystemTime,
    ) -> Result<IssuedToken, IssueError> {
        let invalid = IssueError::InvalidRequest;
        let (Some(subject_token), Some(subject_type)) = (req.subject_token, req.subject_token_type) else {
            return Err(invalid(
                "token exchange needs `subject_token` and `subject_token_type` (RFC 8693 section 2.1)",
            ));
        };
        if req.requested_token_type.is_some_and(|t| t != ACCESS_TOKEN_TYPE_URI) {
            return Err(invalid(
                "only access tokens are issued: requested_token_type must be urn:ietf:params:oauth:token-type:access_token",
            ));
        }
        if req.actor_token.is_some() {
            return Err(invalid("actor_token is not supported: the authenticated client is the actor"));
        }
        let client = &*authenticated.client;
        match subject_type {
            ACCESS_TOKEN_TYPE_URI => {
                let subject = self.introspect(subject_token, registry, now).map_err(|e| {
                    tracing::debug!(reason = %e, "token exchange: subject_token refused");
                    invalid("the subject_token is not an active access token of this service")
                })?;
                self.exchange_access_token(client, &subject, req, now)
            }
            JWT_TYPE_URI => {
                let identity = registry.federated_subject(client, subject_token, now).await.map_err(|e| {
                    tracing::debug!(reason = %e, "token exchange: subject_token refused");
                    invalid("the subject_token is not an identity token this client may exchange")
                })?;
                let mut issued = self.client_credentials(client, req, Some(identity.expires_at), now)?;
                issued.issued_token_type = Some(ACCESS_TOKEN_TYPE_URI);
                Ok(issued)
            }
            _ => Err(invalid(
                "unsupported subject_token_type: urn:ietf:params:oauth:token-type:access_token or \
                 urn:ietf:params:oauth:token-type:jwt",
            )),
        }
    }

    /// Narrows or delegates the active access token `subject` for `client`.
    fn exchange_access_token(
        &self,
        client: &Client,
        subject: &AccessClaims,
        req: &TokenRequest<'_>,
        now: SystemTime,
    ) -> Result<IssuedToken, IssueError> {
        let own = subject.client_id == client.id;
        if !own && !subject.aud.as_slice().iter().any(|a| client.exchange_audiences.contains(a)) {
            return Err(IssueError::InvalidRequest(
                "the subject_token is not addressed to this client (see exchange_audiences)",
            ));
        }
        let held: Vec<&str> = subject.scopes().collect();
        let scope = exchanged_scope(client, req.scope, &held)?;
        let audiences = granted_audiences(client, &req.resources, &req.audiences)?;
        let now_secs = unix_seconds(now);
        let ttl = self.lifetime(client, req.expires_in)?.min(subject.exp.saturating_sub(now_secs)).max(1);
        let mut extra: Map<String, Value> = client.claims.clone();
        // A user's token keeps the user's claims, as the password grant gives them.
        if subject.sub != subject.client_id
            && let Some(user) = self.users.get(&subject.sub)
        {
            extra.extend(user.claims.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let prior = subject.extra.get(ACT);
        match (own, prior) {
            (false, Some(prior)) => extra.insert(ACT.to_owned(), json!({ "sub": client.id, ACT: prior })),
            (false, None) => extra.insert(ACT.to_owned(), json!({ "sub": client.id })),
            (true, Some(prior)) => extra.insert(ACT.to_owned(), prior.clone()),
            (true, None) => None,
        };
        let keys = self.keys.current_at(now);
        let signer = keys.signer()?;
        let grant =
            Grant { sub: &subject.sub, client, scope: &scope, audiences: &audiences, ttl, extra: &extra };
        let issued = self.fresh_token(&grant, signer, now)?;
        Ok(IssuedToken {
            user: (subject.sub != client.id).then(|| subject.sub.clone()),
            issued_token_type: Some(ACCESS_TOKEN_TYPE_URI),
            ..issued
        })
    }
}

/// The scopes of an exchanged token: those requested (all of them held by the subject token
/// and allowed to the client), or, with none requested, those of the subject token the client
/// may have. A request may narrow, never widen.
fn exchanged_scope(client: &Client, requested: Option<&str>, held: &[&str]) -> Result<String, IssueError> {
    let Some(requested) = requested.filter(|s| !s.trim().is_empty()) else {
        let kept: Vec<&str> = held.iter().copied().filter(|s| client.allows_scope(s)).collect();
        return Ok(kept.join(" "));
    };
    let tokens = scope_tokens(requested)?;
    if let Some(wider) = tokens.iter().find(|t| !held.contains(t)) {
        return Err(IssueError::InvalidScope {
            reason: "token exchange may only narrow the scope; not held by the subject_token",
            scope: Some((*wider).to_owned()),
        });
    }
    if let Some(denied) = tokens.iter().find(|t| !client.allows_scope(t)) {
        return Err(IssueError::InvalidScope {
            reason: "scope not allowed for this client",
            scope: Some((*denied).to_owned()),
        });
    }
    Ok(tokens.join(" "))
}
