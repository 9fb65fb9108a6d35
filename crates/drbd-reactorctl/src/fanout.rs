//! Running a command on every node of a cluster context (spec ctl.md §6.3): in parallel,
//! over ssh (the local node directly), each bounded in time, output captured and printed
//! grouped by node. One failing node is reported without hiding the others. Must never
//! interleave nodes' output or wait longer than the timeout for a node.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

use crate::context::{Cluster, Node};

/// What one node did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    /// None = success; else why the node failed.
    pub failure: Option<String>,
}

/// The ssh command line for a remote node: `ssh -o BatchMode=yes [-p P] [opts] user@host --
/// <command> --local <args...>` (the remote part shell-quoted, since ssh hands it to a shell).
pub fn ssh_command(node: &Node, ssh_options: &[String], args: &[String]) -> Vec<String> {
    let mut cmd = vec!["ssh".to_string(), "-o".into(), "BatchMode=yes".into()];
    if let Some(port) = node.port {
        cmd.extend(["-p".into(), port.to_string()]);
    }
    cmd.extend(ssh_options.iter().cloned());
    cmd.push(format!("{}@{}", node.user, node.hostname));
    cmd.push("--".into());
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            shlex::try_quote(a)
                .map(|q| q.into_owned())
                .unwrap_or_else(|_| a.clone())
        })
        .collect();
    cmd.push(format!("{} --local {}", node.command, quoted.join(" ")));
    cmd
}

/// How long a node's output may still come after its command ended or was killed.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// What a background reader has read so far, and whether it reached the end.
type Collected = std::sync::Arc<(std::sync::Mutex<(Vec<u8>, bool)>, std::sync::Condvar)>;

/// Reads `pipe` to its end on a thread of its own, keeping what came as it comes: a node
/// whose command outlives its timeout still shows what it printed before.
fn read_in_background(mut pipe: impl Read + Send + 'static) -> Collected {
    let collected: Collected = Default::default();
    let shared = collected.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            let n = match pipe.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                read => read.unwrap_or(0),
            };
            let (lock, ended) = &*shared;
            let mut got = lock.lock().unwrap_or_else(|e| e.into_inner());
            if n == 0 {
                got.1 = true;
                ended.notify_all();
                return;
            }
            got.0.extend_from_slice(&chunk[..n]);
        }
    });
    collected
}

/// What `collected` holds once its reader ended, or at `until` (what came by then).
fn take_by(collected: &Collected, until: std::time::Instant) -> String {
    let (lock, ended) = &**collected;
    let mut got = lock.lock().unwrap_or_else(|e| e.into_inner());
    while !got.1 {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        got = ended
            .wait_timeout(got, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    String::from_utf8_lossy(&got.0).into_owned()
}

/// What becomes of a node's command that outlives its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AtTimeout {
    /// ssh: killed (the remote command goes on without its reader).
    Kill,
    /// This node's own drbd-reactorctl: left to finish. Killed between two of its steps (a
    /// restart between its renames) it would leave the snippets half done.
    LetFinish,
}

fn run(mut cmd: Command, timeout: Duration, at_timeout: AtTimeout) -> Outcome {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Outcome {
                stdout: String::new(),
                stderr: String::new(),
                failure: Some(format!("could not start: {e}")),
            }
        }
    };
    let out_reader = read_in_background(child.stdout.take().expect("piped"));
    let err_reader = read_in_background(child.stderr.take().expect("piped"));
    let failure = match child.wait_timeout(timeout) {
        Ok(Some(status)) if status.success() => None,
        Ok(Some(status)) => Some(format!("failed ({status})")),
        Ok(None) if at_timeout == AtTimeout::LetFinish => Some(format!(
            "no answer within {} s, stopped waiting (it goes on here to its end; its further output is lost)",
            timeout.as_secs()
        )),
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            Some(format!(
                "no answer within {} s, stopped waiting (what it started may still run there)",
                timeout.as_secs()
            ))
        }
        Err(e) => Some(format!("could not wait: {e}")),
    };
    // A process the command left behind (a pager, a hung systemctl under a killed ssh) can
    // keep a pipe open: its output is given a moment, not waited for.
    let until = std::time::Instant::now() + OUTPUT_GRACE;
    let stdout = take_by(&out_reader, until);
    let stderr = take_by(&err_reader, until);
    Outcome {
        stdout,
        stderr,
        failure,
    }
}

