//! When to answer a state reader's question for a snapshot (prometheus, agentx): at once,
//! unless building snapshots took more than a share of the core's time lately.
//!
//! A snapshot copies the index of every resource (1.5-2 ms at 10k resources), so a client
//! scraping in a loop while lines flow would have the core build one per render. The pacer
//! keeps a budget of core time for builds that refills at `share` of the time passing, up to
//! `burst`; a question is answered at once while the budget is positive, otherwise when it
//! has refilled. Normal use (a Prometheus every few seconds, a burst of scrapes, an SNMP walk)
//! never waits; a loop gets at most `share` of the core. A fixed gap between answers (100 ms,
//! as when the core published snapshots itself) delayed a scrape that followed another by
//! less than the gap. The core calls [`Pacer::asked`] when a reader asks. Pure: the caller
//! passes the time and the cost of each build.
//!
//! Must never: leave a question unanswered (a pending one always has a deadline), or read a
//! clock.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Pacer {
    /// Parts per thousand of the time passing that builds may take.
    share_per_mille: u32,
    burst: Duration,
    /// Build time available at `at`; negative after a build that cost more than was left.
    budget_ns: i128,
    at: Option<Instant>,
    /// When the waiting question was asked.
    pending: Option<Instant>,
}

impl Pacer {
    /// Builds may take `share_per_mille`/1000 of the time, with up to `burst` at once.
    pub fn new(share_per_mille: u32, burst: Duration) -> Self {
        assert!(share_per_mille > 0, "a zero share would never answer");
        Pacer {
            share_per_mille,
            burst,
            budget_ns: burst.as_nanos() as i128,
            at: None,
            pending: None,
        }
    }

    fn budget_at(&self, now: Instant) -> i128 {
        let Some(at) = self.at else {
            return self.budget_ns;
        };
        let refill = now.saturating_duration_since(at).as_nanos() as i128
            * self.share_per_mille as i128
            / 1000;
        (self.budget_ns + refill).min(self.burst.as_nanos() as i128)
    }

    /// A reader asked at `now`: true if a snapshot is due now (the caller answers and calls
    /// [`Pacer::answered`]); otherwise it is due at [`Pacer::deadline`].
    pub fn asked(&mut self, now: Instant) -> bool {
        self.pending.get_or_insert(now);
        self.due(now)
    }

    /// True if a question waits and there is budget for its build.
    pub fn due(&self, now: Instant) -> bool {
        self.pending.is_some() && self.budget_at(now) > 0
    }

    /// When the waiting question will be answered; None if none waits.
    pub fn deadline(&self) -> Option<Instant> {
        let asked = self.pending?;
        let Some(at) = self.at else {
            return Some(asked);
        };
        // The budget is positive once `owed` has refilled.
        let owed = (1 - self.budget_ns).max(0) as u128;
        let wait_ns = owed * 1000 / self.share_per_mille as u128 + 1;
        let refilled = at + Duration::from_nanos(wait_ns.min(u64::MAX as u128) as u64);
        Some(refilled.max(asked))
    }

    /// A build answered the waiting readers at `now`, having taken `cost`.
    pub fn answered(&mut self, now: Instant, cost: Duration) {
        self.budget_ns = self.budget_at(now) - cost.as_nanos() as i128;
        self.at = Some(now);
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn questions_are_answered_at_once_while_builds_took_less_than_their_share() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100, 20 * MS);
        // A Prometheus every 15 s, or a few scrapes in a row: never paced.
        for i in 0..5 {
            let now = t0 + MS * (i * 30);
            assert!(p.asked(now), "question {i}");
            p.answered(now, 2 * MS);
        }
        assert_eq!(p.deadline(), None);
    }

    #[test]
    fn a_question_loop_gets_at_most_the_share_of_the_core() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100, 20 * MS);
        let mut now = t0;
        let mut built = Duration::ZERO;
        // Each build costs 2 ms; the reader asks again right after each answer.
        while now < t0 + Duration::from_secs(10) {
            if !p.asked(now) {
                let d = p.deadline().expect("a question waits");
                assert!(d > now, "a deadline not due yet is in the future");
                let early = Duration::from_micros(20);
                assert!(
                    d - now <= early || !p.due(d - early),
                    "due before its deadline"
                );
                now = d;
                assert!(p.due(now), "due at its deadline");
            }
            p.answered(now, 2 * MS);
            built += 2 * MS;
            now += Duration::from_micros(100);
        }
        let share = built.as_secs_f64() / (now - t0).as_secs_f64();
        assert!(share <= 0.1 + 0.003, "builds took {share:.3} of the time");
        assert!(share >= 0.09, "the share was not used: {share:.3}");
    }

    #[test]
    fn the_budget_refills_to_the_burst_and_no_further() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100, 20 * MS);
        p.asked(t0);
        p.answered(t0, 20 * MS);
        // Quiet for an hour: the budget is 20 ms again, not 6 minutes.
        let later = t0 + Duration::from_secs(3600);
        let mut answered_at_once = 0;
        while p.asked(later) {
            p.answered(later, 2 * MS);
            answered_at_once += 1;
        }
        assert_eq!(answered_at_once, 10);
    }

    #[test]
    fn a_pending_question_always_has_a_deadline_and_none_after_its_answer() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100, 20 * MS);
        assert_eq!(p.deadline(), None);
        assert!(p.asked(t0));
        assert!(p.deadline().is_some());
        p.answered(t0, 50 * MS);
        assert_eq!(p.deadline(), None);
        assert!(!p.asked(t0 + MS));
        let d = p.deadline().expect("pending");
        assert!(d > t0 + 290 * MS && d < t0 + 320 * MS, "{:?}", d - t0);
    }
}
