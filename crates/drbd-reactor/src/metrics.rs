//! What the core and the events2 reader count, as entries of the self-metrics list (the host
//! and the plugin types add their own). Lock-free atomics written by the core and the reader,
//! read by anyone.
//!
//! Must never block or allocate on the hot path.

use drbd_reactor_plugin::SelfMetrics;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub struct DaemonMetrics {
    /// events2 lines applied to the state.
    pub events_processed: Arc<AtomicU64>,
    /// Times `drbdsetup events2` was started again after it ended or failed to start.
    pub drbdsetup_restarts: Arc<AtomicU64>,
    /// Lines that could not be parsed, were not UTF-8 or too long (logged and skipped).
    pub lines_rejected: Arc<AtomicU64>,
    /// Lines with a verb or kind this version does not know (ignored).
    pub lines_unknown: Arc<AtomicU64>,
    /// Values (states, flags) this version does not know; their lines are kept.
    pub unknown_values: Arc<AtomicU64>,
    /// Kernel notifications lost, as `- skipped <n>` lines reported them.
    pub notifications_skipped: Arc<AtomicU64>,
    /// Milliseconds since the epoch of the last applied line (0 = none yet).
    pub last_event_unix_ms: Arc<AtomicU64>,
}

impl DaemonMetrics {
    /// Adds the core's and the reader's entries to `list`.
    pub fn register(list: &SelfMetrics) -> Self {
        let last_event_unix_ms = Arc::new(AtomicU64::new(0));
        let last = Arc::clone(&last_event_unix_ms);
        let m = DaemonMetrics {
            events_processed: list.counter(
                "drbdreactor_events_processed_total",
                "Number of drbdsetup events2 lines processed",
            ),
            drbdsetup_restarts: list.counter(
                "drbdreactor_drbdsetup_restarts_total",
                "Number of times the drbdsetup events2 child was restarted",
            ),
            lines_rejected: list.counter(
                "drbdreactor_events_rejected_total",
                "Number of drbdsetup events2 lines rejected (not parsable, not UTF-8 or longer than 1 MiB)",
            ),
            lines_unknown: list.counter(
                "drbdreactor_events_unknown_total",
                "Number of drbdsetup events2 lines with a verb or object kind this version does not know (ignored)",
            ),
            unknown_values: list.counter(
                "drbdreactor_events_unknown_values_total",
                "Number of values in drbdsetup events2 lines this version does not know (kept as unknown, the line applied)",
            ),
            notifications_skipped: list.counter(
                "drbdreactor_events_skipped_notifications_total",
                "Number of kernel notifications lost, as reported by '- skipped' lines",
            ),
            last_event_unix_ms,
        };
        list.gauge(
            "drbdreactor_last_event_timestamp_seconds",
            "Unix time of the last drbdsetup events2 line",
            move || {
                let ms = last.load(Ordering::Relaxed);
                (ms > 0).then(|| ms as f64 / 1000.0)
            },
        );
        m
    }

    /// Counters that go nowhere (tests of parts that count).
    pub fn detached() -> Self {
        DaemonMetrics::register(&SelfMetrics::default())
    }

    pub fn add_events(&self, n: u64) {
        if n > 0 {
            self.events_processed.fetch_add(n, Ordering::Relaxed);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            self.last_event_unix_ms.store(now, Ordering::Relaxed);
        }
    }
}

impl Default for DaemonMetrics {
    fn default() -> Self {
        DaemonMetrics::detached()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_events_counts_them_and_stamps_the_time_in_the_list() {
        let list = SelfMetrics::default();
        let m = DaemonMetrics::register(&list);
        m.add_events(0);
        let names: Vec<_> = list.samples().iter().map(|s| s.name).collect();
        assert!(!names.contains(&"drbdreactor_last_event_timestamp_seconds"));
        m.add_events(3);
        let samples = list.samples();
        let get = |n: &str| samples.iter().find(|s| s.name == n).map(|s| s.value);
        assert_eq!(get("drbdreactor_events_processed_total"), Some(3.0));
        assert!(get("drbdreactor_last_event_timestamp_seconds").unwrap() > 1e9);
    }
}
