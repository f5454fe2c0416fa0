//! OAuth clients: their configuration, the registry, and client authentication
//! (RFC 6749 §2.3).
//!
//! Built on the `credentials` and `oauth` leaves and `verify` (for foreign JWTs); knows
//! nothing of HTTP or figment. `config` hands it [`ClientSettings`] and the trusted issuers;
//! the HTTP layer hands it a client id and a proof: a secret or a JWT assertion.
//!
//! - `auth`: authentication, one [`Proof`] per kind; `assertion`: what a JWT assertion's
//!   claims must say (`private_key_jwt`, federated identity tokens); `replay`: the
//!   single-use rule of assertions; `keys`: where public keys come from; `federation`: the
//!   trusted issuers and federated identities; `settings`, `registry`, `rate`.

mod assertion;
mod auth;
mod federation;
mod keys;
mod rate;
mod registry;
mod replay;
mod settings;

pub(crate) use assertion::{ASSERTION_ALGORITHMS, AssertionPolicy, Claimed};
pub(crate) use auth::{AuthMethod, Authenticated, ClientCredentials, ClientError, Proof};
pub(crate) use federation::{IssuerProblem, TrustedIssuer, TrustedIssuerSettings, TrustedIssuers};
pub(crate) use keys::Fetcher;
pub(crate) use rate::{Limiter, RateLimit};
pub(crate) use registry::{Assertions, Registry};
pub(crate) use replay::ReplayCache;
pub(crate) use settings::{ClientProblem, ClientSettings, OneOrMany};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::credentials::SecretHash;
use crate::oauth::GrantType;
use federation::FederatedIdentity;
use keys::KeySource;

/// A configured, validated OAuth client.
pub(crate) struct Client {
    /// The `client_id`.
    pub(crate) id: String,
    /// Accepted secret hashes; more than one during a secret rotation.
    pub(crate) secret_hashes: Vec<SecretHash>,
    /// The authentication methods it may use (`token_endpoint_auth_method`). Federated
    /// identity tokens are allowed by `federated` alone.
    pub(crate) methods: Vec<AuthMethod>,
    /// Its public keys, for `private_key_jwt`.
    pub(crate) keys: Option<KeySource>,
    /// External identities that may act as this client.
    pub(crate) federated: Vec<FederatedIdentity>,
    /// The audiences (its own APIs) of other clients' and users' tokens that this client may
    /// exchange for delegated tokens (RFC 8693).
    pub(crate) exchange_audiences: Vec<String>,
    /// Grant types this client may use.
    pub(crate) grant_types: Vec<GrantType>,
    /// Scopes this client may be granted.
    pub(crate) scopes: Vec<String>,
    /// Scopes granted when a request names none, joined by spaces (precomputed).
    pub(crate) default_scope: String,
    /// Audiences this client may ask for; the first is the default. Never empty.
    pub(crate) audiences: Vec<String>,
    /// For each of `audiences`, whether a `resource` parameter may name it: an absolute URI
    /// without a fragment (RFC 8707 §2). Decided once here, so no request parses a URI.
    pub(crate) resource_uris: Vec<bool>,
    /// This client's token lifetime, if it differs from the service default.
    pub(crate) ttl: Option<Duration>,
    /// Extra claims added to every token; never a reserved claim name.
    pub(crate) claims: Map<String, Value>,
    /// A disabled client fails authentication as if it did not exist.
    pub(crate) enabled: bool,
    /// Its token-request rate limit, if it has one (its own, or the service-wide default).
    pub(crate) limiter: Option<Arc<Limiter>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("secret_hashes", &self.secret_hashes.len())
            .field("methods", &self.methods)
            .field("federated", &self.federated.len())
            .field("grant_types", &self.grant_types)
            .field("scopes", &self.scopes)
            .field("audiences", &self.audiences)
            .field("enabled", &self.enabled)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

/// The external identity a federated identity token proved: who acted as the client.
#[derive(Debug, Clone)]
pub(crate) struct FederatedSubject {
    /// The token's `iss`: a trusted issuer.
    pub(crate) issuer: String,
    /// Its `sub`.
    pub(crate) subject: String,
    /// Its `exp`, seconds since the epoch: the access token lives no longer.
    pub(crate) expires_at: u64,
}

impl Client {
    /// Whether the client may authenticate with `method`.
    pub(crate) fn allows_method(&self, method: AuthMethod) -> bool {
        match method {
            AuthMethod::FederatedJwt => !self.federated.is_empty(),
            other => self.methods.contains(&other),
        }
    }

    /// Whether the client may use `grant`.
    pub(crate) fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether the client may be granted `scope`.
    pub(crate) fn allows_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether the client may ask for a token for `audience`.
    pub(crate) fn allows_audience(&self, audience: &str) -> bool {
        self.audiences.iter().any(|a| a == audience)
    }

    /// Whether the client may name `resource` in a `resource` parameter: one of its
    /// audiences, and an absolute URI without a fragment (RFC 8707 §2).
    pub(crate) fn allows_resource(&self, resource: &str) -> bool {
        self.audiences.iter().zip(&self.resource_uris).any(|(a, uri)| *uri && a == resource)
    }

    /// The audience used when a request names none.
    pub(crate) fn default_audience(&self) -> &str {
        self.audiences.first().map_or("", String::as_str)
    }
}
