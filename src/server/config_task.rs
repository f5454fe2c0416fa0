//! Configuration reload without a restart: on SIGHUP, and when the configuration file changes
//! (file-system events on its directory, which also see a Kubernetes ConfigMap's symlink
//! swap, with polling as a fallback), the whole configuration is read and validated again and
//! the clients, users, grants and token settings are swapped in at once.
//!
//! A configuration that does not validate changes nothing: its problems are logged as
//! `tokenmint config check` prints them, and counted as a failed reload. Settings that cannot
//! change while running (listeners, the issuer, the keys and what their schedule depends on)
//! keep their running values, with a warning that a restart is needed. A client removed or
//! disabled is refused from the next request on; tokens it holds stay valid until they
//! expire, and introspection calls them inactive at once.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::live;
use super::watch::{Hangups, hangup_signals, recv_hangup, watch};
use crate::config::{Config, Fixed};
use crate::credentials::sha256;
use crate::files;
use crate::http::AppState;
use crate::keys::KeyRing;
use crate::metrics::Metrics;

/// Longest time between two looks at the file when no event comes.
const POLL_INTERVAL: Duration = Duration::from_secs(10);

/// Debounce for file-system events: an editor's save or a ConfigMap update arrives as
/// several events.
const SETTLE: Duration = Duration::from_millis(50);

/// What reloading needs.
#[derive(Debug)]
pub(super) struct Reloader {
    /// The configuration file.
    path: PathBuf,
    /// The settings that stay as they were at startup.
    fixed: Fixed,
    state: AppState,
    keys: Arc<KeyRing>,
    metrics: Arc<Metrics>,
    /// SIGHUP, registered when the server is built.
    hangups: Hangups,
    /// SHA-256 of the file's bytes when last loaded.
    loaded: Option<[u8; 32]>,
}

impl Reloader {
    /// A reloader of the configuration file `path`, keeping `fixed` as running. Call inside
    /// the runtime.
    pub(super) fn new(
        path: PathBuf,
        fixed: Fixed,
        state: AppState,
        keys: Arc<KeyRing>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let loaded = read_digest(&path);
        Reloader { path, fixed, state, keys, metrics, hangups: hangup_signals(), loaded }
    }

    /// Reloads when told to, until `shutdown` resolves.
    pub(super) async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let (events_tx, mut events) = mpsc::channel::<()>(1);
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        // Held for the life of the task; dropping it stops the watch. Other files in the
        // directory (logs, say) do not wake it; a ConfigMap's `..data` swap does.
        let name = self.path.file_name().map(ToOwned::to_owned);
        let concerns = move |path: &Path| {
            let file = path.file_name();
            file == name.as_deref() || file.is_some_and(|f| f.to_string_lossy().starts_with(".."))
        };
        let _watcher = watch(dir, "configuration file", concerns, events_tx);
        let mut hangups = self.hangups.take();
        tokio::pin!(shutdown);
        loop {
            let forced = tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(POLL_INTERVAL) => false,
                Some(()) = events.recv() => {
                    tokio::time::sleep(SETTLE).await;
                    while events.try_recv().is_ok() {}
                    false
                }
                Some(()) = recv_hangup(&mut hangups) => {
                    tracing::info!(path = %self.path.display(), "SIGHUP: reloading the configuration");
                    true
                }
            };
            let digest = read_digest(&self.path);
            if forced || digest != self.loaded {
                self.loaded = digest;
                self.reload().await;
            }
        }
    }

    /// Reads, validates and swaps in the configuration; on any problem keeps the running one.
    async fn reload(&self) {
        let path = self.path.clone();
        // File reads and argon2 hash parsing stay off the async workers.
        let loaded = tokio::task::spawn_blocking(move || Config::load(Some(&path))).await;
        let config = match loaded {
            Ok(Ok(config)) => config,
            Ok(Err(e)) => {
                tracing::error!(path = %self.path.display(), "configuration reload refused; the running configuration stays: {e}");
                self.metrics.config_reload(false);
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "configuration reload failed; the running configuration stays");
                self.metrics.config_reload(false);
                return;
            }
        };
        let kept = self.fixed.differences(&config);
        if !kept.is_empty() {
            tracing::warn!(
                settings = kept.join(", "),
                "these settings changed in the configuration file but only take effect after a restart; \
                 they keep their running values"
            );
        }
        let clients = config.clients.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        let issuer = self.fixed.issuer().to_owned();
        let tokens = self.fixed.tokens(&config.tokens);
        let running = self.state.live();
        match live(issuer, tokens, config, Arc::clone(&self.keys), Some(&running)) {
            Ok(live) => {
                self.state.replace(live);
                self.metrics.track_clients(clients.iter().map(String::as_str));
                self.metrics.config_reload(true);
                tracing::info!(clients = clients.len(), "configuration reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "configuration reload failed; the running configuration stays");
                self.metrics.config_reload(false);
            }
        }
    }
}

/// SHA-256 of the file's bytes, following symlinks; `None` if it cannot be read (or is not
/// a configuration file tokenmint would read: see `files`).
fn read_digest(path: &Path) -> Option<[u8; 32]> {
    files::read_bounded(path, files::MAX_CONFIG_FILE).ok().map(|bytes| sha256(&bytes))
}
