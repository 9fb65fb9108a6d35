//! drbdsetup restarts: the state is reconciled (plugins see only real differences and are
//! not restarted), every reason is logged, and no child outlives the daemon.

mod common;
use common::*;
use std::time::Duration;

const DUMP: &str = "exists resource name:r0 role:Secondary suspended:no force-io-failures:no write-ordering:flush may_promote:no promotion_score:10102
exists device name:r0 volume:0 minor:1000 backing_dev:/dev/vg/r0 disk:UpToDate client:no open:no quorum:yes size:1024 read:0 written:0 al-writes:0 bm-writes:0 upper-pending:0 lower-pending:0 al-suspended:no blocked:no
exists resource name:r1 role:Secondary suspended:no force-io-failures:no write-ordering:flush may_promote:no promotion_score:10102
exists -
";

/// What the last child sees: r0 promoted, r1 gone, r2 new.
const FINAL: &str = "exists resource name:r0 role:Primary suspended:no force-io-failures:no write-ordering:flush may_promote:no promotion_score:10102
exists device name:r0 volume:0 minor:1000 backing_dev:/dev/vg/r0 disk:UpToDate client:no open:yes quorum:yes size:1024 read:0 written:0 al-writes:0 bm-writes:0 upper-pending:0 lower-pending:0 al-suspended:no blocked:no
exists resource name:r2 role:Secondary suspended:no force-io-failures:no write-ordering:flush may_promote:no promotion_score:10102
exists -
";

fn state_dump(daemon: &Daemon, nth: usize) -> String {
    daemon.signal(libc::SIGUSR1);
    daemon.wait_log("main: state:", nth);
    daemon
        .records()
        .into_iter()
        .filter(|r| r.starts_with("DEBUG [drbd_reactor] main: state:"))
        .nth(nth - 1)
        .unwrap()
}

fn debugger_records(daemon: &Daemon) -> Vec<String> {
    daemon
        .records()
        .into_iter()
        .filter(|r| r.starts_with("DEBUG [drbd_reactor::plugin::debugger]"))
        .collect()
}

/// How the stand-ins are killed, in order: at once after their dump, or after they ran for
/// longer than the daemon's healthy run (2 s), which resets the backoff.
const KILLS: [Kill; 8] = [
    Kill::AtOnce,
    Kill::AtOnce,
    Kill::AtOnce,
    Kill::AtOnce,
    Kill::AtOnce,
    Kill::AtOnce,
    Kill::AfterAHealthyRun,
    Kill::AtOnce,
];

#[derive(Clone, Copy, PartialEq)]
enum Kill {
    AtOnce,
    AfterAHealthyRun,
}

