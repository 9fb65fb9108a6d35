//! This node's own failed starts and the backoff after them (the spec's 20 s rate limit, per
//! resource here, compat P6). A failed start is this node's own unless a peer won the
//! promotion race, and services that end soon after their start count as a failed start: a
//! stack that fails after promoting on every node, or dies here right after each start, would
//! otherwise promote, fail and demote in a loop without any bound.
//!
//! Must never: count a lost race as a failure, or make a counter go down.

use super::*;

/// Services that end (their target inactive, the resource demoted under them) within this of
/// their successful start count as a failed start.
pub const STABLE: Duration = Duration::from_secs(60);

fn backoff(failures: u32) -> Duration {
    (TICK * 2u32.saturating_pow(failures.saturating_sub(1))).min(MAX_BACKOFF)
}

impl Machine {
    /// A start of this node failed: the backoff applies at once; the failure is counted when
    /// it is known not to be a lost race (this node was Primary during the attempt, or no
    /// peer became Primary before the next start or the end of the backoff).
    pub(super) fn start_failed(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.own_failures += 1;
        self.retry_not_before = Some(now + backoff(self.own_failures));
        self.unclassified_failure = true;
        if self.promoted_in_attempt {
            self.confirm_own_failure();
        } else if let Some(peer) = self.resource.as_deref().and_then(facts::primary_peer) {
            self.saw_primary_peer(&peer, out);
        }
    }

    /// The unclassified failure is this node's own.
    pub(super) fn confirm_own_failure(&mut self) {
        if std::mem::take(&mut self.unclassified_failure) {
            self.counters.failures += 1;
        }
    }

    /// An unclassified failure followed by a peer Primary: the race was lost, no backoff.
    pub(super) fn lost_race(&mut self, peer: &str, out: &mut Vec<Action>) {
        if !std::mem::take(&mut self.unclassified_failure) {
            return;
        }
        self.own_failures = self.own_failures.saturating_sub(1);
        self.counters.lost_races += 1;
        if self.own_failures == 0 {
            self.retry_not_before = None;
        }
        let msg = format!(
            "start of {} lost the promotion race to {peer}: not a failure, no rate limit",
            self.name
        );
        self.log(out, Level::Info, msg);
    }

    /// A state update: this node Primary during a start (or before its failure is
    /// classified) means it won the race, so a failure of that start is its own.
    pub(super) fn note_own_role(&mut self, new: &Resource) {
        if new.role != Role::Primary {
            return;
        }
        if self.start_in_flight.is_some() {
            self.promoted_in_attempt = true;
        }
        self.confirm_own_failure();
    }

    pub(super) fn start_succeeded(&mut self, now: Instant) {
        self.retry_not_before = None;
        self.running_since = Some(now);
    }

    /// Ticker: services that have run for `STABLE` clear the count of failures before them.
    pub(super) fn note_stable_run(&mut self, now: Instant) {
        if self.services == Services::Running
            && self
                .running_since
                .is_some_and(|t| now.saturating_duration_since(t) >= STABLE)
        {
            self.own_failures = 0;
        }
        if self.unclassified_failure && self.retry_not_before.is_none_or(|t| t <= now) {
            self.confirm_own_failure();
        }
    }

    /// The services ended without a decision of this node (their target went inactive, the
    /// resource was demoted under them). Soon after their start, that is a failed start.
    pub(super) fn services_ended(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(since) = self.running_since.take() else {
            return;
        };
        let ran = now.saturating_duration_since(since);
        if ran >= STABLE {
            self.own_failures = 0;
            return;
        }
        self.own_failures += 1;
        self.counters.failures += 1;
        let wait = backoff(self.own_failures);
        self.retry_not_before = Some(now + wait);
        let msg = format!(
            "the services of '{}' ended {} s after their start: counted as a failed start; this node starts them again after {} s at the earliest (a peer may take them over meanwhile)",
            self.name,
            ran.as_secs(),
            wait.as_secs()
        );
        self.log(out, Level::Warn, msg);
    }
}
