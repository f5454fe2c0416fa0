//! tokenmint: a small, fast, stateless OAuth 2.0 token service.
//!
//! Machine clients authenticate at `POST /oauth2/token` with their client credentials
//! (RFC 6749 §4.4) and receive short-lived JWT access tokens (RFC 9068). Resource servers
//! verify those tokens offline with the keys published at `/.well-known/jwks.json`.
//!
//! # Layout
//!
//! The dependency arrows point one way:
//! `cli → server → http → token → {keys, clients, claims, clock}` and
//! `config → {keys, clients, token}` (for their settings types only).
//!
//! - [`claims`]: the RFC 9068 access-token claims, shared by issuing and verifying.
//! - [`verify`]: offline verification for resource servers (a library; no server inside).
//! - `clock`: time as an injected value; everything below the HTTP layer takes `now`.
//! - `clients`: the client registry and client authentication (secret hashes).
//! - `users`: the password grant's users and password checks.
//! - `throttle`: brute-force backoff per name and per address, for user passwords and
//!   argon2 client secrets. Pure: takes `now`.
//! - `keys`: signing keys: the key store on disk (or keys derived from a master secret), the
//!   in-memory key ring, the JWKS.
//! - `token`: the issuing policy: grant, scope, audience and lifetime decisions, then signing.
//! - `http`: the thin axum edge: extractors, handlers, OAuth error responses.
//! - [`config`]: figment layering (defaults, TOML, `TOKENMINT_*`) and validation.
//! - [`server`]: binds a listener and serves until a shutdown future resolves.
//! - [`cli`]: the `tokenmint` command line.
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
mod http;
#[cfg(feature = "server")]
mod keys;
#[cfg(feature = "server")]
mod oauth;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
mod telemetry;
#[cfg(feature = "server")]
mod token;
#[cfg(feature = "server")]
mod users;
