//! Running umh commands as real processes: timeouts kill the whole group, the concurrency limit
//! holds, environment values never reach the shell text, output floods are cut, stop is bounded.

use drbd_reactor_umh::matcher::Invocation;
use drbd_reactor_umh::runner::*;
use std::sync::atomic::Ordering;

fn inv(name: &str, command: &str, timeout: Option<u64>, env: &[(&str, &str)]) -> Invocation {
    Invocation {
        rule_name: name.into(),
        command: command.into(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        timeout_secs: timeout,
    }
}

#[tokio::test]
async fn a_hanging_command_is_killed_with_its_group_while_other_rules_keep_running() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let mut r = Runner::new(None);
    // The hanging rule starts a grandchild that would outlive a plain kill of the shell.
    r.submit(inv(
        "hang",
        &format!("sleep 300 & echo $! > {d}/grandchild; wait"),
        Some(1),
        &[("PATH", "/bin:/usr/bin")],
    ));
    for i in 0..5 {
        r.submit(inv(
            "quick",
            &format!("touch {d}/quick-{i}"),
            None,
            &[("PATH", "/bin:/usr/bin")],
        ));
    }
    r.drain().await;
    for i in 0..5 {
        assert!(dir.path().join(format!("quick-{i}")).exists());
    }
    assert_eq!(r.counters.timeouts.load(Ordering::Relaxed), 1);
    let grandchild: i32 = std::fs::read_to_string(dir.path().join("grandchild"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Killed means gone or a zombie (this machine's PID 1 may not reap orphans at once).
    let running = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next())
                    != Some("Z")
            })
            .unwrap_or(false)
    };
    // The group is killed before drain returns, but a killed process exits asynchronously:
    // poll with a deadline (it failed once on a loaded machine when checked at once).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running(grandchild) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        !running(grandchild),
        "the sleep started by the timed-out command survived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_commands_under_a_limit_of_four_never_overlap_more_and_none_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let mut r = Runner::new(Some(4));
    // Each command records how many run at once (mkdir is atomic), then leaves a mark.
    let script = format!(
        "n=0; while ! mkdir {d}/slot-$n 2>/dev/null; do n=$((n+1)); done; \
         echo $n >> {d}/slots; touch {d}/done-$I; rmdir {d}/slot-$n"
    );
    for i in 0..1000 {
        r.submit(inv(
            "many",
            &script,
            None,
            &[("PATH", "/bin:/usr/bin"), ("I", &i.to_string())],
        ));
    }
    r.drain().await;
    let done = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("done-")
        })
        .count();
    assert_eq!(done, 1000, "every queued command ran");
    let max_slot = std::fs::read_to_string(dir.path().join("slots"))
        .unwrap()
        .lines()
        .map(|l| l.parse::<u32>().unwrap())
        .max()
        .unwrap();
    assert!(max_slot < 4, "{} commands ran at once", max_slot + 1);
    assert_eq!(r.counters.runs.load(Ordering::Relaxed), 1000);
    assert_eq!(r.counters.failures.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn commands_see_only_their_environment_and_values_never_reach_the_shell_text() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env");
    let evil = "r0; touch /tmp/should-not-exist-umh";
    let outcome = run(&inv(
        "env",
        &format!("env > {}", out.display()),
        None,
        &[("PATH", "/bin:/usr/bin"), ("DRBD_RES_NAME", evil)],
    ))
    .await
    .outcome;
    assert_eq!(outcome, Outcome::Exited(0));
    let env = std::fs::read_to_string(&out).unwrap();
    assert!(env.contains(&format!("DRBD_RES_NAME={evil}")));
    assert!(!env.contains("HOME="), "the environment is cleared: {env}");
    assert!(!std::path::Path::new("/tmp/should-not-exist-umh").exists());
}

#[tokio::test]
async fn exit_codes_are_reported() {
    assert_eq!(
        run(&inv("fail", "exit 3", None, &[])).await.outcome,
        Outcome::Exited(3)
    );
}

#[tokio::test]
async fn a_command_that_prints_non_utf8_bytes_keeps_running_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("done");
    let outcome = run(&inv(
        "latin1",
        &format!(
            r#"printf "caf\351\n"; sleep 1; echo after; touch {}"#,
            done.display()
        ),
        Some(30),
        &[("PATH", "/bin:/usr/bin")],
    ))
    .await
    .outcome;
    // A reader that stopped at the bad byte closed the pipe: the next write killed sh (SIGPIPE)
    // before it could touch the file.
    assert_eq!(outcome, Outcome::Exited(0));
    assert!(done.exists(), "the command did not get to its end");
}

/// The peak resident memory of this test process, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_100_mb_line_of_output_is_cut_and_the_command_keeps_running() {
    let before = peak_rss_kib();
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("done");
    let outcome = run(&inv(
        "flood",
        &format!(
            "head -c 104857600 /dev/zero | tr '\\0' x; echo; echo after; touch {}",
            done.display()
        ),
        Some(120),
        &[("PATH", "/bin:/usr/bin")],
    ))
    .await
    .outcome;
    assert_eq!(outcome, Outcome::Exited(0));
    assert!(done.exists());
    let grew = peak_rss_kib() - before;
    assert!(
        grew < 50 * 1024,
        "the line was kept: peak RSS grew by {grew} KiB"
    );
}

