//! Keeps the TLS certificate current: reads the certificate and key files again when either
//! changes (file-system events on their directories, which also see a Kubernetes Secret's
//! `..data` symlink swap, with polling as a fallback), and on SIGHUP. Each reload that found
//! changed files is counted in `tokenmint_tls_reloads_total{result}`; a refused pair is
//! logged with its reason and the running one stays.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::tls::{Certificates, Reload};
use super::watch::{Hangups, hangup_signals, recv_hangup, watch};
use crate::metrics::Metrics;

/// Longest time between two looks at the files when no event comes.
const POLL_INTERVAL: Duration = Duration::from_secs(10);

/// Debounce for file-system events: a Secret update or a `cp` arrives as several events,
/// and the key may land a moment after the certificate.
const SETTLE: Duration = Duration::from_millis(100);

/// Runs until `shutdown` resolves.
pub(super) async fn maintain(
    certs: Arc<Certificates>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let (events_tx, mut events) = mpsc::channel::<()>(1);
    let mut watchers = Vec::new();
    let mut dirs: Vec<&Path> = Vec::new();
    for file in [certs.cert_file(), certs.key_file()] {
        let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if dirs.contains(&dir) {
            continue;
        }
        dirs.push(dir);
        let names =
            [certs.cert_file().file_name(), certs.key_file().file_name()].map(|n| n.map(ToOwned::to_owned));
        let concerns = move |path: &Path| {
            let file = path.file_name();
            names.iter().any(|n| n.as_deref() == file)
                || file.is_some_and(|f| f.to_string_lossy().starts_with(".."))
        };
        // Held for the life of the task; dropping one stops its watch.
        watchers.extend(watch(dir, "TLS certificate files", concerns, events_tx.clone()));
    }
    let mut hangups = hangup_signals();
    tokio::pin!(shutdown);
    // The first look is at once: a change between loading the pair and watching its files
    // would otherwise wait for the next poll.
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) && !wait(&mut shutdown, &mut events, &mut hangups).await {
            return;
        }
        let reloading = Arc::clone(&certs);
        // File reads and key parsing stay off the async workers.
        match tokio::task::spawn_blocking(move || reloading.reload()).await {
            Ok(Reload::Unchanged) => {}
            Ok(Reload::Loaded) => {
                metrics.tls_reload(true);
                tracing::info!(cert = %certs.cert_file().display(), "TLS certificate reloaded; new handshakes use it");
            }
            Ok(Reload::Refused(e)) => {
                metrics.tls_reload(false);
                tracing::error!("TLS certificate reload refused; the running certificate stays: {e}");
            }
            Err(e) => {
                metrics.tls_reload(false);
                tracing::error!(error = %e, "TLS certificate reload failed; the running certificate stays");
            }
        }
    }
}

/// Waits for a reason to look at the files again; returns at once if `shutdown` resolved.
async fn wait(
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    events: &mut mpsc::Receiver<()>,
    hangups: &mut Hangups,
) -> bool {
    tokio::select! {
        () = shutdown.as_mut() => false,
        () = tokio::time::sleep(POLL_INTERVAL) => true,
        Some(()) = events.recv() => {
            tokio::time::sleep(SETTLE).await;
            while events.try_recv().is_ok() {}
            true
        }
        Some(()) = recv_hangup(hangups) => {
            tracing::info!("SIGHUP: re-reading the TLS certificate and key");
            true
        }
    }
}
