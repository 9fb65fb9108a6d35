//! The wrapper binary run directly (no systemd): the test agent from `tests/agents`, a notify
//! socket of our own, signals from the test. Shows what systemd cannot make visible: the
//! whole process group of a hanging agent dies at the timeout, output lines carry their
//! label, a second SIGTERM does not run `stop` again.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const WRAPPER: &str = env!("CARGO_BIN_EXE_ocf-rs-wrapper");
const INVOCATION: &str = "00112233445566778899aabbccddeeff";

struct Setup {
    dir: tempfile::TempDir,
    notify: UnixDatagram,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let notify = UnixDatagram::bind(dir.path().join("notify")).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        std::fs::create_dir(dir.path().join("agent")).unwrap();
        Setup { dir, notify }
    }

    fn agent_dir(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    fn flag(&self, name: &str) {
        std::fs::write(self.agent_dir().join(name), "").unwrap();
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.agent_dir().join("calls")).unwrap_or_default()
    }

    fn command(&self, action: &str, env: &[(&str, &str)]) -> Command {
        let agent = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/test-agent");
        let mut c = Command::new(WRAPPER);
        c.arg(action)
            .arg("ocf.rs@inst_r-0.service")
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("AGENT", agent)
            .env("OCF_ROOT", "/usr/lib/ocf")
            .env("OCF_RESOURCE_INSTANCE", "inst_r\\x2d0")
            .env("TEST_AGENT_DIR", self.agent_dir())
            .env("NOTIFY_SOCKET", self.dir.path().join("notify"))
            .env("INVOCATION_ID", INVOCATION)
            .env("OCF_RS_WRAPPER_RUN_DIR", self.dir.path().join("run"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Notifications until one contains `needle`.
    fn wait_for_notification(&self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = self
                .notify
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("no {needle:?} notification (seen {seen:?}): {e}"));
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            if seen.last().unwrap().contains(needle) {
                return seen;
            }
        }
    }
}

fn wait_with_deadline(mut child: Child, deadline: Duration) -> Output {
    let end = Instant::now() + deadline;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("the wrapper did not exit within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} failed");
}

/// A pid that no longer exists or is a zombie (killed, not yet reaped by its new parent).
fn gone(pid: &str) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        if !alive {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_missing_required_variable_exits_1_naming_it() {
    let s = Setup::new();
    let out = s
        .command("start-and-monitor", &[])
        .env_remove("OCF_ROOT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("'OCF_ROOT' has to be set"),
        "{out:?}"
    );
    assert_eq!(s.calls(), "", "the agent ran without its environment");
}

#[test]
fn a_hanging_start_is_killed_with_its_whole_process_group_at_the_timeout() {
    let s = Setup::new();
    s.flag("hang-start");
    let child = s
        .command("start-and-monitor", &[("start_timeout", "1")])
        .spawn()
        .unwrap();
    let out = wait_with_deadline(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "test-agent:inst_r\\x2d0,s-a-m,start: FAILED: no result after 1 s, killed its process group"
        ),
        "{stdout}"
    );
    let grandchild = std::fs::read_to_string(s.agent_dir().join("child.pid")).unwrap();
    assert!(
        gone(grandchild.trim()),
        "the agent's child survived the timeout"
    );
    // The failed start is cleaned up by the agent's stop, here, not after systemd's SIGKILL.
    assert_eq!(s.calls(), "start\nstop\n");
}

/// Polls `cond` until it holds or `deadline` passes.
fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !cond() {
        assert!(Instant::now() < end, "{what}: not within {deadline:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_wrapper_stopped_longer_than_the_monitor_timeout_keeps_the_monitor_it_was_waiting_for() {
    // SIGSTOP/SIGCONT of the wrapper is what `systemctl freeze`/`thaw` does to it (the
    // promoter's on-quorum-loss = "freeze"): its clock runs on, it does not.
    let s = Setup::new();
    let child = s
        .command(
            "start-and-monitor",
            &[("monitor_interval", "1"), ("monitor_timeout", "5")],
        )
        .spawn()
        .unwrap();
    s.wait_for_notification("READY=1");
    s.flag("hold-monitor");
    let held = s.agent_dir().join("monitor-held");
    wait_for("a monitor held", Duration::from_secs(30), || held.exists());
    signal(&child, "STOP");
    // The freeze must outlast the monitor's timeout: time passing is the condition here.
    std::thread::sleep(Duration::from_secs(7));
    signal(&child, "CONT");
    std::fs::remove_file(s.agent_dir().join("hold-monitor")).unwrap();
    let monitors = || s.calls().matches("monitor").count();
    let before = monitors();
    wait_for("two more monitors", Duration::from_secs(30), || {
        monitors() >= before + 2
    });
    signal(&child, "TERM");
    let out = wait_with_deadline(child, Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("FAILED"), "{stdout}");
}

#[test]
fn a_variable_or_argument_that_is_not_utf8_is_named_not_called_missing() {
    use std::os::unix::ffi::OsStrExt;
    let s = Setup::new();
    let bad = std::ffi::OsStr::from_bytes(b"/usr/lib/ocf/\xff");
    let out = s
        .command("start-and-monitor", &[])
        .env("AGENT", bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("environment variable AGENT is not valid UTF-8"),
        "{stderr}"
    );
    let out = s
        .command("start-and-monitor", &[])
        .arg(bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "not a panic (101): {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("an argument is not valid UTF-8"),
        "{stderr}"
    );
}

#[test]
fn an_agent_that_cannot_be_run_is_named_by_its_path() {
    let s = Setup::new();
    let out = s
        .command("start-and-monitor", &[])
        .env("AGENT", "/usr/lib/ocf/resource.d/hearbeat/IPaddr2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "could not run the agent: /usr/lib/ocf/resource.d/hearbeat/IPaddr2: No such file"
        ),
        "{stdout}"
    );
}

