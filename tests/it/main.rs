//! The single integration-test binary. The `inprocess_*` modules drive the application's
//! router in-process (`tokenmint::server::router` with `tower::ServiceExt::oneshot`, no
//! socket): the HTTP edge's answers, headers and parameter rules. The other modules start
//! the real server on 127.0.0.1:0 (in the test process, or the `tokenmint` binary itself) and
//! speak HTTP to it, for what needs the transport: timeouts, connection limits, shutdown,
//! the binary, throttling by address, key maintenance, and clients that fetch over HTTP.

// Test code may panic on failure: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod cluster;
mod derived;
mod faults;
mod federation;
mod foreign;
mod forge;
mod framing;
mod h2;
mod helpers;
mod image;
mod inprocess_assertion;
mod inprocess_discovery;
mod inprocess_errors;
mod inprocess_exchange;
mod inprocess_introspect;
mod inprocess_jwks;
mod inprocess_params;
mod inprocess_password;
mod inprocess_reuse;
mod inprocess_sweep;
mod inprocess_token_auth;
mod inprocess_token_errors;
mod inprocess_token_policy;
mod interop;
mod interop_libs;
mod kubernetes;
mod operations;
mod password;
mod resource_server;
mod reuse;
mod rotation;
mod serve;
mod tls;
mod token_auth;
mod verify_cache;
mod verify_jwks;
mod verify_lib;
mod verify_remote;
mod verify_server;
