//! The HA campaign, real mode (issue 15 item 2): seeded fault schedules against three real
//! drbd-reactor daemons on the simulator server (real processes, real timing), each with
//! two shell-runner promoter resources. While a schedule runs a sampler asserts that never
//! two nodes serve a resource and that a live daemon stops a service it must not run
//! (without quorum under `shutdown`, on a Secondary) within a bound; after the repair
//! exactly one node serves each resource and keeps serving it; then every daemon answers,
//! exits cleanly on SIGTERM leaving no run file, status file or drop-in, and no process of
//! the cluster is left. See docs/ha-campaign.md, "Real mode".
//!
//! `HA_REAL_SCHEDULES` (default 200), `HA_REAL_FIRST_SEED` (default 1), `HA_REAL_JOBS`
//! (clusters at once, default 3); `HA_REAL_SEED=N` replays one seed and prints its steps.

#![allow(clippy::needless_range_loop)] // node and resource indexes name arrays and samples alike

#[path = "ha_real/check.rs"]
mod check;
#[path = "ha_real/cluster.rs"]
mod cluster;
mod common;
#[path = "ha_real/procs.rs"]
mod procs;
#[path = "ha_real/run.rs"]
mod run;
#[path = "ha_real/schedule.rs"]
mod schedule;

use schedule::{describe, generate};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// What the schedules of a run added up to.
#[derive(Default)]
struct Totals {
    schedules: u64,
    /// Fault steps.
    steps: u64,
    samples: u64,
    /// Operator repairs (see run.rs, `wait_settled`).
    interventions: u64,
    /// Seed and violations of each failed schedule.
    failures: Vec<(u64, Vec<String>)>,
}

/// A failed schedule, as printed: the seed, its steps, what broke.
fn failure_text(seed: u64, violations: &[String]) -> String {
    format!(
        "seed {seed} (replay: HA_REAL_SEED={seed} cargo test -p drbd-sim --test ha_real -- --nocapture):\n{}violations:\n{}",
        describe(&generate(seed)),
        violations
            .iter()
            .map(|v| format!("  - {v}\n"))
            .collect::<String>()
    )
}

