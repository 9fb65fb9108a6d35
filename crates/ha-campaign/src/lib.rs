//! The HA fault campaign, fast mode (issue 15 item 1): the promoter's pure policy on every
//! node of the simulator's pure model, in virtual time, driven by random fault schedules
//! from a seed, with the invariants checked after every instant something happened.
//! A failing schedule is shrunk and printed as a seed and a step list that replays it.
//!
//! `schedule` makes schedules, `setup` is the cluster and its configuration, `world` runs
//! them (with `daemon`: events2 and machines; `systemd`: the commands and services), `check`
//! holds the invariants. Must never: read a clock or use randomness other than the
//! seed; a schedule replays identically.

#![allow(clippy::needless_range_loop)] // node and resource indexes name both arrays and views

pub mod check;
mod daemon;
pub mod schedule;
pub mod setup;
mod systemd;
pub mod world;

use check::{check_settled, settle_bound_ms, Checker};
use schedule::{generate, Step};
use world::World;

/// A broken invariant: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Index of the step after which it broke; `steps.len()` for the repair phase.
    pub step: usize,
    pub at_ms: u64,
    pub message: String,
}

/// Runs a schedule: every step (pause, fault, services write), then every fault repaired
/// and the settle bound waited twice (settled, then stable on the same nodes).
/// What a schedule that broke nothing left: a fail-back gap, the services not on the first
/// preferred node because that node is not available to them (see [`check::check_settled`]).
pub type Passed = Option<String>;

pub fn run(steps: &[Step]) -> Result<Passed, Violation> {
    run_in(&mut World::new(), steps)
}

/// Like [`run`], returning the decisions and commands of the run too.
pub fn trace(steps: &[Step]) -> (Result<Passed, Violation>, Vec<String>) {
    let mut w = World::with_trace(true);
    let r = run_in(&mut w, steps);
    (r, w.trace.take().unwrap_or_default())
}

fn run_in(w: &mut World, steps: &[Step]) -> Result<Passed, Violation> {
    let mut c = Checker::default();
    let fail = |step: usize, w: &World, message: String| Violation {
        step,
        at_ms: w.now,
        message,
    };
    c.check(w).map_err(|m| fail(0, w, m))?;
    for (i, s) in steps.iter().enumerate() {
        let t = w.now + s.after_ms;
        w.advance_to(t, &mut |w| c.check(w))
            .map_err(|m| fail(i, w, m))?;
        w.apply(s.fault);
        w.write();
        c.check(w).map_err(|m| fail(i, w, m))?;
    }
    let end = steps.len();
    w.repair_all();
    let bound = settle_bound_ms();
    let t = w.now + bound;
    w.advance_to(t, &mut |w| c.check(w))
        .map_err(|m| fail(end, w, m))?;
    check_settled(w).map_err(|m| fail(end, w, m))?;
    let first: Vec<[bool; 3]> = (0..3)
        .map(|r| [0, 1, 2].map(|n| w.services[n][r].running))
        .collect();
    w.write();
    let t = w.now + bound;
    w.advance_to(t, &mut |w| c.check(w))
        .map_err(|m| fail(end, w, m))?;
    let gap = check_settled(w).map_err(|m| fail(end, w, m))?;
    let second: Vec<[bool; 3]> = (0..3)
        .map(|r| [0, 1, 2].map(|n| w.services[n][r].running))
        .collect();
    if first != second {
        return Err(fail(
            end,
            w,
            format!("services moved after settling: {first:?} -> {second:?}"),
        ));
    }
    Ok(gap)
}

/// The smallest schedule found that still breaks the same invariant: steps dropped one at
/// a time, then pauses shortened, until nothing more can go.
pub fn shrink(steps: &[Step]) -> Vec<Step> {
    shrink_with(steps, run)
}

/// [`shrink`] against any runner (tests plant a violation to prove the shrinking itself).
pub fn shrink_with(
    steps: &[Step],
    run: impl Fn(&[Step]) -> Result<Passed, Violation>,
) -> Vec<Step> {
    let kind = |v: &Violation| {
        v.message.split(':').next().unwrap_or("").to_string()
            + &v.message
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect::<String>()
    };
    let Err(v) = run(steps) else {
        return steps.to_vec();
    };
    let want = kind(&v);
    let fails = |s: &[Step]| matches!(run(s), Err(v) if kind(&v) == want);
    let mut cur = steps.to_vec();
    // Steps after the one that failed (when not in the repair phase) cannot matter.
    if v.step < cur.len() && fails(&cur[..=v.step]) {
        cur.truncate(v.step + 1);
    }
    loop {
        let mut progress = false;
        let mut i = 0;
        while i < cur.len() {
            let mut t = cur.clone();
            t.remove(i);
            if fails(&t) {
                cur = t;
                progress = true;
            } else {
                i += 1;
            }
        }
        for i in 0..cur.len() {
            for shorter in [0, cur[i].after_ms / 2] {
                if shorter < cur[i].after_ms {
                    let mut t = cur.clone();
                    t[i].after_ms = shorter;
                    if fails(&t) {
                        cur = t;
                        progress = true;
                        break;
                    }
                }
            }
        }
        if !progress {
            return cur;
        }
    }
}

/// A failure as it is printed: the seed, the violation, and the shrunk steps as Rust.
pub fn report(seed: u64, steps: &[Step]) -> String {
    let v = run(steps).err();
    let mut s = format!("seed {seed}: {v:?}\nreplay: ha_campaign::run(&[\n");
    for st in steps {
        s.push_str(&format!("    {st},\n"));
    }
    s.push_str("])\n");
    s
}

/// Figures of a campaign.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Figures {
    pub schedules: u64,
    pub steps: u64,
    /// Seeds that broke an invariant, with what broke (known open ones included).
    pub failing: Vec<(u64, String)>,
    /// Seeds that ended with a fail-back gap (the preferred node not available), with it.
    pub gaps: Vec<(u64, String)>,
}

/// Runs the schedules of seeds `from..to` on `threads` threads.
pub fn campaign(from: u64, to: u64, threads: usize) -> Figures {
    let threads = threads.max(1) as u64;
    let parts: Vec<Figures> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                s.spawn(move || {
                    let mut f = Figures::default();
                    let mut seed = from + k;
                    while seed < to {
                        let steps = generate(seed);
                        f.schedules += 1;
                        f.steps += steps.len() as u64;
                        match run(&steps) {
                            Err(v) => f.failing.push((seed, v.message)),
                            Ok(Some(gap)) => f.gaps.push((seed, gap)),
                            Ok(None) => {}
                        }
                        seed += threads;
                    }
                    f
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all = Figures::default();
    for p in parts {
        all.schedules += p.schedules;
        all.steps += p.steps;
        all.failing.extend(p.failing);
        all.gaps.extend(p.gaps);
    }
    all.failing.sort_unstable();
    all.gaps.sort_unstable();
    all
}
