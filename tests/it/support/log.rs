//! The app's log as a test sees it: every `tracing` event of the test's
//! thread, at debug level, kept in memory. A test reads it afterwards (what
//! was logged, what must never be) or waits for a line as the signal that
//! something happened inside the app or one of its stdio upstreams (whose
//! stderr the app logs line by line).
//!
//! `#[tokio::test]` runs on one thread, and the app it spawns runs its tasks
//! there too, so the thread's events are the app's. A multi-thread test
//! would capture only part of them.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// Everything `tracing` records on the installing thread, in memory.
#[derive(Clone, Default)]
pub struct CapturedLog {
    bytes: Arc<Mutex<Vec<u8>>>,
    written: Arc<Notify>,
}

impl CapturedLog {
    /// Records this thread's events until the guard drops.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            // The app's own filter (with its quiet directives) at debug.
            .with_env_filter(
                manifold::telemetry::filter("debug,h2=info,hyper=info,hyper_util=info,rustls=info")
                    .expect("a valid filter"),
            )
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// The log so far.
    pub fn text(&self) -> String {
        let bytes = self.bytes.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Waits until `needle` occurs `times` times in the log; panics with
    /// the log when it does not within `limit`.
    pub async fn wait_for(&self, needle: &str, times: usize, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Created before the check, so a write in between still wakes it.
            let written = self.written.notified();
            if self.text().matches(needle).count() >= times {
                return;
            }
            if tokio::time::timeout_at(deadline, written).await.is_err() {
                panic!(
                    "{needle:?} was not logged {times} time(s) within {limit:?}; the log:\n{}",
                    self.text()
                );
            }
        }
    }
}

impl Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut log) = self.bytes.lock() {
            log.extend_from_slice(buf);
        }
        self.written.notify_waiters();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
