//! Hooks for the criterion benchmarks (feature `bench`): the issuance path without HTTP.
//!
//! Not a stable API: it exists so `benches/issuance.rs` can time client authentication,
//! claim building and signing exactly as the token endpoint runs them.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Instant, SystemTime};

use crate::clients::{AuthMethod, ClientCredentials, Proof, Registry};
use crate::config::Config;
use crate::credentials::{Argon2Pool, Requester, Secret, SecretHash};
use crate::keys::{KeyRing, KeySource, KeyStore};
use crate::token::{Issuer, TokenRequest};
use crate::users::Users;

/// The client id and secret of the SHA-256 client.
pub const SHA256_CLIENT: (&str, &str) = ("bench", "bench-secret-0123456789abcdef0123456789");
/// The client id and secret of the argon2id client.
pub const ARGON2_CLIENT: (&str, &str) = ("bench-argon", "correct horse battery staple");

/// The token endpoint's work for one request, minus HTTP.
#[derive(Debug)]
pub struct IssuancePath {
    registry: Registry,
    issuer: Issuer,
    ring: Arc<KeyRing>,
    dir: std::path::PathBuf,
}

impl IssuancePath {
    /// A service signing with `alg` (`ES256`, `EdDSA` or `RS256`), keys in a temp directory.
    pub fn new(alg: &str) -> Self {
        let sha = SecretHash::sha256_of(&Secret::new(SHA256_CLIENT.1.to_owned()));
        let argon = SecretHash::argon2id_of(&Secret::new(ARGON2_CLIENT.1.to_owned())).expect("argon2 hash");
        let toml = format!(
            "[tokens]\nalgorithm = \"{alg}\"\n\
             [[clients]]\nid = \"{}\"\nsecret_hashes = [\"{sha}\"]\nscopes = [\"invoices:read\", \"invoices:write\"]\n\
             default_scopes = [\"invoices:read\"]\naudiences = [\"https://billing.example.com\"]\nclaims = {{ tenant = \"acme\" }}\n\
             [[clients]]\nid = \"{}\"\nsecret_hashes = [\"{argon}\"]\naudiences = [\"https://billing.example.com\"]\n",
            SHA256_CLIENT.0, ARGON2_CLIENT.0
        );
        let mut config = Config::from_toml(&toml).expect("bench config");
        let dir = std::env::temp_dir().join(format!("tokenmint-bench-{}-{alg}", std::process::id()));
        config.set_keys_dir(&dir);
        let ring = KeyRing::open(KeySource::Dir(KeyStore::new(&dir)), config.key_policy(), SystemTime::now())
            .expect("keys");
        let ring = Arc::new(ring);
        let assertions = crate::server::assertions(&config.issuer, &config.tokens, Vec::new());
        let registry = Registry::new(std::mem::take(&mut config.clients), assertions).expect("clients");
        let users = Users::new(Vec::new());
        let issuer = Issuer::new(
            config.issuer.clone(),
            config.tokens.clone(),
            config.enabled_grants.clone(),
            Arc::clone(&ring),
            users,
        );
        IssuancePath { registry, issuer, ring, dir }
    }

    /// Authenticates the SHA-256 client, decides and signs a token: the whole path.
    pub fn issue(&self) -> String {
        let (id, secret) = SHA256_CLIENT;
        let client =
            ready(self.registry.authenticate(&credentials(id, secret), requester(), SystemTime::now()))
                .expect("authenticated");
        let req = TokenRequest {
            grant_type: "client_credentials",
            scope: Some("invoices:read invoices:write"),
            ..TokenRequest::default()
        };
        let issued = ready(self.issuer.issue(&client, &req, &self.registry, requester(), SystemTime::now()));
        issued.expect("issued").access_token
    }

    /// Authenticates `client` with `secret` (argon2 checks need a tokio runtime). Past five
    /// wrong argon2 secrets, the brute-force throttle answers without checking.
    pub async fn authenticate(&self, client: &str, secret: &str) -> bool {
        self.registry.authenticate(&credentials(client, secret), requester(), SystemTime::now()).await.is_ok()
    }

    /// Checks `secret` against the argon2id client's hash as an uncached miss does, without
    /// the throttle: what each wrong guess the throttle admits costs.
    pub async fn argon2_miss(&self, secret: &str) -> bool {
        let client = self.registry.get(ARGON2_CLIENT.0);
        let Some(phc) = client.as_ref().and_then(|c| c.secret_hashes.iter().find_map(|h| h.argon2id_phc()))
        else {
            return false;
        };
        Argon2Pool::new(1).verify(phc, &Secret::new(secret.to_owned())).await
    }

    /// The JWKS of this service, for verifying what it issued.
    pub fn jwks(&self) -> Vec<u8> {
        self.ring.current().jwks.bytes.to_vec()
    }
}

impl Drop for IssuancePath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A client id and a secret, as a request presents them.
fn credentials(client_id: &str, secret: &str) -> ClientCredentials {
    ClientCredentials {
        client_id: client_id.to_owned(),
        proof: Proof::Secret { secret: Secret::new(secret.to_owned()), method: AuthMethod::SecretBasic },
    }
}

/// A request from nowhere in particular, now.
fn requester() -> Requester {
    Requester { address: None, at: Instant::now() }
}

/// Polls a future that does not wait (SHA-256 authentication, client credentials) to
/// completion.
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("SHA-256 authentication and client credentials never wait"),
    }
}

/// For the fuzz targets (`fuzz/`): parses `text` as a key file would be (TOML metadata, then
/// a PEM block); whether it holds a usable key. Never panics, whatever the text.
pub fn parse_key_file(text: &str) -> bool {
    crate::keys::store::parse_key_file(std::path::Path::new("fuzz.pem"), text).is_ok()
}
