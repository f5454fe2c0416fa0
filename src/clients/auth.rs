//! Client authentication (RFC 6749 §2.3): the credentials a request presents, and checking
//! them against the client's configuration. Every authentication method plugs in here, as a
//! [`Proof`] and its check: secrets below, JWT assertions in `assertion`.
//!
//! Secrets: SHA-256 hashes are checked inline (microseconds), with no lock and no
//! allocation: a generated 256-bit secret needs no throttle. argon2id hashes (human-chosen
//! secrets) go through the brute-force throttle first (per client id and per address,
//! counting checks still running), then are checked on the blocking pool, at most one per
//! core at a time; a success is remembered so the cost is paid once per secret, not once per
//! request.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::hmac;

use super::assertion::AssertionError;
use super::{Client, FederatedSubject, Registry};
use crate::credentials::{
    self, Admitted, Argon2Pool, Attempt, Requester, Secret, SecretHash, SecretHashError, Throttle,
};

/// How many remembered argon2 successes the cache holds. Bounds memory whatever clients
/// send; an evicted entry only costs one more argon2 check.
const ARGON2_CACHE_CAPACITY: usize = 4096;

/// What a request presents to prove which client sent it.
#[derive(Debug)]
pub(crate) struct ClientCredentials {
    /// The `client_id` claimed.
    pub(crate) client_id: String,
    /// The proof of it.
    pub(crate) proof: Proof,
}

/// How a client proves its identity: one variant per kind of proof.
#[derive(Debug)]
pub(crate) enum Proof {
    /// A shared secret (RFC 6749 §2.3.1), sent by `method`.
    Secret {
        /// The secret presented.
        secret: Secret,
        /// How it was sent.
        method: AuthMethod,
    },
    /// A JWT (RFC 7521 §4.2, RFC 7523): the client's own assertion (`private_key_jwt`) or a
    /// trusted issuer's identity token ([`AuthMethod::FederatedJwt`]).
    Assertion {
        /// The compact JWT.
        token: String,
        /// [`AuthMethod::PrivateKeyJwt`] when the JWT claims to be self-issued (`iss` =
        /// `sub`), [`AuthMethod::FederatedJwt`] otherwise.
        method: AuthMethod,
        /// Sent as the RFC 7523 §2.1 grant's `assertion` rather than as `client_assertion`:
        /// a refusal is then `invalid_grant` (§3.1), not `invalid_client`.
        as_grant: bool,
    },
}

/// A client authentication method, by its RFC 7591 §2 name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    /// `client_secret_basic`: HTTP Basic (RFC 6749 §2.3.1).
    SecretBasic,
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    SecretPost,
    /// `private_key_jwt`: a JWT the client signed with its own key (RFC 7523 §2.2).
    PrivateKeyJwt,
    /// An identity token of a trusted issuer, as a client assertion or the RFC 7523 §2.1
    /// grant: workload identity federation. Not an RFC 7591 name: allowed by a client's
    /// `federated_identities`, and written so in the audit log.
    FederatedJwt,
}

impl AuthMethod {
    /// The RFC 7591 name, as discovery metadata and the audit log write it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AuthMethod::SecretBasic => "client_secret_basic",
            AuthMethod::SecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::FederatedJwt => "federated_jwt",
        }
    }

    /// Parses a `token_endpoint_auth_method` name (RFC 7591 §2) a client may list.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        [AuthMethod::SecretBasic, AuthMethod::SecretPost, AuthMethod::PrivateKeyJwt]
            .into_iter()
            .find(|m| m.as_str() == name)
    }
}

impl ClientCredentials {
    /// How the client authenticated.
    pub(crate) fn method(&self) -> AuthMethod {
        match &self.proof {
            Proof::Secret { method, .. } | Proof::Assertion { method, .. } => *method,
        }
    }

    /// Whether the proof is the RFC 7523 §2.1 grant's assertion.
    pub(crate) fn is_grant(&self) -> bool {
        matches!(self.proof, Proof::Assertion { as_grant: true, .. })
    }
}

/// A client that proved who it is.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    /// The client.
    pub(crate) client: Arc<Client>,
    /// Which of its secret hashes matched: the index in its `secret_hashes` (never the
    /// hash); `None` when it authenticated otherwise.
    pub(crate) secret_index: Option<usize>,
    /// The external identity that acted as the client, when a federated identity token
    /// authenticated it.
    pub(crate) federated: Option<FederatedSubject>,
}

