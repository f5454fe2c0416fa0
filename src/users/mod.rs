//! Users of the resource owner password grant (RFC 6749 §4.3): their configuration, the
//! registry, and password checks under the brute-force throttle.
//!
//! Built on the `credentials` and `oauth` leaves, like `clients`: knows nothing of HTTP or
//! figment. Passwords are argon2id hashes only; every check runs on the blocking pool under
//! a concurrency bound that leaves CPU for machine clients.

mod settings;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::credentials::{Argon2Pool, Requester, Secret, Throttle};
pub(crate) use settings::{UserProblem, UserSettings};

/// A configured user.
pub(crate) struct User {
    /// The username (the `sub` of the user's tokens).
    pub(crate) username: String,
    /// argon2id PHC string.
    pub(super) password_hash: String,
    /// Scopes the user may be granted.
    pub(crate) scopes: Vec<String>,
    /// Extra claims for the user's tokens.
    pub(crate) claims: Map<String, Value>,
    /// A disabled user cannot log in, and their refresh tokens stop working.
    pub(crate) enabled: bool,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("scopes", &self.scopes)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl User {
    /// Whether the user may be granted `scope`.
    pub(crate) fn allows_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a login failed. All but [`UserError::Throttled`] answer the same `invalid_grant` on
/// the wire.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UserError {
    /// The username or the address is backing off after failures; nothing was checked.
    #[error("too many failed attempts")]
    Throttled {
        /// How long until an attempt may be admitted again.
        retry_after: Duration,
    },
    /// No such user.
    #[error("unknown user")]
    Unknown,
    /// The user is disabled.
    #[error("user is disabled")]
    Disabled,
    /// The password does not match.
    #[error("wrong password")]
    BadPassword,
}

/// Verified instead of a real hash for unknown or disabled users, so every failure costs
/// the same time. A hash of a throwaway password with the parameters `hash-password` uses
/// (argon2id, 19 MiB, 2 passes); a constant, so start-up does not pay for hashing it.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$LmAZF7oSn7tosvFVeM4/Bg$0dclRJXPnuhmxZ7Y7I0M6lgHFmuP9eIWIjHp7esm3dA";

/// All configured users, keyed by username.
pub(crate) struct Users {
    users: HashMap<String, Arc<User>>,
    /// Bounds concurrent password checks to half the cores (at least one): a flood of
    /// logins can take at most half the CPU from machine clients.
    argon2: Arc<Argon2Pool>,
    /// Brute-force protection: failures (and checks in flight) by username and address.
    throttle: Arc<Throttle>,
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Users").field("users", &self.users.len()).finish_non_exhaustive()
    }
}

impl Users {
    /// Builds the registry. Usernames are unique: configuration refuses duplicates.
    pub(crate) fn new(users: Vec<User>) -> Self {
        let users = users.into_iter().map(|u| (u.username.clone(), Arc::new(u))).collect();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Users { users, argon2: Arc::new(Argon2Pool::new(cores / 2)), throttle: Arc::default() }
    }

    /// The users of a reloaded configuration, taking over `previous`'s brute-force counters
    /// and its password-check pool: a reload resets no protection.
    pub(crate) fn succeeding(users: Vec<User>, previous: &Users) -> Self {
        let users = users.into_iter().map(|u| (u.username.clone(), Arc::new(u))).collect();
        Users { users, argon2: Arc::clone(&previous.argon2), throttle: Arc::clone(&previous.throttle) }
    }

    /// Whether any user is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user with this name, enabled or not.
    pub(crate) fn get(&self, username: &str) -> Option<&Arc<User>> {
        self.users.get(username)
    }

    /// Checks a password for a login by `requester` (RFC 6749 §4.3.2), under the brute-force
    /// throttle: the attempt is counted before the check starts, so concurrent guesses get
    /// no more checks than sequential ones. Unknown, disabled and wrong all take one argon2
    /// verification, so the three cannot be told apart by timing.
    pub(crate) async fn authenticate(
        &self,
        username: &str,
        password: &Secret,
        requester: Requester,
    ) -> Result<Arc<User>, UserError> {
        let attempt = self
            .throttle
            .begin(username, requester.address, requester.at)
            .await
            .map_err(|retry_after| UserError::Throttled { retry_after })?;
        let user = self.users.get(username).cloned();
        let hash = match &user {
            Some(u) if u.enabled => u.password_hash.as_str(),
            _ => DUMMY_HASH,
        };
        let matched = self.argon2.verify(hash, password).await;
        let result = match user {
            None => Err(UserError::Unknown),
            Some(u) if !u.enabled => Err(UserError::Disabled),
            Some(u) if matched => Ok(u),
            Some(_) => Err(UserError::BadPassword),
        };
        match &result {
            Ok(_) => attempt.succeeded(requester.at),
            Err(_) => attempt.failed(requester.at),
        }
        result
    }
}