/// Runs `args` (the original arguments) on every node in parallel; results in node order.
pub fn run_all(cluster: &Cluster, args: &[String], local_node: &str) -> Vec<(Node, Outcome)> {
    let timeout = Duration::from_secs(cluster.timeout_secs);
    std::thread::scope(|scope| {
        let handles: Vec<_> = cluster
            .nodes
            .iter()
            .map(|node| {
                let (cmd, at_timeout) = if node.name == local_node || node.hostname == local_node {
                    let exe = std::env::current_exe().unwrap_or_else(|_| "drbd-reactorctl".into());
                    let mut cmd = Command::new(exe);
                    cmd.arg("--local").args(args);
                    (cmd, AtTimeout::LetFinish)
                } else {
                    let line = ssh_command(node, &cluster.ssh_options, args);
                    let mut cmd = Command::new(&line[0]);
                    cmd.args(&line[1..]);
                    (cmd, AtTimeout::Kill)
                };
                scope.spawn(move || (node.clone(), run(cmd, timeout, at_timeout)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("node thread"))
            .collect()
    })
}

/// The header line of a node's group.
pub fn heading(node: &Node) -> String {
    if node.hostname == node.name {
        format!("➞ {}:", node.name)
    } else {
        format!("➞ {} ({}):", node.name, node.hostname)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_command_is_quoted_for_the_remote_shell() {
        let node = Node {
            name: "b".into(),
            hostname: "beta".into(),
            user: "admin".into(),
            port: Some(2222),
            command: "drbd-reactorctl".into(),
        };
        let cmd = ssh_command(
            &node,
            &["-i".into(), "/k".into()],
            &["status".into(), "a b".into()],
        );
        assert_eq!(
            cmd,
            [
                "ssh",
                "-o",
                "BatchMode=yes",
                "-p",
                "2222",
                "-i",
                "/k",
                "admin@beta",
                "--",
                "drbd-reactorctl --local status 'a b'"
            ]
        );
    }

    #[test]
    fn a_command_that_outlives_its_timeout_is_a_failure_with_its_output_kept() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 30"]);
        let outcome = run(cmd, Duration::from_secs(1), AtTimeout::Kill);
        assert_eq!(outcome.stdout, "started\n");
        assert!(outcome.failure.unwrap().contains("within 1 s"));
    }

    /// The local node's run is left to finish past its timeout: what it printed before the
    /// timeout is shown (the reader kept nothing until the end of its pipe).
    #[test]
    fn a_local_run_that_outlives_its_timeout_shows_what_it_printed_before() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 5"]);
        let outcome = run(cmd, Duration::from_secs(1), AtTimeout::LetFinish);
        assert_eq!(outcome.stdout, "started\n");
        assert!(outcome.failure.unwrap().contains("goes on here"));
    }

    /// A process left behind with the node's stdout (a pager, a hung systemctl under a killed
    /// ssh) must not hold ctl past the timeout and the output grace.
    #[test]
    fn a_left_behind_process_holding_the_output_does_not_hold_ctl() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            &format!(
                "echo started; sleep 60 & echo $! > {}; exec sleep 30",
                pidfile.display()
            ),
        ]);
        let began = std::time::Instant::now();
        let outcome = run(cmd, Duration::from_secs(1), AtTimeout::Kill);
        let took = began.elapsed();
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: kill(2) of the test's own background sleep.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert!(outcome.failure.is_some());
        assert!(
            took < Duration::from_secs(20),
            "waited {took:?} for a pipe the background sleep keeps open"
        );
    }
}
