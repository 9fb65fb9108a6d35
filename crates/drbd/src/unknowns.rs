//! Remembers which unknown (key, value) pairs were already reported, so the daemon warns once
//! per pair however often a newer kernel prints it (every `--full` change line would).
//!
//! Pure and bounded: hostile input with endless distinct values must not grow it without
//! limit (after `capacity` pairs it stops remembering and reports nothing new, counting the
//! rest). Must never: do I/O or log by itself.

use std::collections::{HashMap, HashSet};

/// The (key, value) pairs reported so far.
#[derive(Debug, Clone)]
pub struct SeenUnknowns {
    /// Values by key (looked up by `&str`: the common case, seen before, allocates nothing).
    seen: HashMap<String, HashSet<String>>,
    remembered: usize,
    capacity: usize,
    not_remembered: u64,
}

impl Default for SeenUnknowns {
    fn default() -> Self {
        SeenUnknowns::new(SeenUnknowns::DEFAULT_CAPACITY)
    }
}

impl SeenUnknowns {
    /// Far more distinct unknown values than any kernel has states.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// Remembers up to `capacity` distinct pairs.
    pub fn new(capacity: usize) -> Self {
        SeenUnknowns {
            seen: HashMap::new(),
            remembered: 0,
            capacity,
            not_remembered: 0,
        }
    }

    /// True the first time `(key, value)` is offered (report it then), false afterwards and
    /// for every new pair once the capacity is reached.
    pub fn first_time(&mut self, key: &str, value: &str) -> bool {
        if self
            .seen
            .get(key)
            .is_some_and(|values| values.contains(value))
        {
            return false;
        }
        if self.remembered >= self.capacity {
            self.not_remembered += 1;
            return false;
        }
        self.remembered += 1;
        self.seen
            .entry(key.to_string())
            .or_default()
            .insert(value.to_string());
        true
    }

    /// The pairs of `pairs` (a [`crate::Line`]'s `unknown_values`) not offered before, in order.
    pub fn news<'a>(&mut self, pairs: &'a [(String, String)]) -> Vec<(&'a str, &'a str)> {
        pairs
            .iter()
            .filter(|(k, v)| self.first_time(k, v))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// Pairs that came after the capacity was reached and were not reported.
    pub fn not_remembered(&self) -> u64 {
        self.not_remembered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_and_value_is_reported_once() {
        let mut seen = SeenUnknowns::default();
        assert!(seen.first_time("disk", "Frozen"));
        assert!(!seen.first_time("disk", "Frozen"));
        assert!(seen.first_time("peer-disk", "Frozen"), "other key");
        assert!(seen.first_time("disk", "Thawed"), "other value");
    }

    #[test]
    fn news_lists_only_pairs_not_offered_before() {
        let mut seen = SeenUnknowns::default();
        let pairs = vec![
            ("disk".to_string(), "Frozen".to_string()),
            ("resync-suspended".to_string(), "user,later".to_string()),
        ];
        assert_eq!(
            seen.news(&pairs),
            vec![("disk", "Frozen"), ("resync-suspended", "user,later")]
        );
        assert!(seen.news(&pairs).is_empty());
    }

    #[test]
    fn endless_distinct_values_stop_being_remembered_at_the_capacity() {
        let mut seen = SeenUnknowns::new(2);
        assert!(seen.first_time("disk", "a"));
        assert!(seen.first_time("disk", "b"));
        assert!(!seen.first_time("disk", "c"));
        assert!(!seen.first_time("disk", "d"));
        assert_eq!(seen.not_remembered(), 2);
        assert!(!seen.first_time("disk", "a"), "still remembered");
    }
}
