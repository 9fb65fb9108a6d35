//! When to rebuild the served table (agentx spec §5): only if the state changed and the
//! table is older than `cache-max`, and not in the middle of a walk (GetNext requests less
//! than 15 s apart form one "transaction"), so one walk sees one consistent table.
//!
//! A walk that never reaches endOfMibView (one column, interleaved pollers) would keep its
//! window open forever; past `cache-max` plus [`MAX_WALK`] the table is rebuilt even so.
//! A table counts as built only once the build succeeded ([`CachePolicy::built`]); after a
//! failed build (the core did not answer in time) the next try waits [`RETRY_AFTER`], so that
//! requests meanwhile are answered from the previous table instead of each waiting for the
//! core.
//!
//! Pure: the caller passes the clock. Must never: rebuild mid-walk before [`MAX_WALK`], or,
//! while builds succeed, serve a table older than `cache-max` + [`MAX_WALK`] of a changed
//! state.

use std::time::{Duration, Instant};

pub const WALK_WINDOW: Duration = Duration::from_secs(15);
/// How long a walk may keep an outdated table: a GetNext walk of 10k devices through snmpd
/// takes about two minutes here.
pub const MAX_WALK: Duration = Duration::from_secs(300);
/// How long after a failed build the next one is tried.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct CachePolicy {
    cache_max: Duration,
    built_at: Option<Instant>,
    last_get_next: Option<Instant>,
    retry_at: Option<Instant>,
}

impl CachePolicy {
    pub fn new(cache_max: Duration) -> Self {
        CachePolicy {
            cache_max,
            built_at: None,
            last_get_next: None,
            retry_at: None,
        }
    }

    fn stale(&self, state_changed: bool, now: Instant) -> bool {
        if !self.may_try(now) {
            return false;
        }
        match self.built_at {
            None => true,
            Some(t) => state_changed && now.duration_since(t) >= self.cache_max,
        }
    }

    /// For a Get: rebuild if stale.
    pub fn before_get(&self, state_changed: bool, now: Instant) -> bool {
        self.stale(state_changed, now)
    }

    /// For a GetNext or GetBulk: rebuild only outside a walk, or when the table is older
    /// than `cache-max` + [`MAX_WALK`].
    pub fn before_get_next(&mut self, state_changed: bool, now: Instant) -> bool {
        let in_walk = self
            .last_get_next
            .is_some_and(|t| now.duration_since(t) < WALK_WINDOW);
        self.last_get_next = Some(now);
        let overdue = self
            .built_at
            .is_some_and(|t| now.duration_since(t) >= self.cache_max + MAX_WALK);
        (!in_walk || overdue) && self.stale(state_changed, now)
    }

    /// The table asked for was built.
    pub fn built(&mut self, now: Instant) {
        self.built_at = Some(now);
        self.retry_at = None;
    }

    /// The build failed: the old table stays stale, to be rebuilt [`RETRY_AFTER`] from now.
    pub fn failed(&mut self, now: Instant) {
        self.retry_at = Some(now + RETRY_AFTER);
    }

    /// False while a failed build's retry is not due.
    pub fn may_try(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|t| now >= t)
    }

    /// A GetNext answered only with endOfMibView ends the walk.
    pub fn walk_ended(&mut self) {
        self.last_get_next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_request_builds_then_only_stale_changed_state_rebuilds() {
        let t0 = Instant::now();
        let mut c = CachePolicy::new(Duration::from_secs(60));
        assert!(c.before_get(false, t0));
        c.built(t0);
        assert!(!c.before_get(true, t0 + Duration::from_secs(10)));
        assert!(!c.before_get(false, t0 + Duration::from_secs(100)));
        assert!(c.before_get(true, t0 + Duration::from_secs(100)));
    }

    #[test]
    fn a_failed_build_is_retried_after_a_pause_not_at_every_request() {
        let t0 = Instant::now();
        let mut c = CachePolicy::new(Duration::from_secs(60));
        c.built(t0);
        assert!(c.before_get(true, t0 + Duration::from_secs(60)));
        c.failed(t0 + Duration::from_secs(62));
        // Requests meanwhile get the previous table, without waiting for the core again.
        assert!(!c.before_get(true, t0 + Duration::from_secs(63)));
        assert!(!c.before_get_next(true, t0 + Duration::from_secs(66)));
        assert!(c.before_get(true, t0 + Duration::from_secs(67)));
        c.built(t0 + Duration::from_secs(67));
        assert!(!c.before_get(true, t0 + Duration::from_secs(68)));
    }

    #[test]
    fn a_walk_that_never_ends_gets_a_new_table_after_cache_max_and_max_walk() {
        let t0 = Instant::now();
        let mut c = CachePolicy::new(Duration::from_secs(60));
        assert!(c.before_get_next(true, t0));
        c.built(t0);
        let mut rebuilt_at = None;
        for k in 1..=120u64 {
            let now = t0 + Duration::from_secs(10 * k);
            if c.before_get_next(true, now) {
                rebuilt_at = Some(10 * k);
                break;
            }
        }
        assert_eq!(rebuilt_at, Some(360));
    }

    #[test]
    fn a_walk_keeps_its_table_until_it_ends_or_pauses() {
        let t0 = Instant::now();
        let mut c = CachePolicy::new(Duration::ZERO);
        assert!(c.before_get_next(true, t0));
        c.built(t0);
        assert!(!c.before_get_next(true, t0 + Duration::from_secs(5)));
        assert!(!c.before_get_next(true, t0 + Duration::from_secs(19)));
        c.walk_ended();
        assert!(c.before_get_next(true, t0 + Duration::from_secs(20)));
        assert!(c.before_get_next(true, t0 + Duration::from_secs(40)));
    }
}
