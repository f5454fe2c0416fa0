//! tokenmint: a small, fast, stateless OAuth 2.0 token service.
//!
//! Machine clients authenticate at `POST /oauth2/token` with their client credentials
//! (RFC 6749 §4.4) and receive short-lived JWT access tokens (RFC 9068). Resource servers
//! verify those tokens offline with the keys published at `/.well-known/jwks.json`.
//!
//! # Layout
//!
//! One file owns each concept; the dependency arrows point one way:
//!
//! ```text
//! cli → server → http → token → {keys, clients, users, verify} → {credentials, oauth, claims, clock}
//! clients → verify (foreign JWTs, remote JWKS)
//! server → config → the settings types of {clients, users, keys, token}
//! {server, http} → metrics → keys
//! ```
//!
//! Leaves (import nothing else of the crate, or only other leaves):
//! - [`claims`]: the RFC 9068 access-token claims, shared by issuing and verifying.
//! - [`clock`]: time as an injected value; everything below the HTTP edge takes `now`.
//! - `oauth`: grant types and the RFC 6749 / RFC 8707 grammar (scope tokens, NQCHAR,
//!   resource URIs).
//! - `files`: reading the files an operator names (regular files only, of bounded size).
//! - `text`: which strings are written between quotes unchanged (by `Debug` and JSON).
//! - `credentials`: presented secrets and stored hashes (`secret`), argon2id on the blocking
//!   pool (`argon2`), the brute-force throttle (`throttle`), the requester a check counts.
//!
//! The domain (no HTTP, no figment):
//! - `clients`: a client (`mod.rs`), its settings and their checks (`settings`), the registry
//!   (`registry`), client authentication (`auth`: every authentication method is a `Proof`
//!   checked there; `assertion`: what `private_key_jwt` assertions and federated identity
//!   tokens must say; `replay`: their single-use rule; `keys`: where their public keys come
//!   from), workload identity federation (`federation`: trusted issuers, federated
//!   identities), and per-client rate limits (`rate`).
//! - `users`: the password grant's users (`mod.rs`: registry and password checks) and their
//!   settings (`settings`).
//! - `keys`: signing keys. `schedule` (pure: dates, the rotation policy, which key signs,
//!   when the next is due), `keyset` (pure: the set at an instant, its JWKS), `ring` (the live
//!   set, swapped atomically), `source` (the directory or derivation, bootstrapping),
//!   `store` (every file access), `settings` (`[keys]` and the rotation invariants),
//!   `derive`, `signing`, `jwks`, `admin` (the `tokenmint keys` operations).
//! - `token`: the issuing policy. `Issuer::issue` dispatches every grant (client credentials
//!   in `mod.rs`, password and refresh in `user`, token exchange in `exchange`); `policy`
//!   (scopes and audiences), `reuse`,
//!   `claims`, `jti`, `settings` (`[tokens]`); introspection's answer.
//! - [`verify`]: offline verification for resource servers (a library; no server inside).
//!   Its `Checks` is what both resource servers and `token` check signed tokens with;
//!   `compact` (a token split once, keys parsed once), `cache` (the verified-token cache),
//!   `foreign` (JWTs of other signers: client assertions, identity tokens).
//!
//! The edges:
//! - `http`: the thin axum edge. `credentials` and `params` read a request, one handler per
//!   endpoint (`token`, `introspect`, `wellknown`), `token_response` (the token endpoint's
//!   success body), `error` maps domain errors to OAuth answers (the only place that picks
//!   status codes), `limits`, `forwarded`.
//! - [`config`]: `layers` (defaults, TOML, `TOKENMINT_*`), `raw`, `validate` (every check,
//!   once), `error`.
//! - [`server`]: binds and runs: `accept` (the accept loop), `conn` (one connection: TLS
//!   handshake, HTTP/1.1 or HTTP/2), `tls` (`[server.tls]`: the certificate for new
//!   handshakes) and `tls_task` (its reload), `keys_task` (file-system events, polling,
//!   SIGHUP, the schedule's instants, automatic rotation), `config_task` (configuration
//!   reload), `metrics` (the `/metrics` listener's route), `watch`.
//! - `metrics`: the Prometheus series, recorded by `http` and `server`, read from the key
//!   ring (`keys`) and `/proc` (`process`) at scrape.
//! - [`cli`]: the `tokenmint` command line (`verify_server`: the verifier for reverse
//!   proxies); `telemetry`: log output.
//!
//! # Crypto backend
//!
//! Signing, verification, key generation and randomness all come from `aws-lc-rs`, the
//! backend behind jsonwebtoken's `aws_lc_rs` feature. BENCHMARKS.md records the
//! measurement that decided between it and `ring`.
#![forbid(unsafe_code)]

#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench;
pub mod claims;
pub mod verify;

#[cfg(feature = "server")]
pub mod cli;
#[cfg(feature = "server")]
mod clients;
#[cfg(feature = "server")]
pub mod clock;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
mod credentials;
#[cfg(feature = "server")]
mod files;
#[cfg(feature = "server")]
mod http;
#[cfg(feature = "server")]
mod keys;
#[cfg(feature = "server")]
mod metrics;
#[cfg(feature = "server")]
mod oauth;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
mod telemetry;
#[cfg(feature = "server")]
mod text;
#[cfg(feature = "server")]
mod token;
#[cfg(feature = "server")]
mod users;