/// Why a client failed to authenticate. All of them answer `invalid_client` on the wire;
/// all but [`ClientError::Throttled`] (429) with the same status and description.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// An argon2 client's id, or the caller's address, is backing off after failed
    /// secrets (RFC 6749 §2.3.1); nothing was checked.
    #[error("too many failed attempts")]
    Throttled {
        /// How long until an attempt may be admitted again.
        retry_after: Duration,
    },
    /// No client has this id.
    #[error("unknown client")]
    Unknown,
    /// The client exists but is disabled in configuration.
    #[error("client is disabled")]
    Disabled,
    /// The presented secret matches none of the client's hashes.
    #[error("wrong client secret")]
    BadSecret,
    /// The client may not authenticate this way (`token_endpoint_auth_method`, or no
    /// `federated_identities`).
    #[error("the client does not allow the {} method", .0.as_str())]
    MethodNotAllowed(AuthMethod),
    /// A JWT assertion that was refused, and why.
    #[error("assertion refused: {0}")]
    BadAssertion(#[from] AssertionError),
}

/// What checking argon2id client secrets needs, shared by every client.
pub(super) struct SecretChecks {
    /// Remembered argon2 successes: HMAC(process key, client id, hash, secret). Keyed by the
    /// stored hash too, so changing a client's hash invalidates its entries. Bounded: past
    /// [`ARGON2_CACHE_CAPACITY`], the least useful entries go.
    remembered: quick_cache::sync::Cache<[u8; 32], ()>,
    /// Per-process random key for the remembered-success digests.
    cache_key: hmac::Key,
    /// Runs argon2 checks off the runtime, one per core at most, so a flood of slow checks
    /// cannot take every blocking thread.
    argon2: Argon2Pool,
    /// Brute-force protection for argon2 clients (RFC 6749 §2.3.1): failures, and checks in
    /// flight, by `client_id` and by address. sha256 clients never touch it.
    throttle: Throttle,
}

impl SecretChecks {
    /// Fails only if the system random generator does (for the remembered-success key).
    pub(super) fn new() -> Result<Self, SecretHashError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let cache_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).map_err(|_| SecretHashError::Random)?;
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(SecretChecks {
            remembered: quick_cache::sync::Cache::new(ARGON2_CACHE_CAPACITY),
            cache_key,
            argon2: Argon2Pool::new(permits),
            throttle: Throttle::default(),
        })
    }

    /// The remembered-success key of `presented` for one of `client_id`'s argon2 hashes.
    fn cache_entry(&self, client_id: &str, phc: &str, presented: &Secret) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.cache_key);
        for part in [client_id.as_bytes(), phc.as_bytes(), presented.expose()] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
}

impl Registry {
    /// Authenticates the client `credentials` name, with the proof they carry, for
    /// `requester` (whose address and arrival the brute-force throttle counts), as of `now`
    /// (which assertions' times are checked against).
    pub(crate) async fn authenticate(
        &self,
        credentials: &ClientCredentials,
        requester: Requester,
        now: SystemTime,
    ) -> Result<Authenticated, ClientError> {
        let Some(client) = self.get(&credentials.client_id) else {
            return Err(ClientError::Unknown);
        };
        if !client.enabled {
            return Err(ClientError::Disabled);
        }
        let method = credentials.method();
        if !client.allows_method(method) {
            return Err(ClientError::MethodNotAllowed(method));
        }
        let mut authenticated =
            Authenticated { client: Arc::clone(client), secret_index: None, federated: None };
        // The paths that wait on more than a hash are boxed: inline, their futures would
        // make every request's future several kilobytes, copied each time it moves.
        match &credentials.proof {
            Proof::Secret { secret, .. } => {
                authenticated.secret_index = Some(self.check_secret(client, secret, requester).await?);
            }
            Proof::Assertion { token, method: AuthMethod::FederatedJwt, .. } => {
                let subject = Box::pin(self.assertions.federated(client, token, &self.issuers, now)).await?;
                authenticated.federated = Some(subject);
            }
            Proof::Assertion { token, .. } => {
                Box::pin(self.assertions.private_key_jwt(client, token, &self.replay, now)).await?;
            }
        }
        Ok(authenticated)
    }

    /// The external identity that the identity token `token`, of a trusted issuer, proves
    /// may act as `client`, as of `now` (token exchange's `jwt` subject tokens).
    pub(crate) async fn federated_subject(
        &self,
        client: &Client,
        token: &str,
        now: SystemTime,
    ) -> Result<FederatedSubject, AssertionError> {
        self.assertions.federated(client, token, &self.issuers, now).await
    }

