//! Runs one schedule against a fresh real cluster: the daemons start and settle, the steps
//! are applied with their pauses while a sampler checks the continual invariants every
//! 10 ms, every fault is repaired, and then the end-state invariants: exactly one node
//! serves each resource within a deadline and still the same one later, no start loop,
//! every daemon still answering (health file, prometheus), a clean exit on SIGTERM that
//! leaves no run file, status file or drop-in behind, and no process of the cluster left.
//!
//! Must never: sleep to wait for a condition (the pauses are the schedule's own), or let a
//! cluster's processes outlive the run.

use crate::check::{exactly_one, Checker};
use crate::cluster::RealCluster;
use crate::procs;
use crate::schedule::{Fault, Service, Step, NODES, RESOURCES};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// From the start of the daemons (or the repair) until each resource runs on one node.
/// The longest promotion delay here is 3 s (an Inconsistent disk) + 2 s (freeze) plus a
/// resync and the events2 restart delay (2 s); the rest is slack for a loaded machine.
/// A Primary whose stop list failed is demoted by its promoter's next tick (20 s), so a
/// schedule that ends in one needs that much more.
pub const SETTLE_DEADLINE: Duration = Duration::from_secs(45);
/// How long one node per resource must serve before that counts as settled: reactions to
/// faults still in flight at the repair (a quorum loss healed a moment later still stops
/// the services, and another node takes over) settle within it (seed 657).
pub const QUIET: Duration = Duration::from_millis(500);
/// How long the settled state must then stay the same.
pub const STABLE: Duration = Duration::from_millis(1000);
/// How long the processes of a daemon that ended may take to go.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(3);

/// What a schedule did (for the figures).
#[derive(Debug, Default, Clone, Copy)]
pub struct Figures {
    pub samples: usize,
    /// What the operator did during the repair (see [`operator`]).
    pub interventions: usize,
}

/// The faults in force, for the repair.
#[derive(Default)]
struct Broken {
    disks: BTreeSet<(usize, usize)>,
    open: BTreeSet<(usize, usize)>,
    /// Where a stop could fail (a failing service stop, a device held open): the shell
    /// runner's stop list ends at its first failure, so the node may stay Primary.
    failed_stops: BTreeSet<(usize, usize)>,
}

/// Runs `steps`; `Err` carries every violation seen.
pub fn run(steps: &[Step]) -> Result<Figures, Vec<String>> {
    let c = Arc::new(RealCluster::new());
    let result = run_on(&c, steps);
    if result.is_err() {
        keep_logs(&c);
    }
    result
}