#[test]
fn drbdsetup_killed_again_and_again_reconciles_backs_off_and_leaves_no_orphans() {
    let setup = Setup::new();
    setup.write("stream", DUMP);
    setup.write(&format!("stream.{}", KILLS.len() + 1), FINAL);
    let config = setup.config("[[debugger]]\nformat = \"compact\"\n");
    let mut daemon = setup.start(&config);
    daemon.wait_log("initial state: 2 resources", 1);
    wait_for("the debugger to print the dump", || {
        debugger_records(&daemon).len() >= 3
    });
    let after_dump = debugger_records(&daemon).len();
    assert_eq!(after_dump, 3, "{:?}", debugger_records(&daemon));

    for (i, kill) in (1..).zip(KILLS) {
        wait_for("the next stand-in", || setup.pids().len() >= i);
        let started = std::time::Instant::now();
        let pid = setup.pids()[i - 1];
        if i > 1 {
            daemon.wait_log("state reconciled", i - 1);
        }
        if kill == Kill::AfterAHealthyRun {
            // Not a wait for a condition: the run's length is what is tested.
            std::thread::sleep(Duration::from_millis(2500).saturating_sub(started.elapsed()));
        }
        // SAFETY: kill(2) on the stand-in.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        daemon.wait_log("signal: 9 (SIGKILL)", i);
    }
    daemon.wait_log("state reconciled", KILLS.len());
    let log = daemon.log();
    assert_eq!(
        log.matches("starting plugin").count(),
        1,
        "a plugin was restarted"
    );
    assert_eq!(log.matches("ended after").count(), KILLS.len());
    let delays: Vec<&str> = log
        .split("; starting it again in ")
        .skip(1)
        .map(|rest| rest.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        delays,
        ["100ms", "200ms", "400ms", "800ms", "1.6s", "3.2s", "100ms", "200ms"],
        "the backoff grows while children die right after their dump and resets after a \
         healthy run"
    );

    // The identical dumps produced no update; the last one only the real differences.
    wait_for("the debugger to print the differences", || {
        debugger_records(&daemon).len() >= after_dump + 4
    });
    let records = debugger_records(&daemon);
    let after: Vec<&str> = records[after_dump..]
        .iter()
        .map(|r| r.split("] ").nth(1).unwrap())
        .collect();
    assert_eq!(
        after,
        [
            "Resource Destroy r1 promotion-score:10102->0 role:Secondary->Unknown",
            "Resource Change r0 role:Secondary->Primary",
            "Device Change r0 volume:0 open:false->true",
            "Resource Create r2 promotion-score:0->10102 role:Unknown->Secondary",
        ]
    );
    let reconciled = state_dump(&daemon, 1);
    assert!(daemon.stop().success());
    // Killed at the daemon's stop; a killed process exits asynchronously, so poll.
    for pid in setup.pids() {
        wait_for(
            &format!("stand-in {pid} to be gone with the daemon"),
            || process_gone(pid),
        );
    }

    // A fresh start on the final stream has the same state.
    let fresh = Setup::new();
    fresh.write("stream", FINAL);
    let mut daemon = fresh.start(&fresh.config("[[debugger]]\n"));
    daemon.wait_log("initial state: 2 resources", 1);
    assert_eq!(state_dump(&daemon, 1), reconciled);
    assert!(daemon.stop().success());
}

#[test]
fn a_sigkilled_daemon_leaves_no_drbdsetup_behind() {
    let setup = Setup::new();
    setup.write("stream", DUMP);
    let config = setup.config("[[debugger]]\n");
    let mut daemon = setup.start(&config);
    daemon.wait_log("initial state", 1);
    let pid = setup.pids()[0];
    assert!(!process_gone(pid));
    daemon.signal(libc::SIGKILL);
    daemon.wait_exit();
    wait_for("the stand-in to die with its parent", || process_gone(pid));
}

#[test]
fn a_failing_drbdsetup_is_logged_with_status_and_stderr_and_retried_with_growing_delays() {
    let setup = Setup::new();
    setup.write("fail", "");
    let config = setup.config("[[debugger]]\n");
    let mut daemon = setup.start(&config);
    daemon.wait_log(
        "ended after 0 lines: exit status: 20; last stderr lines: stand-in: told to fail",
        3,
    );
    let log = daemon.log();
    assert!(log.contains("starting it again in 100ms"), "{log}");
    assert!(log.contains("starting it again in 200ms"), "{log}");
    assert!(log.contains("starting it again in 400ms"), "{log}");
    // It recovers once drbdsetup works again, without restarting plugins.
    std::fs::remove_file(setup.path("fail")).unwrap();
    setup.write("stream", DUMP);
    daemon.wait_log("initial state: 2 resources", 1);
    assert_eq!(daemon.count("starting plugin"), 1);
    assert!(daemon.stop().success());
}

#[test]
fn events2_is_started_with_full_and_poll_and_asked_for_statistics() {
    let setup = Setup::new();
    setup.write("stream", DUMP);
    let config = setup.config_with("statistics-poll-interval = 1\n", "[[debugger]]\n");
    let mut daemon = setup.start(&config);
    wait_for("a statistics request on stdin", || {
        std::fs::read_to_string(setup.path("stdin")).is_ok_and(|s| s.starts_with("n\n"))
    });
    assert_eq!(
        std::fs::read_to_string(setup.path("args")).unwrap(),
        "events2 --full --poll\n"
    );
    assert!(daemon.stop().success());
}
