//! The `tokenmint` binary: parse, run, map errors to exit codes. All behaviour lives in the
//! library.

use std::process::ExitCode;

use clap::Parser as _;
use tokenmint::cli::{self, Cli, EXIT_BROKEN_PIPE, EXIT_CONFIG, StdoutClosed};
use tokenmint::config::ConfigError;

/// jemalloc instead of the platform's malloc: cheaper per request here (BENCHMARKS.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    match cli::run(Cli::parse()) {
        Ok(code) => code,
        // The reader went away (`| head`): nothing left to say, and nowhere to say it.
        Err(err) if err.is::<StdoutClosed>() => ExitCode::from(EXIT_BROKEN_PIPE),
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.is::<ConfigError>() { ExitCode::from(EXIT_CONFIG) } else { ExitCode::FAILURE }
        }
    }
}
