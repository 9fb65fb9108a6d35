//! Issue 12 item 4 end to end: three real drbd-reactor daemons on the simulator, one
//! `[[promoter]]` r0 with the shell runner (tests/ha). The active node crashes 0.5–2 s after
//! the start race; on the survivor that takes over this prints
//! (a) `may_promote` seen (its "may promote after" decision line) to its first start command
//!     (its "system: sh -c drbdadm primary r0" line), both timestamped as they arrive on the
//!     daemon's stderr pipe;
//! (b) crash to service running (its marker file appears; polled every 1 ms);
//! (c) crash to the decision line (how long the crash took to reach the survivor's policy).
//! 20 runs; median and worst. Not a test: nothing is asserted on the figures.
//! `cargo bench -p drbd-sim --bench failover` (release daemon) or
//! `cargo test -p drbd-sim --bench failover` (debug daemon).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/ha/mod.rs"]
mod ha;

use ha::{HaCluster, NODES};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Lines = Arc<Mutex<Vec<(String, String, Instant)>>>;

struct Run {
    decision_to_command: Duration,
    crash_to_running: Duration,
    crash_to_decision: Duration,
}

fn first_line(lines: &Lines, node: &str, text: &str, after: Instant) -> Option<Instant> {
    lines
        .lock()
        .unwrap()
        .iter()
        .find(|(n, l, t)| n == node && *t >= after && l.contains(text))
        .map(|(_, _, t)| *t)
}

fn one_run(i: usize) -> Run {
    let lines: Lines = Arc::default();
    let sink = lines.clone();
    let c = HaCluster::new("on-quorum-loss = \"shutdown\"").with_line_callback(
        move |node, line, at| {
            sink.lock()
                .unwrap()
                .push((node.to_string(), line.to_string(), at))
        },
    );
    c.start_all();
    let active = c.wait_exactly_one("start");
    // Crash a little after the start race (the original is rate-limited for 20 s here).
    let settle = Duration::from_millis(500 + 500 * (i as u64 % 4));
    let until = Instant::now() + settle;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    let crashed_at = Instant::now();
    c.crash(active);
    let deadline = crashed_at + ha::DEADLINE;
    let (survivor, running_at) = loop {
        if let Some(n) = NODES.iter().find(|n| **n != active && c.marker(n).exists()) {
            break (*n, Instant::now());
        }
        assert!(Instant::now() < deadline, "no takeover: {:?}", c.sample());
        std::thread::sleep(Duration::from_millis(1));
    };
    // The lines may arrive a moment after the marker (pipe, reader thread).
    let (decided, command) = loop {
        let d = first_line(&lines, survivor, "may promote after", crashed_at);
        let cmd = d.and_then(|d| first_line(&lines, survivor, "system: sh -c drbdadm primary", d));
        if let (Some(d), Some(cmd)) = (d, cmd) {
            break (d, cmd);
        }
        assert!(
            Instant::now() < deadline,
            "{survivor} never logged its decision"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    Run {
        decision_to_command: command - decided,
        crash_to_running: running_at - crashed_at,
        crash_to_decision: decided - crashed_at,
    }
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let median = v[v.len() / 2];
    let worst = v[v.len() - 1];
    println!(
        "{name:<48} median {:>9.3} ms   worst {:>9.3} ms",
        median.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --bench` passes nothing else we use.
    const RUNS: usize = 20;
    let mut runs = Vec::new();
    for i in 0..RUNS {
        let r = one_run(i);
        eprintln!(
            "run {i:>2}: decision->command {:?}, crash->running {:?}",
            r.decision_to_command, r.crash_to_running
        );
        runs.push(r);
    }
    println!(
        "failover on the simulator, {RUNS} runs (3 nodes, shell runner, crash of the active node):"
    );
    summary(
        "(a) may_promote decision -> first start command",
        runs.iter().map(|r| r.decision_to_command).collect(),
    );
    summary(
        "(b) crash -> service running on the survivor",
        runs.iter().map(|r| r.crash_to_running).collect(),
    );
    summary(
        "(c) crash -> may_promote decision on the survivor",
        runs.iter().map(|r| r.crash_to_decision).collect(),
    );
}
