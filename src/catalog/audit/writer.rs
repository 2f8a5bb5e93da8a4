//! [`Auditor`]: records audit events without ever making a call wait.
//!
//! [`Auditor::record`] puts an event on a bounded queue (`audit.queue`) and
//! returns; when the queue is full the event is dropped, counted in
//! `manifold_audit_events_total{result="dropped"}` and warned about at most
//! once a minute. One writer task takes up to `audit.batch` events at a
//! time and inserts them with one statement; a failed insert is counted
//! (`result="failed"`) and logged, and the writer goes on. Every hour (and
//! at start) events older than `audit.retention_days` are deleted. At
//! shutdown, [`Auditor::close`] writes what is queued before returning.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::AuditEvent;
use crate::catalog::Catalog;
use crate::config::AuditSettings;

/// How often old events are deleted.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// At most one "dropped" warning this often.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// Live listeners (GraphQL `auditEventAdded`) may fall this far behind.
const LIVE_CAPACITY: usize = 1024;
/// The longest [`Auditor::close`] waits for the queue to be written.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);
/// How long the writer lets events gather after the first of a batch, so
/// that a steady trickle of calls is written one insert per batch rather
/// than one insert per call (live listeners are told at once regardless).
const GATHER_FOR: Duration = Duration::from_millis(100);

/// Records audit events (clone freely; clones share the queue). A disabled
/// auditor (`audit.enabled = false`) records nothing.
#[derive(Clone)]
pub struct Auditor {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    queue: mpsc::Sender<AuditEvent>,
    live: broadcast::Sender<Arc<AuditEvent>>,
    record_arguments: bool,
    log: bool,
    dropped: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
    stop: CancellationToken,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Auditor {
    /// An auditor that records nothing.
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// Starts the writer into `store` as `settings` say (a disabled auditor
    /// when `audit.enabled` is false). It stops at [`Auditor::close`].
    pub fn start(store: Catalog, settings: &AuditSettings) -> Self {
        if !settings.enabled {
            return Self::disabled();
        }
        let (queue, received) = mpsc::channel(settings.queue);
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        let stop = CancellationToken::new();
        let writer = Writer {
            store,
            batch: settings.batch,
            retention: chrono::Duration::days(i64::from(settings.retention_days)),
        };
        let handle = tokio::spawn(writer.run(received, stop.clone()));
        Self {
            inner: Some(Arc::new(Inner {
                queue,
                live,
                record_arguments: settings.record_arguments,
                log: settings.log,
                dropped: AtomicU64::new(0),
                last_warning: Mutex::new(None),
                stop,
                writer: Mutex::new(Some(handle)),
            })),
        }
    }

    /// Whether events are recorded at all (callers skip building them when not).
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether events keep the (redacted) arguments of calls.
    pub fn record_arguments(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.record_arguments)
    }

    /// Queues `event` for writing and tells live listeners; never waits.
    pub fn record(&self, event: AuditEvent) {
        let Some(inner) = &self.inner else {
            return;
        };
        if inner.log {
            match serde_json::to_string(&event) {
                Ok(line) => tracing::info!(target: "manifold::audit", "{line}"),
                Err(err) => tracing::warn!(error = %err, "cannot write an audit event to the log"),
            }
        }
        if inner.live.receiver_count() > 0 {
            // No listener is not an error.
            let _ = inner.live.send(Arc::new(event.clone()));
        }
        if inner.queue.try_send(event).is_err() {
            inner.dropped();
        }
    }

    /// Every event recorded from now on in this process.
    pub fn subscribe(&self) -> Option<broadcast::Receiver<Arc<AuditEvent>>> {
        self.inner.as_ref().map(|inner| inner.live.subscribe())
    }

    /// How many live listeners (`auditEventAdded` subscriptions) there are.
    pub fn listeners(&self) -> usize {
        self.inner
            .as_ref()
            .map_or(0, |inner| inner.live.receiver_count())
    }

    /// Events dropped because the queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |inner| inner.dropped.load(Ordering::Relaxed))
    }

    /// Stops taking events and writes the queued ones (for at most 10 s).
    pub async fn close(&self) {
        let Some(inner) = &self.inner else {
            return;
        };
        inner.stop.cancel();
        let handle = inner
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(handle) = handle
            && tokio::time::timeout(CLOSE_WITHIN, handle).await.is_err()
        {
            tracing::warn!(
                "audit events still queued at shutdown were not all written within {} s",
                CLOSE_WITHIN.as_secs()
            );
        }
    }
}

impl Inner {
    fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        crate::metrics::audit_events("dropped", 1);
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                dropped_so_far = self.dropped.load(Ordering::Relaxed),
                "audit events are being dropped: the writer cannot keep up with the catalog \
                 database (audit.queue is full); calls go on unslowed"
            );
        }
    }
}

/// The task that writes queued events and deletes old ones.
struct Writer {
    store: Catalog,
    batch: usize,
    retention: chrono::Duration,
}

impl Writer {
    async fn run(self, mut received: mpsc::Receiver<AuditEvent>, stop: CancellationToken) {
        let mut retention = tokio::time::interval(RETENTION_EVERY);
        retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(self.batch);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                n = received.recv_many(&mut batch, self.batch) => {
                    if n == 0 {
                        break;
                    }
                    self.gather(&mut received, &mut batch, &stop).await;
                }
                _ = retention.tick() => self.expire().await,
            }
        }
        // Shutdown: write what is already queued, then stop.
        received.close();
        while received.recv_many(&mut batch, self.batch).await > 0 {
            self.write(&mut batch).await;
        }
    }

    /// After the first event of a batch: lets more arrive for [`GATHER_FOR`]
    /// (sleeping, so that recording an event wakes no one), then writes
    /// everything queued, `batch` events per insert.
    async fn gather(
        &self,
        received: &mut mpsc::Receiver<AuditEvent>,
        batch: &mut Vec<AuditEvent>,
        stop: &CancellationToken,
    ) {
        if batch.len() < self.batch {
            tokio::select! {
                biased;
                () = stop.cancelled() => {}
                () = tokio::time::sleep(GATHER_FOR) => {}
            }
        }
        loop {
            while batch.len() < self.batch {
                match received.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            self.write(batch).await;
            if received.is_empty() {
                return;
            }
        }
    }

    async fn write(&self, batch: &mut Vec<AuditEvent>) {
        let n = batch.len() as u64;
        match self.store.insert_audit_events(batch).await {
            Ok(()) => crate::metrics::audit_events("written", n),
            Err(err) => {
                crate::metrics::audit_events("failed", n);
                tracing::warn!(error = %err, events = n, "could not write audit events");
            }
        }
        batch.clear();
    }

    async fn expire(&self) {
        let before = chrono::Utc::now() - self.retention;
        match self.store.delete_audit_events_before(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, %before, "deleted audit events past retention"),
            Err(err) => tracing::warn!(error = %err, "could not delete old audit events"),
        }
    }
}
