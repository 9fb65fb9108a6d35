//! Counters of what the daemon itself did, for the prometheus plugin and for logs.
//! Lock-free atomics written by the core and the reader, read by anyone.
//! Must never block or allocate on the hot path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub struct DaemonMetrics {
    /// events2 lines applied to the state.
    pub events_processed: AtomicU64,
    /// Lines that could not be parsed or were not UTF-8 (logged and skipped).
    pub lines_rejected: AtomicU64,
    /// Times `drbdsetup events2` was started again after it ended or failed to start.
    pub drbdsetup_restarts: AtomicU64,
    /// Milliseconds since the epoch of the last applied line (0 = none yet).
    pub last_event_unix_ms: AtomicU64,
    /// Plugin runs restarted after a panic, an error or falling too far behind.
    pub plugin_restarts: AtomicU64,
    /// Updates not delivered to a plugin that fell behind (it is resynchronised instead).
    pub plugin_updates_dropped: AtomicU64,
    /// What the umh plugins' commands did (runs, failures, timeouts).
    pub umh: std::sync::Arc<drbd_reactor_umh::runner::RunCounters>,
}

/// A plain copy of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    pub events_processed: u64,
    pub lines_rejected: u64,
    pub drbdsetup_restarts: u64,
    pub last_event_unix_ms: u64,
    pub plugin_restarts: u64,
    pub plugin_updates_dropped: u64,
}

impl DaemonMetrics {
    pub fn add_events(&self, n: u64) {
        if n > 0 {
            self.events_processed.fetch_add(n, Ordering::Relaxed);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            self.last_event_unix_ms.store(now, Ordering::Relaxed);
        }
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            events_processed: get(&self.events_processed),
            lines_rejected: get(&self.lines_rejected),
            drbdsetup_restarts: get(&self.drbdsetup_restarts),
            last_event_unix_ms: get(&self.last_event_unix_ms),
            plugin_restarts: get(&self.plugin_restarts),
            plugin_updates_dropped: get(&self.plugin_updates_dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_events_counts_them_and_stamps_the_time() {
        let m = DaemonMetrics::default();
        m.add_events(0);
        assert_eq!(m.snapshot().last_event_unix_ms, 0);
        m.add_events(3);
        DaemonMetrics::inc(&m.plugin_restarts);
        let s = m.snapshot();
        assert_eq!(s.events_processed, 3);
        assert_eq!(s.plugin_restarts, 1);
        assert!(s.last_event_unix_ms > 0);
    }
}
