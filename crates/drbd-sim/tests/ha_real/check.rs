//! The invariants of the real-mode campaign that hold at every instant, checked on every
//! sample the sampler takes while a schedule runs (pure: fed samples and their times).
//!
//! Must never: read the cluster itself; it judges what it is given.

use crate::cluster::Sample;
use crate::schedule::{NODES, RESOURCES};
use std::time::{Duration, Instant};

/// How long a live daemon may leave a service running where it must not: on a node without
/// quorum for `on-quorum-loss = shutdown` (r0), or on a Secondary (both). A slow stop takes
/// 300 ms; the rest is slack for a loaded machine.
pub const STOP_BOUND: Duration = Duration::from_secs(5);

/// Continual checks over a stream of samples.
#[derive(Debug, Default)]
pub struct Checker {
    /// Since when each `[node][resource]` has been in a state its daemon must end.
    must_stop_since: [[Option<Instant>; 2]; 3],
    pub samples: usize,
    pub violations: Vec<String>,
}

impl Checker {
    /// Checks one sample taken at `at`; new violations are added to
    /// [`Checker::violations`] (one per kind and place: a lasting condition is reported once).
    pub fn observe(&mut self, at: Instant, s: &Sample) {
        self.samples += 1;
        for (r, res) in RESOURCES.iter().enumerate() {
            let serving: Vec<&str> = (0..3)
                .filter(|&n| s[n][r].serving())
                .map(|n| NODES[n])
                .collect();
            if serving.len() > 1 {
                self.report(format!(
                    "two nodes serve {res}: {serving:?} (Primary with quorum, service running)"
                ));
            }
            for n in 0..3 {
                let x = s[n][r];
                let why = if !(x.up && x.daemon && x.marker) {
                    None
                } else if !x.primary {
                    // Also a service a dead daemon left: the shell runner's record of its
                    // start tells the daemon started after it (P36).
                    Some("on a Secondary")
                } else if r == 0 && !x.quorum {
                    Some("without quorum (on-quorum-loss = shutdown)")
                } else {
                    None
                };
                match (why, self.must_stop_since[n][r]) {
                    (None, _) => self.must_stop_since[n][r] = None,
                    (Some(_), None) => self.must_stop_since[n][r] = Some(at),
                    (Some(why), Some(since)) => {
                        if at.duration_since(since) > STOP_BOUND {
                            self.report(format!(
                                "{} kept {res}'s service running {why} for more than {:?} \
                                 with its daemon alive",
                                NODES[n], STOP_BOUND
                            ));
                            // Report a lasting state once.
                            self.must_stop_since[n][r] = Some(at + Duration::from_secs(3600));
                        }
                    }
                }
            }
        }
    }

    fn report(&mut self, v: String) {
        if !self.violations.contains(&v) {
            self.violations.push(v);
        }
    }
}

/// After the repair: per resource the node that serves it, if exactly one does and no
/// other powered-on node has its service running; else why not.
pub fn exactly_one(s: &Sample) -> Result<[usize; 2], String> {
    let mut out = [0; 2];
    for (r, res) in RESOURCES.iter().enumerate() {
        let serving: Vec<usize> = (0..3).filter(|&n| s[n][r].serving()).collect();
        let marked = (0..3).filter(|&n| s[n][r].up && s[n][r].marker).count();
        if serving.len() != 1 || marked != 1 {
            return Err(format!(
                "{res}: serving on {:?}, service running on {marked} node(s)",
                serving.iter().map(|&n| NODES[n]).collect::<Vec<_>>()
            ));
        }
        out[r] = serving[0];
    }
    Ok(out)
}
