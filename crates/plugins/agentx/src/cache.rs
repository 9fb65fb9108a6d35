//! When to rebuild the served table (agentx spec §5): only if the state changed and the
//! table is older than `cache-max`, and never in the middle of a walk (GetNext requests less
//! than 15 s apart form one "transaction"), so one walk sees one consistent table.
//!
//! Pure: the caller passes the clock. Must never: rebuild mid-walk.

use std::time::{Duration, Instant};

pub const WALK_WINDOW: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct CachePolicy {
    cache_max: Duration,
    built_at: Option<Instant>,
    last_get_next: Option<Instant>,
}

impl CachePolicy {
    pub fn new(cache_max: Duration) -> Self {
        CachePolicy {
            cache_max,
            built_at: None,
            last_get_next: None,
        }
    }

    fn stale(&self, state_changed: bool, now: Instant) -> bool {
        match self.built_at {
            None => true,
            Some(t) => state_changed && now.duration_since(t) >= self.cache_max,
        }
    }

    /// For a Get: rebuild if stale.
    pub fn before_get(&mut self, state_changed: bool, now: Instant) -> bool {
        let rebuild = self.stale(state_changed, now);
        if rebuild {
            self.built_at = Some(now);
        }
        rebuild
    }

    /// For a GetNext or GetBulk: rebuild only outside a walk.
    pub fn before_get_next(&mut self, state_changed: bool, now: Instant) -> bool {
        let in_walk = self
            .last_get_next
            .is_some_and(|t| now.duration_since(t) < WALK_WINDOW);
        self.last_get_next = Some(now);
        let rebuild = !in_walk && self.stale(state_changed, now);
        if rebuild {
            self.built_at = Some(now);
        }
        rebuild
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
        assert!(!c.before_get(true, t0 + Duration::from_secs(10)));
        assert!(!c.before_get(false, t0 + Duration::from_secs(100)));
        assert!(c.before_get(true, t0 + Duration::from_secs(100)));
    }

    #[test]
    fn a_walk_keeps_its_table_until_it_ends_or_pauses() {
        let t0 = Instant::now();
        let mut c = CachePolicy::new(Duration::ZERO);
        assert!(c.before_get_next(true, t0));
        assert!(!c.before_get_next(true, t0 + Duration::from_secs(5)));
        assert!(!c.before_get_next(true, t0 + Duration::from_secs(19)));
        c.walk_ended();
        assert!(c.before_get_next(true, t0 + Duration::from_secs(20)));
        assert!(c.before_get_next(true, t0 + Duration::from_secs(40)));
    }
}
