//! The `tokenmint` command line. The top of the dependency graph: nothing imports it.

/// `println!` for command output, through [`out`], returning from the command on a write
/// error: a closed standard output (`| head`) ends the command with [`StdoutClosed`]
/// instead of a panic.
macro_rules! outln {
    () => {
        $crate::cli::out(format_args!(""))?
    };
    ($($arg:tt)*) => {
        $crate::cli::out(format_args!($($arg)*))?
    };
}

mod keys;
mod verify;
mod verify_server;

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::config::Config;
use crate::credentials::{Secret, SecretHash};
use crate::server::{self, Server, shutdown_signal};
use crate::telemetry::{self, LogFormat};

/// Exit code for a configuration error (sysexits.h `EX_USAGE`).
pub const EXIT_CONFIG: u8 = 64;

/// Exit code when standard output closed before a command finished writing (its reader, such
/// as `head`, went away): 128 + SIGPIPE, what a Unix tool killed by that signal reports.
pub const EXIT_BROKEN_PIPE: u8 = 141;

/// Standard output closed before a command finished writing: its reader (such as `head`)
/// went away. `main` ends quietly with [`EXIT_BROKEN_PIPE`], as a Unix tool killed by
/// SIGPIPE would.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct StdoutClosed;

/// Writes one line of command output to standard output. A reader that has gone away is
/// [`StdoutClosed`]; any other write error is reported as such. (`println!` would panic.)
pub(crate) fn out(line: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(line).and_then(|()| stdout.write_all(b"\n")).and_then(|()| stdout.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// tokenmint: a small, fast, stateless OAuth 2.0 token service.
#[derive(Debug, Parser)]
#[command(name = "tokenmint", version, about)]
pub struct Cli {
    /// Configuration file [default: config/tokenmint.toml if it exists].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the token service.
    Serve {
        /// Listen address, overriding `server.bind`.
        #[arg(long, value_name = "ADDR")]
        bind: Option<SocketAddr>,
    },
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Client tools.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Signing-key lifecycle: list, generate, rotate, import, revoke, prune.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Hash a user's password read from standard input (argon2id), for `password_hash`.
    HashPassword,
    /// Verify a token: print its claims (exit 0) or why it is invalid (exit 1).
    Verify(verify::VerifyArgs),
    /// Print a token's header and claims WITHOUT verifying it.
    Decode(verify::DecodeArgs),
    /// Serve the verifier to reverse proxies (nginx auth_request, Envoy ext_authz): 200 with
    /// the token's subject as headers, 401 or 403 otherwise.
    VerifyServer(verify_server::VerifyServerArgs),
    /// Hash a client secret read from standard input, for `secret_hashes`.
    HashSecret {
        /// Use argon2id (for human-chosen secrets) instead of SHA-256 (for generated ones).
        #[arg(long)]
        argon2: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration; print every error and exit 64 if it is invalid.
    Check,
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Generate a client with a new 256-bit secret and print its TOML block.
    Add(AddClient),
}

#[derive(Debug, Args)]
struct AddClient {
    /// The client_id.
    id: String,
    /// A scope the client may be granted (repeatable).
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
    /// An audience the client may ask for; the first is the default (repeatable). Without
    /// one, the client's id is its audience (RFC 9068 §3 needs a default `aud`).
    #[arg(long = "audience", value_name = "A")]
    audiences: Vec<String>,
}

/// Runs a parsed command line. Errors that come from configuration are
/// [`crate::config::ConfigError`], which `main` turns into exit code [`EXIT_CONFIG`]; a
/// closed standard output is [`StdoutClosed`] ([`EXIT_BROKEN_PIPE`]).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Held until the command ends, so every log line is written out.
    let _log = telemetry::init(cli.log_format).context("starting the log writer thread")?;
    match cli.command {
        Command::Serve { bind } => serve(cli.config, bind),
        Command::Config(ConfigCommand::Check) => {
            let config = Config::load(cli.config.as_deref())?;
            outln!("configuration OK: {}", config.summary());
            for warning in config.warnings() {
                outln!("warning: {warning}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Clients(ClientsCommand::Add(add)) => add_client(add),
        Command::Keys(command) => keys::run(cli.config, command),
        Command::HashSecret { argon2 } => hash_secret(argon2),
        Command::HashPassword => hash_secret(true),
        Command::Verify(args) => verify::verify(args),
        Command::Decode(args) => verify::decode(args),
        Command::VerifyServer(args) => verify_server::run(cli.config.as_deref(), args),
    }
}

fn serve(config_path: Option<PathBuf>, bind: Option<SocketAddr>) -> anyhow::Result<ExitCode> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async { server::catch_hangups() });
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "tokenmint starting");
    let mut config = Config::load(config_path.as_deref())?;
    if let Some(addr) = bind {
        config.set_bind_addr(addr);
    }
    tracing::info!("{}", config.summary());
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    runtime.block_on(async {
        let server = Server::bind(config).await?;
        let addr = server.local_addr()?;
        let scheme = if server.is_tls() { "https" } else { "http" };
        tracing::info!(%addr, "tokenmint listening on {scheme}://{addr}");
        if let Some(metrics) = server.metrics_addr() {
            tracing::info!(addr = %metrics, "metrics on http://{metrics}/metrics");
        }
        server.run(shutdown_signal()).await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// The `[[clients]]` block printed by `clients add`.
#[derive(Serialize)]
struct ClientBlock<'a> {
    clients: [ClientEntry<'a>; 1],
}

#[derive(Serialize)]
struct ClientEntry<'a> {
    id: &'a str,
    secret_hashes: [String; 1],
    grant_types: [&'static str; 1],
    scopes: &'a [String],
    audiences: &'a [String],
}

fn add_client(mut add: AddClient) -> anyhow::Result<ExitCode> {
    if add.audiences.is_empty() {
        eprintln!(
            "note: no --audience given; the client's tokens will carry aud = \"{}\". \
             Edit `audiences` to name the resource servers it calls.",
            add.id
        );
        add.audiences.push(add.id.clone());
    }
    let secret = Secret::generate()?;
    let block = ClientBlock {
        clients: [ClientEntry {
            id: &add.id,
            secret_hashes: [SecretHash::sha256_of(&secret)],
            grant_types: ["client_credentials"],
            scopes: &add.scopes,
            audiences: &add.audiences,
        }],
    };
    let toml = toml::to_string(&block).context("formatting the client block")?;
    // The block must pass the same validation the server applies.
    Config::from_toml(&toml)?;
    eprintln!("The client secret is shown once. Store it now; tokenmint keeps only its hash.");
    outln!("client_id = {}", add.id);
    outln!("client_secret = {}", secret.expose_str());
    outln!();
    outln!("# Add to the configuration file:");
    // Through `outln!` like every line above, so a closed pipe ends quietly here too.
    outln!("{}", toml.strip_suffix('\n').unwrap_or(&toml));
    Ok(ExitCode::SUCCESS)
}

fn hash_secret(argon2: bool) -> anyhow::Result<ExitCode> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("reading the secret from standard input")?;
    let secret = input.strip_suffix('\n').map_or(input.as_str(), |s| s.strip_suffix('\r').unwrap_or(s));
    if secret.is_empty() {
        bail!("no secret on standard input");
    }
    let secret = Secret::new(secret.to_owned());
    if argon2 {
        outln!("{}", SecretHash::argon2id_of(&secret)?);
    } else {
        if secret.expose().len() < 32 {
            eprintln!(
                "warning: this secret is short; sha256 hashes suit generated high-entropy secrets. \
                 Use `--argon2` for a human-chosen one, or `tokenmint clients add` to generate one."
            );
        }
        outln!("{}", SecretHash::sha256_of(&secret));
    }
    Ok(ExitCode::SUCCESS)
}