fn run_on(c: &Arc<RealCluster>, steps: &[Step]) -> Result<Figures, Vec<String>> {
    let mut violations = Vec::new();
    for n in 0..3 {
        c.start_daemon(n);
    }
    if let Err(e) = wait_settled(c, "at start", &Broken::default(), &mut 0) {
        return Err(vec![e]);
    }

    let checker = Arc::new(Mutex::new(Checker::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (c, checker, stop) = (c.clone(), checker.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                for n in 0..3 {
                    c.daemon_running(n);
                }
                let s = c.sample();
                checker.lock().unwrap().observe(Instant::now(), &s);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    let mut broken = Broken::default();
    for s in steps {
        std::thread::sleep(Duration::from_millis(s.after_ms));
        apply(c, &mut broken, s.fault);
    }
    repair(c, &broken);
    let mut interventions = 0;
    match wait_settled(c, "after the repair", &broken, &mut interventions) {
        Err(e) => violations.push(e),
        Ok(first) => {
            let until = Instant::now() + STABLE;
            while Instant::now() < until {
                match exactly_one(&c.sample()) {
                    Ok(now) if now == first => {}
                    Ok(now) => {
                        violations.push(format!(
                            "settled on {:?}, then moved to {:?} with nothing failing",
                            first.map(|n| NODES[n]),
                            now.map(|n| NODES[n])
                        ));
                        break;
                    }
                    Err(e) => {
                        violations.push(format!("settled, then no longer: {e}"));
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    let figures = {
        let ch = checker.lock().unwrap();
        violations.extend(ch.violations.iter().cloned());
        Figures {
            interventions,
            samples: ch.samples,
        }
    };

    // No start loop: a start per fault step at most, plus the start race and the repair.
    for n in 0..3 {
        for r in 0..RESOURCES.len() {
            let starts = c.starts(n, r);
            if starts > steps.len() + 2 {
                violations.push(format!(
                    "{} started {} {starts} times in {} steps",
                    NODES[n],
                    RESOURCES[r],
                    steps.len()
                ));
            }
        }
    }
    violations.extend(answering(c));
    violations.extend(clean_exit(c, &broken));
    violations.extend(c.died.lock().unwrap().iter().cloned());
    for n in 0..3 {
        let err = c.stderr(n);
        if err.contains("panicked") {
            violations.push(format!("{}'s daemon panicked:\n{err}", NODES[n]));
        }
    }
    if violations.is_empty() {
        Ok(figures)
    } else {
        Err(violations)
    }
}

fn apply(c: &RealCluster, broken: &mut Broken, fault: Fault) {
    let node = |n: usize| NODES[n];
    let res = |r: usize| RESOURCES[r];
    match fault {
        Fault::Crash(n) => c.crash(n),
        Fault::Restart(n) => c.restart(n),
        Fault::Isolate(n) => {
            c.ctl(&["partition", node(n)]);
        }
        Fault::Heal => {
            c.ctl(&["heal"]);
        }
        Fault::Cut(a, b) => {
            c.ctl(&["cut", node(a), node(b)]);
        }
        Fault::Mend(a, b) => {
            c.ctl(&["restore", node(a), node(b)]);
        }
        Fault::Detach(n, r) | Fault::FailDisk(n, r) => {
            let verb = if matches!(fault, Fault::Detach(..)) {
                "detach"
            } else {
                "fail-disk"
            };
            if c.ctl(&[verb, node(n), res(r)]) == 0 {
                broken.disks.insert((n, r));
            }
        }
        Fault::Attach(n, r) => {
            if c.ctl(&["attach", node(n), res(r)]) == 0 {
                broken.disks.remove(&(n, r));
            }
        }
        Fault::HoldOpen(n, r, hold) => {
            let verb = if hold { "open" } else { "close" };
            if c.ctl(&[verb, node(n), res(r)]) == 0 {
                if hold {
                    broken.open.insert((n, r));
                    broken.failed_stops.insert((n, r));
                } else {
                    broken.open.remove(&(n, r));
                }
            }
        }
        Fault::KillStream(n) => {
            c.ctl(&["kill-events2", node(n)]);
        }
        Fault::KillDaemon(n) => {
            c.kill_daemon(n);
        }
        Fault::StartDaemon(n) => c.start_daemon(n),
        Fault::Reload(n, r) => c.reload(n, r),
        Fault::Service(n, r, s) => {
            if s == Service::FailStop {
                broken.failed_stops.insert((n, r));
            }
            c.set_service(n, r, s)
        }
    }
}

/// Every fault undone: services behave, devices let go, links mended, nodes powered on,
/// disks attached, daemons running, `drbdadm adjust all` on every node.
fn repair(c: &RealCluster, broken: &Broken) {
    for n in 0..3 {
        for r in 0..RESOURCES.len() {
            c.set_service(n, r, Service::Normal);
        }
    }
    for &(n, r) in &broken.open {
        c.ctl(&["close", NODES[n], RESOURCES[r]]);
    }
    c.ctl(&["heal"]);
    for n in 0..3 {
        c.restart(n);
    }
    for &(n, r) in &broken.disks {
        c.ctl(&["attach", NODES[n], RESOURCES[r]]);
    }
    for n in 0..3 {
        c.drbdadm(n, &["adjust", "all"]);
    }
}

/// How long a Primary without its service after a failed stop list may last before the
/// operator demotes it: longer than the promoter's tick, which runs the stop list again.
const OPERATOR_AFTER_FAILED_STOP: Duration = Duration::from_secs(25);
/// How long a service left on a Secondary may run before the operator stops it: the
/// restarted daemon finds the shell runner's record and stops it at its first update.
const OPERATOR_AFTER_LEFT_OVER: Duration = Duration::from_secs(5);

/// True once `holds` has held for longer than `bound` since `since` (which then starts over).
fn lasted(since: &mut Option<Instant>, holds: bool, now: Instant, bound: Duration) -> bool {
    if !holds {
        *since = None;
        return false;
    }
    let from = *since.get_or_insert(now);
    if now.duration_since(from) > bound {
        *since = None;
        return true;
    }
    false
}

/// Polls until each resource is served by exactly one node; returns those nodes. Meanwhile
/// the operator repairs what the daemons did not (counted in `interventions`; none expected
/// since the shell runner records its starts and retries failed stops, P36):
/// * a Primary without its service where a stop could fail, for
///   [`OPERATOR_AFTER_FAILED_STOP`]: the operator demotes it;
/// * a service a dead daemon left running on a node that is now a Secondary
///   ([`crate::cluster::NodeRes::left_over`]), for [`OPERATOR_AFTER_LEFT_OVER`]: the
///   operator stops it.
fn wait_settled(
    c: &RealCluster,
    when: &str,
    broken: &Broken,
    interventions: &mut usize,
) -> Result<[usize; 2], String> {
    let deadline = Instant::now() + SETTLE_DEADLINE;
    let mut stuck_since: [[Option<Instant>; 2]; 3] = Default::default();
    let mut left_since: [[Option<Instant>; 2]; 3] = Default::default();
    let mut candidate: Option<([usize; 2], Instant)> = None;
    loop {
        let s = c.sample();
        let now = Instant::now();
        for n in 0..3 {
            for r in 0..RESOURCES.len() {
                let x = s[n][r];
                let stuck = x.up && x.primary && !x.marker && broken.failed_stops.contains(&(n, r));
                if lasted(
                    &mut stuck_since[n][r],
                    stuck,
                    now,
                    OPERATOR_AFTER_FAILED_STOP,
                ) {
                    c.drbdadm(n, &["secondary", RESOURCES[r]]);
                    *interventions += 1;
                }
                let left = x.up && x.left_over && !x.primary;
                if lasted(&mut left_since[n][r], left, now, OPERATOR_AFTER_LEFT_OVER) {
                    c.service(n, r, "stop");
                    *interventions += 1;
                }
            }
        }
        match exactly_one(&s) {
            Ok(nodes) => match candidate {
                Some((c, since)) if c == nodes => {
                    if now.duration_since(since) >= QUIET {
                        return Ok(nodes);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ if now > deadline => {
                    return Err(format!(
                        "{when}: the services kept moving for {SETTLE_DEADLINE:?}: now on {:?}",
                        nodes.map(|n| NODES[n])
                    ))
                }
                _ => candidate = Some((nodes, now)),
            },
            Err(e) if Instant::now() > deadline => {
                return Err(format!(
                    "{when}: not exactly one node serving within {SETTLE_DEADLINE:?}: {e}; {s:?}"
                ))
            }
            Err(_) => {
                candidate = None;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Every daemon answers: its health file names it and says events2 runs with its dump
/// applied, and its prometheus endpoint serves the promoter's metrics for both resources,
/// saying it runs the services exactly where they run.
fn answering(c: &RealCluster) -> Vec<String> {
    let mut out = Vec::new();
    let s = c.sample();
    for n in 0..3 {
        let Some(pid) = c.daemon_pid(n) else {
            out.push(format!(
                "{}'s daemon is not running after the repair",
                NODES[n]
            ));
            continue;
        };
        let want_health = format!("pid={pid}\nevents2-running=yes\ninitial-dump-complete=yes\n");
        let wanted: Vec<String> = (0..RESOURCES.len())
            .map(|r| {
                format!(
                    "drbdreactor_promoter_runs_services{{resource=\"{}\"}} {}\n",
                    RESOURCES[r],
                    u8::from(s[n][r].marker)
                )
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let health = std::fs::read_to_string(c.run_dir(n).join("health")).unwrap_or_default();
            let body = scrape(c.port(n));
            let health_ok = health.starts_with(&want_health);
            let metrics_ok = wanted.iter().all(|w| body.contains(w));
            if health_ok && metrics_ok {
                break;
            }
            if Instant::now() > deadline {
                out.push(format!(
                    "{} does not answer: health {health:?} (want {want_health:?}), metrics \
                     {}; want {wanted:?}",
                    NODES[n],
                    if body.is_empty() {
                        "unreachable"
                    } else {
                        "without those lines"
                    }
                ));
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    out
}

fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// SIGTERM to every daemon: each exits 0 in time, removes its run files and promoter
/// status files, wrote no drop-in (the shell runner has none: an empty unit directory is
/// what "no stale drop-in" means here), and no process of the cluster is left.
fn clean_exit(c: &RealCluster, broken: &Broken) -> Vec<String> {
    let mut out = Vec::new();
    for n in 0..3 {
        match c.stop_daemon(n) {
            None => {}
            Some((_, None)) => out.push(format!("{}'s daemon ignored SIGTERM", NODES[n])),
            Some((_, Some(status))) if !status.success() => out.push(format!(
                "{}'s daemon ended with {status} on SIGTERM",
                NODES[n]
            )),
            Some(_) => {}
        }
        let run = c.run_dir(n);
        let mut stale: Vec<String> = ["health", "config-generation"]
            .iter()
            .filter(|f| run.join(f).exists())
            .map(|f| f.to_string())
            .collect();
        // The shell runner's start records stay with the services they record (P36): one
        // per resource whose service still runs here; one without a service only where a
        // stop list could fail (it is kept until a stop list completes, retried each tick).
        let records = run.join("promoter").join("shell-started");
        for r in 0..RESOURCES.len() {
            let (record, runs) = (records.join(RESOURCES[r]).exists(), c.marker(n, r).exists());
            if runs && !record {
                out.push(format!(
                    "{}: {} runs without the shell runner's record of its start",
                    NODES[n], RESOURCES[r]
                ));
            }
            if runs || broken.failed_stops.contains(&(n, r)) {
                let _ = std::fs::remove_file(records.join(RESOURCES[r]));
            }
        }
        stale.extend(files_under(&run.join("promoter")));
        stale.extend(files_under(&c.units_dir(n)));
        if !stale.is_empty() {
            out.push(format!(
                "{} left after its daemon ended: {stale:?}",
                NODES[n]
            ));
        }
    }
    let left = procs::wait_gone(&c.tag_prefix(None), ORPHAN_GRACE);
    if !left.is_empty() {
        out.push(format!("orphaned processes: {left:?}"));
    }
    out
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

/// Copies the nodes' logs and service call records of a failed run where they survive it.
fn keep_logs(c: &RealCluster) {
    let to = std::env::temp_dir().join(format!(
        "ha-real-failed-{}",
        c.dir.path().file_name().unwrap().to_string_lossy()
    ));
    for n in 0..3 {
        let dest = to.join(NODES[n]);
        let _ = std::fs::create_dir_all(&dest);
        if let Ok(rd) = std::fs::read_dir(c.node_dir(n)) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.ends_with(".log") || name.starts_with("calls-") || name.ends_with(".toml") {
                    let _ = std::fs::copy(e.path(), dest.join(&name));
                }
            }
        }
    }
    eprintln!("logs kept in {}", to.display());
}
