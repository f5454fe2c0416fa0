//! `tokenmint verify` and `tokenmint decode`: check a token from a script or a terminal.
//!
//! Exit codes of `verify`: 0 valid, 1 invalid (the reason on stderr), 2 usage error.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::files;
use crate::verify::{Algorithm, ErrorKind, Jwks, RemoteOptions, Requirements, Verifier};

/// Exit code for an invalid token.
const EXIT_INVALID: u8 = 1;
/// Exit code for a usage error (as clap uses for bad arguments).
const EXIT_USAGE: u8 = 2;

/// Arguments of `tokenmint verify`.
#[derive(Debug, Args)]
pub(super) struct VerifyArgs {
    /// The issuer: `iss` must equal it; without --jwks, its metadata gives the JWKS.
    #[arg(long, value_name = "URL", required_unless_present = "jwks")]
    issuer: Option<String>,
    /// A JWKS file to verify against instead of fetching the issuer's.
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
    /// The audience `aud` must contain.
    #[arg(long, value_name = "A")]
    audience: String,
    /// Accepted algorithm (repeatable) [default: ES256, EdDSA and RS256].
    #[arg(long = "algorithm", value_name = "ALG")]
    algorithms: Vec<String>,
    /// Fetch the issuer's metadata and keys over plain http from a host other than loopback
    /// (anyone on the network path could swap the keys).
    #[arg(long)]
    allow_http: bool,
    /// Clock-skew allowance.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    leeway: Duration,
    /// Longest token lifetime (`exp - iat`) accepted; a token that lives longer is invalid.
    #[arg(long, value_name = "DURATION", default_value = "1day", value_parser = humantime::parse_duration)]
    max_lifetime: Duration,
    /// The token, or `-` to read it from standard input.
    token: String,
}

/// Arguments of `tokenmint decode`.
#[derive(Debug, Args)]
pub(super) struct DecodeArgs {
    /// The token, or `-` to read it from standard input.
    token: String,
}

pub(super) fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let token = read_token(&args.token)?;
    let algorithms = match parse_algorithms(&args.algorithms) {
        Ok(a) => a,
        Err(bad) => {
            eprintln!("error: unsupported algorithm `{bad}` (use ES256, EdDSA or RS256)");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let requirements = Requirements {
        issuer: args.issuer.clone().unwrap_or_default(),
        audience: args.audience,
        algorithms,
        leeway: args.leeway,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let usage = |message: String| {
        eprintln!("error: {message}");
        Ok(ExitCode::from(EXIT_USAGE))
    };
    let verifier = match &args.jwks {
        Some(path) => {
            let jwks = match files::read_bounded(path, files::MAX_JWKS_FILE) {
                Ok(bytes) => Jwks::from_json(&bytes),
                Err(e) => return usage(format!("cannot read {}: {e}", path.display())),
            };
            let jwks = match jwks {
                Ok(jwks) => jwks,
                Err(e) => return usage(format!("{}: {e}", path.display())),
            };
            let verifier = if args.issuer.is_none() {
                eprintln!("warning: `iss` is not checked; pass --issuer to check it");
                Verifier::without_issuer_check(requirements, jwks)
            } else {
                Verifier::new(requirements, jwks)
            };
            match verifier {
                Ok(v) => v,
                Err(e) => return usage(e.to_string()),
            }
        }
        None => {
            let options = RemoteOptions { allow_http: args.allow_http, ..RemoteOptions::default() };
            match runtime.block_on(Verifier::discover_with(requirements, options)) {
                Ok(v) => v,
                // A verifier that cannot be set up is the caller's mistake, not the token's.
                Err(e) if e.kind() == ErrorKind::Configuration => return usage(e.to_string()),
                Err(e) => {
                    eprintln!("invalid: cannot get the issuer's keys: {e}");
                    return Ok(ExitCode::from(EXIT_INVALID));
                }
            }
        }
    };
    let verifier = verifier.with_max_lifetime(args.max_lifetime);
    match runtime.block_on(verifier.verify(&token)) {
        Ok(claims) => {
            outln!("{}", serde_json::to_string_pretty(&claims)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("invalid: {e}");
            Ok(ExitCode::from(EXIT_INVALID))
        }
    }
}

pub(super) fn decode(args: DecodeArgs) -> anyhow::Result<ExitCode> {
    let token = read_token(&args.token)?;
    let decoded = jsonwebtoken::decode_header(&token).and_then(|h| {
        jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(&token).map(|c| (h, c))
    });
    match decoded {
        Ok((header, claims)) => {
            eprintln!("NOT VERIFIED: this shows what the token says, not whether it is genuine.");
            let out = serde_json::json!({ "header": header, "claims": claims });
            outln!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("not a decodable JWT: {e}");
            Ok(ExitCode::from(EXIT_INVALID))
        }
    }
}

/// The algorithms named on a command line (ES256, EdDSA, RS256); all three when none is.
pub(super) fn parse_algorithms(names: &[String]) -> Result<Vec<Algorithm>, String> {
    if names.is_empty() {
        return Ok(vec![Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256]);
    }
    names
        .iter()
        .map(|n| match n.as_str() {
            "ES256" => Ok(Algorithm::ES256),
            "EdDSA" => Ok(Algorithm::EdDSA),
            "RS256" => Ok(Algorithm::RS256),
            other => Err(other.to_owned()),
        })
        .collect()
}

/// The token argument, or standard input for `-`, trimmed.
fn read_token(arg: &str) -> anyhow::Result<String> {
    if arg != "-" {
        return Ok(arg.trim().to_owned());
    }
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("reading the token from standard input")?;
    Ok(input.trim().to_owned())
}
