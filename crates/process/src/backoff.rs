//! The one capped exponential backoff, used by the events2 child, the plugin host, the agentx
//! session and the tools. Pure: the caller says when a run started and ended.
//!
//! Must never: reset because a run merely started (a run that breaks at once would otherwise
//! retry in a tight loop); only a run that stayed healthy for `healthy` resets it.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
    /// A run that lasted at least this long resets the delay to `first`.
    healthy: Duration,
    /// Failures in a row (for logs).
    failures: u32,
}

impl Backoff {
    /// Delays `first`, `2 first`, `4 first`, ... capped at `max`; reset by a run that lasted
    /// `healthy` or by [`Backoff::reset`].
    pub fn new(first: Duration, max: Duration, healthy: Duration) -> Self {
        Backoff {
            first,
            max: max.max(first),
            next: first,
            healthy,
            failures: 0,
        }
    }

    /// The delay before the next attempt, after an attempt that could not even start.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        self.failures = self.failures.saturating_add(1);
        d
    }

    /// The delay before the next attempt after a run that started at `started` and ended at
    /// `ended`: a healthy run resets the backoff first.
    pub fn after_run(&mut self, started: Instant, ended: Instant) -> Duration {
        if ended.saturating_duration_since(started) >= self.healthy {
            self.reset();
        }
        self.next_delay()
    }

    /// The run proved healthy by other means (e.g. it delivered a complete initial dump).
    pub fn reset(&mut self) {
        self.next = self.first;
        self.failures = 0;
    }

    /// Failures since the last reset, counting the current one.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_from_first_and_stop_at_the_cap() {
        let mut b = Backoff::new(100 * MS, 500 * MS, 60 * 1000 * MS);
        let d: Vec<_> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 500, 500]);
        assert_eq!(b.failures(), 5);
    }

    #[test]
    fn a_run_that_breaks_at_once_keeps_backing_off() {
        let mut b = Backoff::new(100 * MS, 10_000 * MS, 1000 * MS);
        let t = Instant::now();
        let d: Vec<_> = (0..4).map(|_| b.after_run(t, t + MS).as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 800]);
    }

    #[test]
    fn only_a_run_that_stayed_healthy_resets_the_delay() {
        let mut b = Backoff::new(100 * MS, 10_000 * MS, 1000 * MS);
        let t = Instant::now();
        b.next_delay();
        b.next_delay();
        assert_eq!(b.after_run(t, t + 999 * MS), 400 * MS);
        assert_eq!(b.after_run(t, t + 1000 * MS), 100 * MS);
        assert_eq!(b.failures(), 1);
    }

    #[test]
    fn explicit_reset_starts_over() {
        let mut b = Backoff::new(100 * MS, 500 * MS, 1000 * MS);
        b.next_delay();
        b.next_delay();
        b.reset();
        assert_eq!(b.next_delay(), 100 * MS);
    }

    #[test]
    fn huge_caps_do_not_overflow() {
        let mut b = Backoff::new(Duration::MAX / 2, Duration::MAX, Duration::MAX);
        b.next_delay();
        b.next_delay();
        assert_eq!(b.next_delay(), Duration::MAX);
    }
}
