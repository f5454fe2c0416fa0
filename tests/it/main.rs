//! The single integration-test binary: every test starts the real server on 127.0.0.1:0
//! (in-process, or the `tokenmint` binary itself) and speaks HTTP to it.

// Test code may panic on failure: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod derived;
mod discovery;
mod forge;
mod helpers;
mod interop;
mod interop_libs;
mod jwks;
mod operations;
mod password;
mod resource_server;
mod reuse;
mod rotation;
mod serve;
mod sweep;
mod token_auth;
mod token_errors;
mod token_policy;
mod verify_jwks;
mod verify_lib;
mod verify_remote;