#[tokio::test]
async fn stop_waits_for_a_command_without_timeout_only_for_the_grace_then_kills_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let mut r = Runner::new(None);
    r.submit(inv(
        "forever",
        &format!("sleep 100031 & echo $! > {d}/grandchild; wait"),
        None,
        &[("PATH", "/bin:/usr/bin")],
    ));
    r.submit(inv(
        "quick",
        &format!("sleep 0.2; touch {d}/quick"),
        Some(30),
        &[("PATH", "/bin:/usr/bin")],
    ));
    let pidfile = dir.path().join("grandchild");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !pidfile.exists() {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    r.stop(std::time::Duration::from_millis(500)).await;
    assert_eq!(r.pending(), 0);
    assert!(
        dir.path().join("quick").exists(),
        "a command with a timeout ran to its end"
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next())
                    == Some("Z")
            })
            .unwrap_or(true)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !gone(pid) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(gone(pid), "sleep 100031 outlived the stop");
}

#[tokio::test]
async fn a_command_is_started_as_sh_leading_its_own_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("who");
    // $0, the shell's pid and its process group (field 5 of /proc/PID/stat; comm is "sh").
    let script = format!(
        "echo \"$0 $$ $(cut -d' ' -f5 /proc/$$/stat)\" > {}",
        out.display()
    );
    let outcome = run(&inv(
        "who",
        &script,
        None,
        &[("PATH", "/sbin:/usr/sbin:/bin:/usr/bin")],
    ))
    .await
    .outcome;
    assert_eq!(outcome, Outcome::Exited(0));
    let who = std::fs::read_to_string(&out).unwrap();
    let fields: Vec<&str> = who.split_whitespace().collect();
    assert_eq!(fields.len(), 3, "{who}");
    assert_eq!(fields[0], "sh", "argv[0] stays the bare name: {who}");
    assert_eq!(fields[1], fields[2], "the shell leads its own group: {who}");
}

#[tokio::test]
async fn sh_is_looked_up_in_the_commands_own_path_first_directory_wins() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let marker = dir.path().join("fake-sh-ran");
    let fake = bin.join("sh");
    let text = format!("#!/bin/sh\necho \"$0\" > {}\n", marker.display());
    drbd_reactor_process::write_script(&fake, &text).unwrap();
    let path = format!("{}:/bin:/usr/bin", bin.display());
    let outcome = run(&inv("fake", "true", None, &[("PATH", &path)]))
        .await
        .outcome;
    assert_eq!(outcome, Outcome::Exited(0));
    // The kernel ran the fake through its #! line: its $0 is the path that was executed.
    let ran = std::fs::read_to_string(&marker).expect("the sh of the command's PATH ran");
    assert_eq!(ran.trim(), fake.display().to_string());
}

/// `max-concurrent = 1` is how handlers are serialised: a Primary -> Secondary -> Primary
/// burst must run its commands in the order the changes came, on the daemon's multi-thread
/// runtime too (where the task spawned last is polled first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_limit_waiting_commands_start_in_the_order_they_were_submitted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("order");
    let mut r = Runner::new(Some(1));
    for i in 0..40 {
        r.submit(inv(
            "ordered",
            &format!("echo {i} >> {}", log.display()),
            None,
            &[("PATH", "/bin:/usr/bin")],
        ));
    }
    r.drain().await;
    let order: Vec<u32> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(order, (0..40).collect::<Vec<u32>>());
}

/// Handlers without a timeout that hang (I/O suspended) held every later command of the
/// instance in an unbounded queue, with nothing to show it: past MAX_WAITING, matches are
/// dropped and counted.
#[tokio::test]
async fn past_max_waiting_commands_matches_are_dropped_and_counted() {
    let mut r = Runner::new(Some(1));
    r.submit(inv(
        "hang",
        "exec sleep 300",
        None,
        &[("PATH", "/bin:/usr/bin")],
    ));
    for _ in 0..MAX_WAITING + 500 {
        r.submit(inv("later", "true", None, &[("PATH", "/bin:/usr/bin")]));
    }
    // Nothing ran yet (no await since): the hanging one waits too, and exactly MAX_WAITING
    // were queued in all.
    assert_eq!(r.waiting(), MAX_WAITING);
    assert_eq!(r.pending(), MAX_WAITING);
    assert_eq!(r.counters.dropped.load(Ordering::Relaxed), 501);
    r.stop(std::time::Duration::from_millis(100)).await;
    assert_eq!(r.waiting(), 0);
}

/// `drbdreactor_umh_runs_total` says "started": a long command counts while it runs, and a
/// command whose shell could not start does not count.
#[tokio::test]
async fn a_run_counts_when_its_shell_starts_not_when_it_ends() {
    let mut r = Runner::new(None);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    r.submit(inv(
        "long",
        &format!("touch {}; exec sleep 300", marker.display()),
        None,
        &[("PATH", "/bin:/usr/bin")],
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !marker.exists() {
        assert!(std::time::Instant::now() < deadline, "never started");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(r.counters.runs.load(Ordering::Relaxed), 1);
    r.stop(std::time::Duration::from_millis(100)).await;
    let mut r = Runner::new(None);
    r.submit(inv("nosh", "true", None, &[("PATH", "/nonexistent")]));
    r.drain().await;
    assert_eq!(r.counters.runs.load(Ordering::Relaxed), 0);
    assert_eq!(r.counters.failures.load(Ordering::Relaxed), 1);
}