#[test]
fn an_inherited_journal_stream_that_is_not_stdout_gets_no_priority_prefixes() {
    let s = Setup::new();
    let out = s
        .command("start-and-monitor", &[("JOURNAL_STREAM", "0:0")])
        .env("AGENT", "/nonexistent/agent")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ERROR [ocf_rs_wrapper]"), "{stdout}");
    assert!(!stdout.contains("<3>"), "{stdout}");
}

#[test]
fn output_past_the_cap_is_announced_when_the_cap_is_reached() {
    let s = Setup::new();
    s.flag("chatty-start");
    let mut child = s.command("start-and-monitor", &[]).spawn().unwrap();
    // Read as it comes (2005 lines fill a pipe).
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    s.wait_for_notification("READY=1");
    signal(&child, "TERM");
    let out = wait_with_deadline(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = reader.join().unwrap();
    assert!(
        stdout.contains("start stdout: 2000\n"),
        "the 2000th line is forwarded"
    );
    assert!(
        !stdout.contains("start stdout: 2001\n"),
        "the cap is 2000 lines"
    );
    let announced = stdout
        .find("2000 lines forwarded; any further output of this call is dropped")
        .expect("the cap is announced");
    assert!(announced > stdout.find("start stdout: 2000\n").unwrap());
}

#[test]
fn agent_output_reaches_stdout_line_by_line_with_its_label_and_sigterm_stops_once() {
    let s = Setup::new();
    let child = s
        .command("start-and-monitor", &[("monitor_interval", "1")])
        .spawn()
        .unwrap();
    let seen = s.wait_for_notification("READY=1");
    assert!(
        seen.contains(
            &"READY=1\nSTATUS=test-agent:inst_r\\x2d0: monitoring every 1 seconds\n".to_string()
        ),
        "{seen:?}"
    );
    s.flag("stop-fails");
    s.flag("hold-stop");
    signal(&child, "TERM");
    s.wait_for_notification("STOPPING=1");
    // The second SIGTERM while the agent's stop runs: it must not start another.
    wait_for(
        "the agent's stop to be held",
        Duration::from_secs(30),
        || s.agent_dir().join("stop-held").exists(),
    );
    signal(&child, "TERM");
    std::fs::remove_file(s.agent_dir().join("hold-stop")).unwrap();
    let out = wait_with_deadline(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1), "a failed stop is a failure");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "INFO [ocf_rs_wrapper] test-agent:inst_r\\x2d0 start stdout: test-agent: started"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("test-agent:inst_r\\x2d0 stop stderr: test-agent: stop refused"),
        "{stdout}"
    );
    assert_eq!(s.calls().matches("stop").count(), 1, "{}", s.calls());

    // ExecStopPost of the same run: reports the failure without calling stop again.
    let post = s
        .command("stop", &[("EXIT_CODE", "exited"), ("EXIT_STATUS", "1")])
        .output()
        .unwrap();
    assert_eq!(post.status.code(), Some(1), "{post:?}");
    assert_eq!(s.calls().matches("stop").count(), 1, "{}", s.calls());
}

/// A wrapper stopped (SIGSTOP, as a cgroup freeze) past its next monitor and sent SIGTERM
/// meanwhile finds both due when it continues: it stops without that monitor.
#[test]
fn sigterm_and_a_monitor_both_due_at_a_thaw_stop_without_the_monitor() {
    let s = Setup::new();
    let child = s
        .command("start-and-monitor", &[("monitor_interval", "1")])
        .spawn()
        .unwrap();
    s.wait_for_notification("READY=1");
    signal(&child, "STOP");
    let stat = format!("/proc/{}/stat", child.id());
    wait_for("the wrapper to be stopped", Duration::from_secs(10), || {
        std::fs::read_to_string(&stat).is_ok_and(|st| st.contains(") T "))
    });
    // A monitor already running finishes on its own; then the calls so far stay as they are.
    wait_for("no agent call running", Duration::from_secs(10), || {
        !std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id()))
            .unwrap_or_default()
            .split_whitespace()
            .any(|pid| !gone(pid))
    });
    let before = s.calls();
    // Past the next monitor's time (1 s interval), as a freeze would be.
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "TERM");
    signal(&child, "CONT");
    let out = wait_with_deadline(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(s.calls(), format!("{before}stop\n"));
}

#[test]
fn stop_after_a_clean_exit_does_nothing_and_otherwise_runs_the_agents_stop() {
    let s = Setup::new();
    let clean = s
        .command("stop", &[("EXIT_CODE", "exited"), ("EXIT_STATUS", "0")])
        .output()
        .unwrap();
    assert_eq!(clean.status.code(), Some(0));
    assert_eq!(s.calls(), "");
    let after_kill = s
        .command("stop", &[("EXIT_CODE", "killed"), ("EXIT_STATUS", "KILL")])
        .output()
        .unwrap();
    assert_eq!(after_kill.status.code(), Some(0), "{after_kill:?}");
    assert_eq!(s.calls(), "stop\n");
}
