//! When to publish a new state snapshot to the state readers (prometheus, agentx).
//!
//! A snapshot copies the index of every resource, so publishing one per batch of lines made
//! the core's work grow with the number of resources times the line rate (an initial dump
//! of 10k resources: 300 snapshots of up to 10k entries). The pacer publishes the first
//! change at once and then at most one snapshot per `gap`, always ending with one that holds
//! the last change. Pure: the caller passes the time.
//!
//! Must never: leave a change unpublished (a pending change always has a deadline), or read
//! a clock.

use std::time::{Duration, Instant};

/// Publishing policy: immediately when the last snapshot is at least `gap` old, otherwise at
/// the deadline it returns.
#[derive(Debug, Clone)]
pub struct Pacer {
    gap: Duration,
    last: Option<Instant>,
    /// When the oldest change not yet published happened.
    pending: Option<Instant>,
}

impl Pacer {
    pub fn new(gap: Duration) -> Self {
        Pacer {
            gap,
            last: None,
            pending: None,
        }
    }

    /// The state changed at `now`: true if a snapshot is due now (the caller publishes and
    /// calls [`Pacer::published`]); otherwise it is due at [`Pacer::deadline`].
    pub fn changed(&mut self, now: Instant) -> bool {
        self.pending.get_or_insert(now);
        self.due(now)
    }

    /// True if a change waits and its time has come.
    pub fn due(&self, now: Instant) -> bool {
        self.pending.is_some() && self.last.is_none_or(|last| now >= last + self.gap)
    }

    /// When the waiting change must be published; None if none waits.
    pub fn deadline(&self) -> Option<Instant> {
        let since = self.pending?;
        Some(self.last.map_or(since, |last| since.max(last + self.gap)))
    }

    /// A snapshot was published at `now` (paced or forced).
    pub fn published(&mut self, now: Instant) {
        self.pending = None;
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAP: Duration = Duration::from_millis(100);

    #[test]
    fn the_first_change_is_published_at_once() {
        let t0 = Instant::now();
        let mut p = Pacer::new(GAP);
        assert!(p.changed(t0));
        p.published(t0);
        assert_eq!(p.deadline(), None);
    }

    #[test]
    fn a_burst_of_changes_gives_one_snapshot_per_gap_and_a_last_one() {
        let t0 = Instant::now();
        let mut p = Pacer::new(GAP);
        assert!(p.changed(t0));
        p.published(t0);
        let mut published = 1;
        // 300 batches, one per millisecond.
        for ms in 1..300 {
            let now = t0 + Duration::from_millis(ms);
            if p.changed(now) {
                p.published(now);
                published += 1;
            }
        }
        assert_eq!(published, 3, "at 0, 100 and 200 ms");
        // The changes after 200 ms wait for the deadline, never for another change.
        let deadline = p.deadline().expect("a change waits");
        assert_eq!(deadline, t0 + Duration::from_millis(300));
        assert!(!p.due(deadline - Duration::from_millis(1)));
        assert!(p.due(deadline));
        p.published(deadline);
        assert_eq!(p.deadline(), None);
    }

    #[test]
    fn a_change_after_a_quiet_gap_is_published_at_once() {
        let t0 = Instant::now();
        let mut p = Pacer::new(GAP);
        p.changed(t0);
        p.published(t0);
        assert!(p.changed(t0 + GAP * 5));
    }
}