    /// A secret against the client's hashes, SHA-256 ones first, then argon2id ones: the
    /// index of the hash that matched.
    async fn check_secret(
        &self,
        client: &Client,
        presented: &Secret,
        requester: Requester,
    ) -> Result<usize, ClientError> {
        let digest = credentials::sha256_digest(presented);
        if let Some(index) = credentials::matching_sha256(&digest, &client.secret_hashes) {
            return Ok(index);
        }
        if !client.secret_hashes.iter().any(SecretHash::is_slow) {
            return Err(ClientError::BadSecret);
        }
        // Boxed, as the assertion paths of `authenticate` are.
        Box::pin(self.check_argon2(client, presented, requester)).await
    }

    /// The argon2 half of [`Registry::check_secret`], under the throttle.
    async fn check_argon2(
        &self,
        client: &Client,
        presented: &Secret,
        requester: Requester,
    ) -> Result<usize, ClientError> {
        let checks = &self.secret_checks;
        // (index, PHC string, remembered-success key) for each argon2 hash; usually one.
        let candidates: Vec<(usize, &str, [u8; 32])> = client
            .secret_hashes
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.argon2id_phc().map(|phc| (i, phc)))
            .map(|(i, phc)| (i, phc, checks.cache_entry(&client.id, phc, presented)))
            .collect();
        // A remembered secret is answered only when a fresh check would be admitted, so a
        // blocked guesser cannot use the cache to test guesses without paying for them.
        let known_good =
            || candidates.iter().find(|(_, _, key)| checks.remembered.get(key).is_some()).map(|c| c.0);
        let admitted =
            checks.throttle.begin_unless(&client.id, requester.address, requester.at, known_good).await;
        let attempt: Attempt<'_> = match admitted {
            Ok(Admitted::Attempt(attempt)) => attempt,
            Ok(Admitted::KnownGood(index)) => return Ok(index),
            Err(retry_after) => return Err(ClientError::Throttled { retry_after }),
        };
        for (index, phc, key) in &candidates {
            if checks.argon2.verify(phc, presented).await {
                checks.remembered.insert(*key, ());
                attempt.succeeded(requester.at);
                return Ok(*index);
            }
        }
        attempt.failed(requester.at);
        Err(ClientError::BadSecret)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::clients::ClientSettings;

    fn registry() -> Registry {
        let hash = SecretHash::argon2id_of(&Secret::new("correct horse".into())).unwrap();
        let toml = format!("id = \"argon\"\nsecret_hashes = [\"{hash}\"]\naudiences = [\"https://api\"]\n");
        let settings: ClientSettings = toml::from_str(&toml).unwrap();
        Registry::for_tests(vec![settings.into_client(&crate::clients::Fetcher::default()).unwrap()])
    }

    fn with(secret: &str) -> ClientCredentials {
        let proof = Proof::Secret { secret: Secret::new(secret.into()), method: AuthMethod::SecretBasic };
        ClientCredentials { client_id: "argon".into(), proof }
    }

    /// RFC 6749 §2.3.1 asks for brute-force protection; the throttle reads the requester's
    /// arrival, so time is moved by passing instants, with no sleep.
    #[tokio::test]
    async fn wrong_argon2_secrets_back_off_by_the_requesters_clock_rfc6749_2_3_1() {
        let registry = registry();
        let t0 = Instant::now();
        let at = |s: u64| Requester { address: None, at: t0 + Duration::from_secs(s) };
        for _ in 0..crate::credentials::throttle::FREE_ATTEMPTS {
            assert!(matches!(
                registry.authenticate(&with("guess"), at(0), SystemTime::now()).await,
                Err(ClientError::BadSecret)
            ));
        }
        // The right secret is refused too while the block lasts, and says how long.
        let blocked = registry.authenticate(&with("correct horse"), at(0), SystemTime::now()).await;
        assert!(
            matches!(blocked, Err(ClientError::Throttled { retry_after }) if retry_after == Duration::from_secs(1))
        );
        // A second later one attempt is admitted; the right secret passes and is remembered.
        assert!(registry.authenticate(&with("correct horse"), at(1), SystemTime::now()).await.is_ok());
        assert!(registry.authenticate(&with("correct horse"), at(1), SystemTime::now()).await.is_ok());
        assert!(matches!(
            registry.authenticate(&with("other"), at(1), SystemTime::now()).await,
            Err(ClientError::BadSecret)
        ));
    }
}
