//! OAuth clients: their configuration, the registry, and client authentication
//! (RFC 6749 §2.3).
//!
//! Built on the `credentials` and `oauth` leaves; knows nothing of HTTP or figment.
//! `config` hands it [`ClientSettings`]; the HTTP layer hands it a client id and a
//! presented secret.

mod auth;
mod rate;
mod registry;
mod settings;

pub(crate) use auth::{AuthMethod, ClientCredentials, ClientError, Proof};
pub(crate) use rate::{Limiter, RateLimit};
pub(crate) use registry::Registry;
pub(crate) use settings::{ClientProblem, ClientSettings};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::credentials::SecretHash;
use crate::oauth::GrantType;

/// A configured, validated OAuth client.
pub(crate) struct Client {
    /// The `client_id`.
    pub(crate) id: String,
    /// Accepted secret hashes; more than one during a secret rotation.
    pub(crate) secret_hashes: Vec<SecretHash>,
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
            .field("grant_types", &self.grant_types)
            .field("scopes", &self.scopes)
            .field("audiences", &self.audiences)
            .field("enabled", &self.enabled)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl Client {
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
