//! The daemon's self-metrics as a list that each part contributes to (the core, the events2
//! reader, the host, each plugin type): name, help, type and a value read when asked. The
//! prometheus plugin renders whatever the list holds, so it knows no other part's counters.
//! A labelled family (e.g. one row per promoter resource) reads all its rows at once.
//!
//! Must never: block or allocate on the hot path (a counter is a shared atomic), or register
//! one name twice with two meanings (the first registration of a name wins and is shared).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
        }
    }
}

/// Label pairs of one row of a labelled family, in the order they are rendered.
pub type Labels = Vec<(String, String)>;

type Read = Arc<dyn Fn() -> Vec<(Labels, f64)> + Send + Sync>;

struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricKind,
    read: Read,
}

/// One value of the list, as read now. The rows of one family are consecutive.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricKind,
    /// Empty for a plain counter or gauge.
    pub labels: Labels,
    pub value: f64,
}

/// The list of self-metrics, in registration order.
#[derive(Default)]
pub struct SelfMetrics {
    families: Mutex<Vec<Family>>,
    /// Counters by name, so that every instance of a plugin type adds to the same one.
    counters: Mutex<Vec<(&'static str, Arc<AtomicU64>)>>,
}

impl std::fmt::Debug for SelfMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.samples()).finish()
    }
}

impl SelfMetrics {
    /// The counter called `name`, registered now if it is new.
    pub fn counter(&self, name: &'static str, help: &'static str) -> Arc<AtomicU64> {
        let mut counters = self.counters.lock().expect("never poisoned");
        if let Some((_, c)) = counters.iter().find(|(n, _)| *n == name) {
            return Arc::clone(c);
        }
        let c = Arc::new(AtomicU64::new(0));
        counters.push((name, Arc::clone(&c)));
        drop(counters);
        let read = Arc::clone(&c);
        self.push(Family {
            name,
            help,
            kind: MetricKind::Counter,
            read: Arc::new(move || vec![(Vec::new(), read.load(Ordering::Relaxed) as f64)]),
        });
        c
    }

    /// A gauge read by `read` when asked; `None` leaves it out of that reading.
    pub fn gauge(
        &self,
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> Option<f64> + Send + Sync + 'static,
    ) {
        self.push(Family {
            name,
            help,
            kind: MetricKind::Gauge,
            read: Arc::new(move || read().map(|v| vec![(Vec::new(), v)]).unwrap_or_default()),
        });
    }

    /// A family of labelled rows (one per object, e.g. per promoter resource), all read by
    /// `read` when asked; no rows leave the family out of that reading.
    pub fn labelled(
        &self,
        name: &'static str,
        help: &'static str,
        kind: MetricKind,
        read: impl Fn() -> Vec<(Labels, f64)> + Send + Sync + 'static,
    ) {
        self.push(Family {
            name,
            help,
            kind,
            read: Arc::new(read),
        });
    }

    fn push(&self, family: Family) {
        let mut families = self.families.lock().expect("never poisoned");
        if families.iter().all(|f| f.name != family.name) {
            families.push(family);
        }
    }

    /// Every metric with its current value, in registration order.
    pub fn samples(&self) -> Vec<Sample> {
        let reads: Vec<_> = {
            let families = self.families.lock().expect("never poisoned");
            families
                .iter()
                .map(|f| (f.name, f.help, f.kind, Arc::clone(&f.read)))
                .collect()
        };
        reads
            .into_iter()
            .flat_map(|(name, help, kind, read)| {
                read().into_iter().map(move |(labels, value)| Sample {
                    name,
                    help,
                    kind,
                    labels,
                    value,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_of_one_name_are_shared_and_listed_once_in_registration_order() {
        let m = SelfMetrics::default();
        let a = m.counter("x_total", "x");
        m.gauge("g", "g", || Some(1.5));
        let b = m.counter("x_total", "x again");
        a.fetch_add(2, Ordering::Relaxed);
        b.fetch_add(1, Ordering::Relaxed);
        let s = m.samples();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].name, s[0].help, s[0].value), ("x_total", "x", 3.0));
        assert_eq!(
            (s[1].name, s[1].kind, s[1].value),
            ("g", MetricKind::Gauge, 1.5)
        );
    }

    #[test]
    fn a_gauge_without_a_value_is_left_out() {
        let m = SelfMetrics::default();
        m.gauge("never", "n", || None);
        assert!(m.samples().is_empty());
    }

    #[test]
    fn a_labelled_family_lists_one_sample_per_row_in_its_place() {
        let m = SelfMetrics::default();
        m.gauge("first", "f", || Some(1.0));
        m.labelled("rows_total", "r", MetricKind::Counter, || {
            vec![
                (vec![("resource".into(), "r0".into())], 2.0),
                (vec![("resource".into(), "r1".into())], 3.0),
            ]
        });
        m.labelled("empty", "e", MetricKind::Gauge, Vec::new);
        let s = m.samples();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].labels, Vec::new());
        assert_eq!(
            (s[2].name, s[2].labels[0].1.as_str(), s[2].value),
            ("rows_total", "r1", 3.0)
        );
    }
}
