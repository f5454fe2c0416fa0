//! `tokenmint keys ...`: the key lifecycle from the command line. Every command works on the
//! key directory of the configuration; running replicas pick changes up by themselves.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::Subcommand;

use crate::config::Config;
use crate::files;
use crate::keys::admin;
use crate::keys::schedule::DatedKey;
use crate::keys::schedule::KeyState;
use crate::keys::store::Created;
use crate::keys::{Algorithm, Deriver, KeyPolicy, KeySource};

/// `tokenmint keys` subcommands.
#[derive(Debug, Subcommand)]
pub(super) enum KeysCommand {
    /// List keys: kid, algorithm, state (pending/signing/retired/expired/revoked), when each
    /// signs and when it leaves the JWKS.
    List,
    /// Create a key. By default it signs after `keys.publish_ahead`.
    Generate {
        /// Algorithm [default: tokens.algorithm].
        #[arg(long, value_name = "ALG")]
        alg: Option<String>,
        /// When it starts signing, from now [default: keys.publish_ahead]. `0s` signs at once:
        /// verifiers that cached the JWKS will fetch it on first sight.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        activate_in: Option<Duration>,
    },
    /// Create the next key when it is due: with `keys.rotate_every`, when the signing key's
    /// period ends within `keys.publish_ahead` (the check automatic rotation makes); with
    /// rotation off, at once, signing after `keys.publish_ahead`. Does nothing if a key is
    /// already pending (safe to run from a scheduler, even twice).
    Rotate,
    /// Import an operator's private key (PEM: PKCS#8, or SEC1 EC / PKCS#1 RSA from openssl).
    Import {
        /// The PEM file.
        file: PathBuf,
        /// When it starts signing, from now [default: keys.publish_ahead].
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        activate_in: Option<Duration>,
    },
    /// Emergency: take a key out of the JWKS and never sign with it again. If it was the
    /// signing key, a replacement that signs at once is created.
    Revoke {
        /// The key id. A `kid` is base64url and may start with `-`: it is taken as the id,
        /// not as an option.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Delete the files of expired and revoked keys.
    Prune,
}

pub(super) fn run(config: Option<PathBuf>, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let config = Config::load(config.as_deref())?;
    let policy = config.key_policy();
    let now = SystemTime::now();
    let store = match config.key_source()? {
        KeySource::Dir(store) => store,
        KeySource::Derived(deriver) => return derived(&deriver, &policy, &command, now),
    };
    // Temporary files a crashed writer left behind hold private keys: gone once stale.
    store.remove_stale_temps(now);
    match command {
        KeysCommand::List => {
            let (rows, errors) = admin::list(&store, &policy, now);
            for e in errors {
                eprintln!("warning: {e}");
            }
            let rows: Vec<(KeyState, DatedKey)> = rows.iter().map(|(s, k)| (*s, k.dated())).collect();
            print_rows(&rows)?;
        }
        KeysCommand::Generate { alg, activate_in } => {
            let alg = match alg {
                Some(a) => a.parse::<Algorithm>()?,
                None => policy.alg,
            };
            let created = admin::generate(&store, alg, now, activate_in.unwrap_or(policy.publish_ahead))?;
            report(&created)?;
        }
        KeysCommand::Rotate => match admin::rotate(&store, &policy, now)? {
            admin::Rotation::Created(created) => report(&created)?,
            admin::Rotation::Pending => outln!("a key is already pending; nothing to do"),
            admin::Rotation::NotDue { due_at, period_end } => outln!(
                "the next key is not due: the signing key's period (keys.rotate_every) ends at {}, and its \
                 successor is created from {} (keys.publish_ahead before); nothing to do. To rotate \
                 earlier, use `tokenmint keys generate`",
                humantime::format_rfc3339_seconds(period_end),
                humantime::format_rfc3339_seconds(due_at)
            ),
        },
        KeysCommand::Import { file, activate_in } => {
            let text = files::read_text_bounded(&file, files::MAX_KEY_FILE)
                .with_context(|| format!("reading {}", file.display()))?;
            let created = admin::import(&store, &text, now, activate_in.unwrap_or(policy.publish_ahead))?;
            report(&created)?;
        }
        KeysCommand::Revoke { kid } => {
            let outcome = admin::revoke(&store, &policy, &kid, now)?;
            outln!("revoked {kid}: it is out of the JWKS and will not sign again");
            if outcome.was_signing && outcome.replacement.is_none() {
                outln!(
                    "it was the signing key; a replacement created at this instant by another writer signs now"
                );
            }
            if let Some(k) = outcome.replacement {
                outln!("it was the signing key; {} ({}) signs from now on", k.kid(), k.alg());
                eprintln!(
                    "warning: verifiers that cached the JWKS will refetch it when they first see the new kid"
                );
            }
        }
        KeysCommand::Prune => {
            let pruned = admin::prune(&store, &policy, now)?;
            if pruned.is_empty() {
                outln!("nothing to prune");
            }
            for key in pruned {
                outln!("deleted {} ({})", key.key.kid(), key.path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `keys.source = "derived"`: `list` shows the derived keys; the other commands have nothing
/// to act on.
fn derived(
    deriver: &Deriver,
    policy: &KeyPolicy,
    command: &KeysCommand,
    now: SystemTime,
) -> anyhow::Result<ExitCode> {
    if let KeysCommand::List = command {
        print_rows(&admin::list_derived(deriver, policy, now)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::bail!(
        "keys.source = \"derived\": every key is derived from the master secret, so there is no key to \
         generate, rotate, import, revoke or prune. To replace every key at once, change the master secret \
         on all replicas (docs/keys.md, \"Derived keys\")"
    )
}

fn report(created: &Created) -> anyhow::Result<()> {
    match created {
        Created::New(k) => outln!(
            "created {} ({}) in {}; it signs from {}",
            k.key.kid(),
            k.key.alg(),
            k.path.display(),
            humantime::format_rfc3339_seconds(k.dates.activate_at)
        ),
        Created::AlreadyThere(path) => {
            outln!("a key for this slot already exists ({}); nothing written", path.display());
        }
    }
    Ok(())
}

fn print_rows(rows: &[(KeyState, DatedKey)]) -> anyhow::Result<()> {
    outln!("{:<44}  {:<5}  {:<8}  {:<20}  UNPUBLISH_AT", "KID", "ALG", "STATE", "ACTIVATE_AT");
    for (state, k) in rows {
        let unpublish = state
            .unpublish_at()
            .map_or_else(|| "-".to_owned(), |t| humantime::format_rfc3339_seconds(t).to_string());
        outln!(
            "{:<44}  {:<5}  {:<8}  {:<20}  {unpublish}",
            k.key.kid(),
            k.key.alg().as_str(),
            state.name(),
            humantime::format_rfc3339_seconds(k.dates.activate_at).to_string()
        );
    }
    Ok(())
}
