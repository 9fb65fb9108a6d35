//! When the next `monitor` runs: one interval after the previous one began, so a slow agent
//! does not stretch the period; never back to back when a monitor overran its interval.
//!
//! Pure: instants in (any clock's: std or tokio's virtual one), instant out. It must never schedule a monitor before the previous one
//! ended.

use std::ops::Add;
use std::time::Duration;
#[cfg(test)]
use std::time::Instant;

/// The least pause between the end of one monitor and the start of the next.
pub const MIN_GAP: Duration = Duration::from_secs(1);

/// The monitor rhythm of one service run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub interval: Duration,
}

impl Schedule {
    /// The first monitor: one interval after `start` succeeded.
    pub fn first<I: Add<Duration, Output = I>>(&self, start_ended: I) -> I {
        start_ended + self.interval
    }

    /// The monitor after one that ran from `began` to `ended`.
    pub fn next<I: Add<Duration, Output = I> + Ord>(&self, began: I, ended: I) -> I {
        (began + self.interval).max(ended + MIN_GAP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_first_monitor_is_one_interval_after_start() {
        let t = Instant::now();
        let s = Schedule { interval: 30 * S };
        assert_eq!(s.first(t), t + 30 * S);
    }

    #[test]
    fn monitors_keep_their_period_when_the_agent_is_slow() {
        let t = Instant::now();
        let s = Schedule { interval: 30 * S };
        assert_eq!(s.next(t, t + 4 * S), t + 30 * S);
    }

    #[test]
    fn a_monitor_that_overran_its_interval_is_followed_after_a_gap() {
        let t = Instant::now();
        let s = Schedule { interval: 5 * S };
        assert_eq!(s.next(t, t + 12 * S), t + 13 * S);
        assert!(s.next(t, t + 5 * S) > t + 5 * S);
    }
}
