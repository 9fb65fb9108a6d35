//! An agent call's timeout counted in time the wrapper was awake, not in wall time.
//!
//! The promoter's `on-quorum-loss = "freeze"` freezes the service's whole cgroup (`systemctl
//! freeze`): the wrapper and the agent call it waits for stop together, for as long as quorum
//! is lost. A timeout in monotonic time would have passed when they thaw, and the wrapper
//! would kill a monitor that never had the chance to run and restart a service the freeze was
//! meant to keep (promoter spec §9: "thaw → services resume with no restart").
//!
//! Pure: instants in (any clock's), "expired" out. Time is counted from tick to tick, each gap
//! at most [`MAX_STEP`]: a longer gap is time the wrapper did not run (frozen, or the machine
//! suspended), in which the agent did not run either. It must never let a call run for ever:
//! every tick counts at least its own period up to `MAX_STEP`.

use std::ops::Sub;
use std::time::Duration;

/// How often the wrapper looks at the clock while a call runs.
pub const TICK: Duration = Duration::from_secs(1);

/// The most one tick counts: a busy machine delays a tick by less; a frozen wrapper by the
/// length of the freeze.
pub const MAX_STEP: Duration = Duration::from_secs(2);

/// The awake time a call has used of its timeout.
#[derive(Debug, Clone, Copy)]
pub struct AwakeClock<I> {
    budget: Duration,
    used: Duration,
    last: I,
}

impl<I: Copy + Sub<I, Output = Duration>> AwakeClock<I> {
    /// A call with `timeout` that began at `now`.
    pub fn new(timeout: Duration, now: I) -> Self {
        AwakeClock {
            budget: timeout,
            used: Duration::ZERO,
            last: now,
        }
    }

    /// Counts the time since the previous tick (at most [`MAX_STEP`]); true once the call has
    /// used its whole timeout.
    pub fn tick(&mut self, now: I) -> bool {
        self.used += (now - self.last).min(MAX_STEP);
        self.last = now;
        self.used >= self.budget
    }

    /// The awake time used so far.
    #[cfg(test)]
    pub fn used(&self) -> Duration {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn regular_ticks_expire_the_call_at_its_timeout() {
        let t0 = Instant::now();
        let mut clock = AwakeClock::new(Duration::from_secs(3), t0);
        assert!(!clock.tick(t0 + TICK));
        assert!(!clock.tick(t0 + 2 * TICK));
        assert!(clock.tick(t0 + 3 * TICK));
    }

    #[test]
    fn a_freeze_longer_than_the_timeout_counts_as_one_step() {
        let t0 = Instant::now();
        let mut clock = AwakeClock::new(Duration::from_secs(30), t0);
        assert!(!clock.tick(t0 + TICK));
        // frozen for ten minutes while quorum was lost, then thawed
        let thawed = t0 + TICK + Duration::from_secs(600);
        assert!(!clock.tick(thawed), "a thawed call got its timeout back");
        assert_eq!(clock.used(), TICK + MAX_STEP);
        let mut now = thawed;
        let mut ticks = 0;
        while !clock.tick(now + TICK) {
            now += TICK;
            ticks += 1;
        }
        assert_eq!(ticks, 26, "30 s of awake time: 3 before, 27 after the thaw");
    }

    #[test]
    fn late_ticks_of_a_busy_machine_count_in_full_up_to_the_step() {
        let t0 = Instant::now();
        let mut clock = AwakeClock::new(Duration::from_secs(4), t0);
        assert!(!clock.tick(t0 + Duration::from_millis(1900)));
        assert!(!clock.tick(t0 + Duration::from_millis(3900)));
        assert_eq!(clock.used(), Duration::from_millis(3900));
        assert!(clock.tick(t0 + Duration::from_millis(4000)));
    }
}
