//! The real command runner against real processes: exit codes, output, stdin from /dev/null,
//! the whole process group killed at the timeout, and background jobs of a command that ended by
//! itself left running.

use drbd_reactor_promoter::exec::{CommandLine, CommandRunner, Exit, ProcessRunner};
use std::time::{Duration, Instant};

fn sh(script: &str, timeout: Duration) -> CommandLine {
    CommandLine::new("sh", &["-c", script], timeout)
}

#[tokio::test]
async fn exit_code_and_output_are_reported() {
    let out = ProcessRunner
        .run(sh("echo hi; echo err >&2; exit 3", Duration::from_secs(10)))
        .await;
    assert_eq!(out.exit, Exit::Code(3));
    assert_eq!(out.stdout, "hi\n");
    assert_eq!(out.stderr, "err\n");
    assert!(!out.ok());
    assert!(out.error().starts_with("Return code not status success"));
}

#[tokio::test]
async fn stdin_is_dev_null_when_asked() {
    let out = ProcessRunner
        .run(sh("cat; echo done", Duration::from_secs(10)))
        .await;
    assert_eq!(out.stdout, "done\n");
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_failure() {
    let out = ProcessRunner
        .run(CommandLine::new(
            "/nonexistent/x",
            &[],
            Duration::from_secs(1),
        ))
        .await;
    assert!(matches!(out.exit, Exit::SpawnFailed(_)));
    assert!(out.error().starts_with("Could not execute: "));
}

#[tokio::test]
async fn a_bare_program_name_runs_as_that_name_in_its_own_process_group() {
    // $0, the shell's pid and its process group (field 5 of /proc/PID/stat; comm is "sh").
    let out = ProcessRunner
        .run(sh(
            "echo \"$0 $$ $(cut -d' ' -f5 /proc/$$/stat)\"",
            Duration::from_secs(10),
        ))
        .await;
    assert!(out.ok(), "{out:?}");
    let fields: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(fields.len(), 3, "{}", out.stdout);
    assert_eq!(
        fields[0], "sh",
        "argv[0] stays the bare name: {}",
        out.stdout
    );
    assert_eq!(fields[1], fields[2], "leads its own group: {}", out.stdout);
}

#[tokio::test]
async fn a_bare_name_that_is_nowhere_in_path_is_a_spawn_failure() {
    let out = ProcessRunner
        .run(CommandLine::new(
            "no-such-program-drbd-reactor-test",
            &[],
            Duration::from_secs(1),
        ))
        .await;
    assert!(matches!(out.exit, Exit::SpawnFailed(_)), "{out:?}");
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
    // 2 s: time enough for the script to record its grandchild on a loaded machine.
    let out = ProcessRunner.run(sh(&script, Duration::from_secs(2))).await;
    assert_eq!(out.exit, Exit::TimedOut);
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // The killed grandchild is reaped by init asynchronously: poll.
    while alive(pid) && !is_zombie(pid) {
        assert!(
            Instant::now() < deadline,
            "grandchild {pid} survived the timeout"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `start = ["my-daemon &"]` in a shell runner: the job stays in `sh -c`'s group and keeps
/// its stdout (our pipe); it must outlive the command that started it, as with the original.
#[tokio::test]
async fn a_background_job_of_a_command_that_ended_by_itself_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let (go, done) = (dir.path().join("go"), dir.path().join("done"));
    // The job answers only after the command's run is over (the test creates `go` then).
    let script = format!(
        "(while [ ! -e {go} ]; do sleep 0.01; done; touch {done}) &",
        go = go.display(),
        done = done.display()
    );
    let out = ProcessRunner
        .run(sh(&script, Duration::from_secs(10)))
        .await;
    assert_eq!(out.exit, Exit::Code(0));
    std::fs::write(&go, "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done.exists() {
        assert!(
            Instant::now() < deadline,
            "the background job was killed with its command"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2) == Some("Z"))
        .unwrap_or(true)
}

/// A `systemctl` that gets a SIGTERM while it runs (as every process in drbd-reactor's cgroup
/// does on `systemctl stop drbd-reactor`) finishes its work; `sh -c` keeps default signals.
#[tokio::test]
async fn systemctl_ignores_the_sigterm_meant_for_the_daemon_and_sh_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("systemctl");
    drbd_reactor_process::write_script(&fake, "#!/bin/sh\nkill -TERM $$\necho survived\n").unwrap();
    let out = ProcessRunner
        .run(CommandLine::new(
            fake.to_str().unwrap(),
            &[],
            Duration::from_secs(10),
        ))
        .await;
    assert_eq!(out.exit, Exit::Code(0), "{out:?}");
    assert_eq!(out.stdout, "survived\n");
    let out = ProcessRunner
        .run(sh("kill -TERM $$; echo survived", Duration::from_secs(10)))
        .await;
    assert_eq!(out.exit, Exit::Signal, "{out:?}");
}
