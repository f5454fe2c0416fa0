//! Keeps the key ring current: re-reads the key directory when it changes (file-system
//! events, with polling as a fallback), on SIGHUP, and whenever the schedule says a key
//! activates or retires. Creates the next key when automatic rotation is on. Each check is
//! counted in `tokenmint_key_reloads_total`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::watch::{Hangups, hangup_signals, recv_hangup, watch};
use crate::clock::Clock;
use crate::keys::KeyRing;
use crate::metrics::Metrics;

/// Debounce for file-system events: a key written by rename arrives as several events.
const SETTLE: Duration = Duration::from_millis(50);

/// What the maintenance task needs besides the ring.
#[derive(Debug)]
pub(crate) struct Maintenance {
    /// Upper bound between two directory checks.
    pub(crate) poll_interval: Duration,
    /// Whether this process creates rotation keys.
    pub(crate) auto_rotate: bool,
    /// SIGHUP, registered as soon as the server is built: before that, SIGHUP's default
    /// action would end the process.
    pub(crate) hangups: Hangups,
    /// Where each re-read is counted.
    pub(crate) metrics: Arc<Metrics>,
}

impl Maintenance {
    /// Settings plus the SIGHUP registration. Call inside the runtime.
    pub(crate) fn new(poll_interval: Duration, auto_rotate: bool, metrics: Arc<Metrics>) -> Self {
        Maintenance { poll_interval, auto_rotate, hangups: hangup_signals(), metrics }
    }
}

/// Runs until `shutdown` resolves.
pub(crate) async fn maintain(
    ring: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    settings: Maintenance,
    shutdown: impl Future<Output = ()>,
) {
    let (events_tx, mut events) = mpsc::channel::<()>(1);
    // Held for the life of the task; dropping it stops the watch.
    // Derived keys have no directory to watch.
    let _watcher = ring.key_dir().and_then(|dir| watch(dir, "key directory", |_| true, events_tx));
    let mut settings = settings;
    let mut hangups = settings.hangups.take();
    // A failed rotation is logged once and retried no sooner than `poll_interval`: each
    // attempt's own temporary file wakes the watch, which would otherwise retry (and log) in
    // a loop for as long as the disk stays full.
    let mut rotation_failing = false;
    let mut retry_rotation_at = tokio::time::Instant::now();
    tokio::pin!(shutdown);
    loop {
        let now = clock.now();
        let until_change = ring
            .next_wake()
            .and_then(|t| t.duration_since(now).ok())
            .map_or(settings.poll_interval, |d| d.min(settings.poll_interval));
        let mut forced = false;
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(until_change) => {}
            Some(()) = events.recv() => {
                tokio::time::sleep(SETTLE).await;
                while events.try_recv().is_ok() {}
            }
            Some(()) = recv_hangup(&mut hangups) => {
                match ring.key_dir() {
                    Some(_) => tracing::info!("SIGHUP: re-reading the key directory"),
                    None => tracing::info!("SIGHUP: re-deriving the keys (the master secret is read only at startup)"),
                }
                forced = true;
            }
        }
        let rotate = settings.auto_rotate && tokio::time::Instant::now() >= retry_rotation_at;
        let (ring, clock) = (Arc::clone(&ring), Arc::clone(&clock));
        let metrics = Arc::clone(&settings.metrics);
        // File reads and key generation stay off the async workers.
        let step = tokio::task::spawn_blocking(move || {
            let now = clock.now();
            let rotation = rotate.then(|| ring.rotate_if_due(now));
            // A failed refresh keeps the previous set and has logged why.
            metrics.key_reload(ring.refresh(now, forced).is_ok());
            rotation
        });
        match step.await {
            Ok(Some(Err(e))) => {
                if !rotation_failing {
                    tracing::error!(error = %e, "automatic rotation failed; the current keys go on signing, retrying every keys.poll_interval");
                }
                rotation_failing = true;
                retry_rotation_at = tokio::time::Instant::now() + settings.poll_interval;
            }
            Ok(Some(Ok(_))) => rotation_failing = false,
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "key maintenance step failed"),
        }
    }
}