#[test]
fn real_daemons_survive_random_fault_schedules_with_one_server_per_resource_and_no_leftovers() {
    common::reactor(); // built (or found) once, before the clusters start
    if let Ok(seed) = std::env::var("HA_REAL_SEED") {
        let seed: u64 = seed.parse().expect("HA_REAL_SEED is a number");
        println!("seed {seed}:\n{}", describe(&generate(seed)));
        let started = Instant::now();
        match run::run(&generate(seed)) {
            Ok(f) => println!(
                "seed {seed} passed in {:?} ({} samples, {} operator repairs)",
                started.elapsed(),
                f.samples,
                f.interventions
            ),
            Err(v) => panic!("{}", failure_text(seed, &v)),
        }
        return;
    }
    let count = env_u64("HA_REAL_SCHEDULES", 200);
    let first = env_u64("HA_REAL_FIRST_SEED", 1);
    let jobs = env_u64("HA_REAL_JOBS", 3).max(1);
    let next = Arc::new(AtomicU64::new(first));
    let totals: Arc<Mutex<Totals>> = Arc::default();
    let started = Instant::now();
    let workers: Vec<_> = (0..jobs)
        .map(|_| {
            let (next, totals) = (next.clone(), totals.clone());
            std::thread::spawn(move || loop {
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= first + count {
                    return;
                }
                let steps = generate(seed);
                let outcome = run::run(&steps);
                let mut t = totals.lock().unwrap();
                t.schedules += 1;
                t.steps += steps.len() as u64;
                match outcome {
                    Ok(f) => {
                        t.samples += f.samples as u64;
                        t.interventions += f.interventions as u64;
                    }
                    Err(v) => {
                        eprintln!("{}", failure_text(seed, &v));
                        t.failures.push((seed, v));
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut t = std::mem::take(&mut *totals.lock().unwrap());
    t.failures.sort();
    let Totals {
        schedules,
        steps,
        samples,
        interventions,
        failures,
    } = t;
    println!(
        "ha-real: {schedules} schedules (seeds {first}..{}), {steps} fault steps, {samples} \
         samples, {interventions} operator repairs, {} failed {:?}, {jobs} at once, wall {:.1} s",
        first + count - 1,
        failures.len(),
        failures.iter().map(|f| f.0).collect::<Vec<_>>(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(schedules, count, "some schedules did not run");
    assert!(
        failures.is_empty(),
        "{}",
        failures
            .iter()
            .map(|(s, v)| failure_text(*s, v))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn a_seed_makes_the_same_schedule_and_the_generator_makes_every_kind_of_fault() {
    use schedule::{Fault, Service};
    assert_eq!(generate(42), generate(42));
    assert_ne!(generate(42), generate(43));
    let mut kinds = std::collections::BTreeSet::new();
    let mut reload_after_crash = false;
    for seed in 1..=200 {
        let steps = generate(seed);
        assert!((1..=9).contains(&steps.len()), "seed {seed}: {steps:?}");
        for w in steps.windows(2) {
            if matches!(w[0].fault, Fault::Crash(_))
                && matches!(w[1].fault, Fault::Reload(..))
                && w[1].after_ms < 30
            {
                reload_after_crash = true;
            }
        }
        for s in steps {
            assert!(s.after_ms < 400);
            let kind = match s.fault {
                Fault::Service(_, _, Service::Normal) => "service normal".to_string(),
                Fault::Service(_, _, s) => format!("service {}", s.word()),
                Fault::HoldOpen(_, _, h) => format!("hold {h}"),
                f => format!("{f:?}").split('(').next().unwrap().to_string(),
            };
            kinds.insert(kind);
        }
    }
    assert_eq!(kinds.len(), 20, "{kinds:?}");
    assert!(reload_after_crash, "no reload in the middle of a failover");
}

/// A node that serves: powered on, its daemon live, the marker present, Primary with quorum.
fn serving_node() -> cluster::NodeRes {
    cluster::NodeRes {
        up: true,
        daemon: true,
        marker: true,
        primary: true,
        quorum: true,
        ..Default::default()
    }
}

#[test]
fn the_checker_flags_two_servers_and_services_left_without_quorum_or_on_a_secondary_but_not_frozen_ones(
) {
    use check::{Checker, STOP_BOUND};
    use cluster::{NodeRes, Sample};
    let serving = serving_node();
    let secondary = NodeRes {
        up: true,
        daemon: true,
        ..Default::default()
    };
    let t0 = Instant::now();

    let mut c = Checker::default();
    let mut s: Sample = [[secondary; 2]; 3];
    s[0][0] = serving;
    s[1][1] = serving;
    c.observe(t0, &s);
    assert!(c.violations.is_empty(), "{:?}", c.violations);
    s[2][0] = serving;
    c.observe(t0, &s);
    assert_eq!(c.violations.len(), 1);
    assert!(c.violations[0].contains("two nodes serve r0"));

    // r0 (shutdown) without quorum: fine for a while, a violation past the bound.
    let mut c = Checker::default();
    let mut s: Sample = [[secondary; 2]; 3];
    s[0][0] = NodeRes {
        quorum: false,
        ..serving
    };
    // r1 (freeze) without quorum keeps its service: never a violation.
    s[1][1] = NodeRes {
        quorum: false,
        ..serving
    };
    c.observe(t0, &s);
    c.observe(t0 + STOP_BOUND / 2, &s);
    assert!(c.violations.is_empty(), "{:?}", c.violations);
    c.observe(t0 + STOP_BOUND + Duration::from_millis(1), &s);
    assert_eq!(c.violations.len(), 1, "{:?}", c.violations);
    assert!(c.violations[0].contains("alpha kept r0's service running without quorum"));

    // A dead daemon cannot act: exempt.
    let mut c = Checker::default();
    s[0][0].daemon = false;
    c.observe(t0, &s);
    c.observe(t0 + STOP_BOUND * 2, &s);
    assert!(c.violations.is_empty(), "{:?}", c.violations);

    // A service on a Secondary: a violation past the bound, also one a dead daemon left (the
    // live daemon started since finds the shell runner's record, P36); a node whose daemon
    // is still dead is exempt.
    let mut c = Checker::default();
    let mut s: Sample = [[secondary; 2]; 3];
    s[2][1].marker = true;
    s[1][1].marker = true;
    s[1][1].left_over = true;
    s[0][1].marker = true;
    s[0][1].daemon = false;
    c.observe(t0, &s);
    c.observe(t0 + STOP_BOUND * 2, &s);
    assert_eq!(c.violations.len(), 2, "{:?}", c.violations);
    assert!(c.violations[0].contains("beta kept r1's service running on a Secondary"));
    assert!(c.violations[1].contains("gamma kept r1's service running on a Secondary"));
}

#[test]
fn exactly_one_needs_one_server_and_no_other_running_service() {
    use cluster::{NodeRes, Sample};
    let serving = serving_node();
    let mut s: Sample = Default::default();
    s[0][0] = serving;
    s[2][1] = serving;
    assert_eq!(check::exactly_one(&s), Ok([0, 2]));
    s[1][0] = NodeRes {
        primary: false,
        ..serving
    };
    assert!(check::exactly_one(&s).is_err());
    s[1][0].up = false;
    assert_eq!(check::exactly_one(&s), Ok([0, 2]));
}

#[test]
fn the_orphan_finder_sees_a_tagged_process_in_another_session_and_kill_all_ends_it() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}/", dir.path().display());
    let tag = format!("{prefix}alpha#1");
    // A grandchild in a session of its own, as a command that left the daemon's group.
    let mut child = std::process::Command::new("setsid")
        .args(["sh", "-c", "sleep 30"])
        .env(procs::TAG, &tag)
        .process_group(0)
        .spawn()
        .unwrap();
    // The chain setsid -> sh -> sleep has settled when the sleep itself is there (setsid's
    // and sh's command lines contain "sleep 30" too, and they exec or exit right after).
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        let found = procs::tagged(&prefix);
        if found.iter().any(|p| p.cmdline == "sleep 30") || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        found
            .iter()
            .any(|p| p.tag == tag && p.cmdline == "sleep 30"),
        "{found:?}"
    );
    assert!(procs::tagged("/no/such/cluster/").is_empty());
    assert!(procs::kill_all(&prefix) >= 1);
    let _ = child.wait();
    assert_eq!(procs::wait_gone(&prefix, Duration::from_secs(5)), vec![]);
}
