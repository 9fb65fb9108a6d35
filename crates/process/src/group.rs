//! A child process in a process group of its own, so that it and everything it starts can be
//! signalled together: `sh -c` scripts that fork, drbdsetup, OCF agents, systemctl.
//!
//! Must never: signal group 0 or any group it did not create, or wait for ever: a timed-out
//! wait kills the group and reaps the leader, and a leader that SIGKILL cannot end (asleep in
//! the kernel, uninterruptibly: hung NFS, blocked I/O) is left to tokio's reaper after
//! [`REAP_GRACE`] instead of holding its caller.

use rustix::process::{kill_process_group, Pid, Signal};
use std::io;
use std::process::ExitStatus;
use std::time::Duration;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    Exited(ExitStatus),
    /// The deadline passed: the whole group was killed and the child reaped (or, if it did
    /// not die within [`REAP_GRACE`], left to be reaped when it does).
    TimedOut,
}

/// How long a leader killed at its deadline may take to die before the wait returns anyway.
pub const REAP_GRACE: Duration = Duration::from_secs(10);

/// Waits for `exit` (a killed leader's) at most `grace`; true if it came.
async fn reaped_within<F: std::future::Future>(exit: F, grace: Duration) -> bool {
    tokio::time::timeout(grace, exit).await.is_ok()
}

/// Spawn options.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The child gets SIGKILL when the spawning thread ends (`PR_SET_PDEATHSIG`), so a daemon
    /// killed with SIGKILL leaves no child behind. Spawn from a long-lived thread (a tokio
    /// worker, not a `spawn_blocking` thread, which ends when idle; and a worker stays one
    /// only as long as nothing calls `block_in_place` on it, which clippy.toml forbids).
    pub die_with_parent: bool,
    /// Dropping the [`GroupChild`] kills its whole group (for children that must not outlive
    /// their owner, like drbdsetup). Otherwise only an unfinished leader is killed on drop.
    pub kill_group_on_drop: bool,
}

/// A running child that leads its own process group.
#[derive(Debug)]
pub struct GroupChild {
    child: Child,
    group: Pid,
    kill_group_on_drop: bool,
}

/// Spawns `cmd` as the leader of a new process group.
pub fn spawn_group(cmd: &mut Command, options: Options) -> io::Result<GroupChild> {
    cmd.process_group(0).kill_on_drop(true);
    if options.die_with_parent {
        let parent = rustix::process::getpid();
        // SAFETY: prctl and getppid are async-signal-safe; nothing else runs between fork
        // and exec.
        unsafe {
            cmd.pre_exec(move || {
                rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
                // A parent that died between the fork and the prctl sent no signal: the
                // child must not run on as an orphan.
                if rustix::process::getppid() != Some(parent) {
                    return Err(io::Error::other("the parent died before the child started"));
                }
                Ok(())
            });
        }
    }
    let child = cmd.spawn()?;
    let group = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::other("spawned child has no process id"))?;
    Ok(GroupChild {
        child,
        group,
        kill_group_on_drop: options.kill_group_on_drop,
    })
}

impl GroupChild {
    /// The leader's pid, which is also the group id.
    pub fn pid(&self) -> u32 {
        self.group.as_raw_nonzero().get() as u32
    }

    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Sends `signal` to every process of the group. A group that is already gone is fine.
    pub fn signal_group(&self, signal: Signal) -> io::Result<()> {
        match kill_process_group(self.group, signal) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The leader exited as it should and what it started may outlive it (a shell's
    /// background job): dropping no longer kills the group.
    pub fn keep_group_on_drop(&mut self) {
        self.kill_group_on_drop = false;
    }

    /// SIGKILL to the whole group.
    pub fn kill_group(&self) {
        let _ = self.signal_group(Signal::KILL);
    }

    /// Waits for the leader to exit.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Waits for the leader at most `timeout` (`None`: for ever); past it the group is killed
    /// and the leader reaped.
    pub async fn wait_timeout(&mut self, timeout: Option<Duration>) -> io::Result<Waited> {
        let Some(timeout) = timeout else {
            return self.child.wait().await.map(Waited::Exited);
        };
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.map(Waited::Exited),
            Err(_) => {
                self.kill_group();
                reaped_within(self.child.wait(), REAP_GRACE).await;
                Ok(Waited::TimedOut)
            }
        }
    }

    /// SIGTERM to the group, then SIGKILL to the group if the leader has not exited within
    /// `grace`.
    pub async fn terminate(&mut self, grace: Duration) -> io::Result<Waited> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(Waited::Exited(status));
        }
        self.signal_group(Signal::TERM)?;
        self.wait_timeout(Some(grace)).await
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        if self.kill_group_on_drop {
            self.kill_group();
        }
        // Otherwise tokio's kill_on_drop ends an unfinished leader.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;
    use std::time::Instant;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script).stdin(Stdio::null());
        c
    }

    /// Polls until `pid` no longer exists (a killed process exits asynchronously).
    async fn gone(pid: u32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false);
            if !alive {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    async fn grandchild_pid(dir: &std::path::Path) -> u32 {
        let f = dir.join("pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(s) = std::fs::read_to_string(&f) {
                if let Ok(p) = s.trim().parse() {
                    return p;
                }
            }
            assert!(Instant::now() < deadline, "grandchild never wrote its pid");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_killed_leader_that_never_dies_holds_the_wait_only_for_the_reap_grace() {
        // What a leader asleep in the kernel looks like to the wait: an exit that never comes.
        let began = tokio::time::Instant::now();
        assert!(!reaped_within(std::future::pending::<()>(), REAP_GRACE).await);
        assert_eq!(began.elapsed(), REAP_GRACE);
        assert!(reaped_within(async {}, REAP_GRACE).await);
    }

    #[tokio::test]
    async fn the_child_leads_its_own_group() {
        // Unreaped, the child's /proc entry stays (a zombie) until the wait below.
        let mut c = spawn_group(&mut sh("exit 0"), Options::default()).unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", c.pid())).unwrap();
        c.wait().await.unwrap();
        let after = stat.rsplit(") ").next().unwrap();
        let pgrp: u32 = after.split(' ').nth(2).unwrap().parse().unwrap();
        assert_eq!(pgrp, c.pid());
    }

    #[tokio::test]
    async fn a_timed_out_wait_kills_the_whole_group_and_reaps_the_leader() {
        let dir = tempfile::tempdir().unwrap();
        let script = format!("sleep 300 & echo $! > {}/pid; wait", dir.path().display());
        let mut c = spawn_group(&mut sh(&script), Options::default()).unwrap();
        let grandchild = grandchild_pid(dir.path()).await;
        let waited = c
            .wait_timeout(Some(Duration::from_millis(50)))
            .await
            .unwrap();
        assert_eq!(waited, Waited::TimedOut);
        assert!(gone(grandchild).await, "sleep 300 survived the group kill");
    }

    #[tokio::test]
    async fn a_child_that_ends_in_time_reports_its_status() {
        let mut c = spawn_group(&mut sh("exit 7"), Options::default()).unwrap();
        match c.wait_timeout(Some(Duration::from_secs(10))).await.unwrap() {
            Waited::Exited(s) => assert_eq!(s.code(), Some(7)),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn terminate_lets_a_child_handle_sigterm_before_the_kill() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("termed");
        let script = format!(
            "trap 'touch {}; exit 3' TERM; echo $$ > {}/pid; while :; do sleep 0.01; done",
            marker.display(),
            dir.path().display()
        );
        let mut c = spawn_group(&mut sh(&script), Options::default()).unwrap();
        grandchild_pid(dir.path()).await;
        let waited = c.terminate(Duration::from_secs(10)).await.unwrap();
        assert!(
            matches!(waited, Waited::Exited(s) if s.code() == Some(3)),
            "{waited:?}"
        );
        assert!(marker.exists());
    }

    #[tokio::test]
    async fn terminate_kills_a_child_that_ignores_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            "trap '' TERM; echo $$ > {}/pid; while :; do sleep 0.01; done",
            dir.path().display()
        );
        let mut c = spawn_group(&mut sh(&script), Options::default()).unwrap();
        let shell = grandchild_pid(dir.path()).await;
        let waited = c.terminate(Duration::from_millis(100)).await.unwrap();
        assert_eq!(waited, Waited::TimedOut);
        assert!(gone(shell).await, "the child that ignored SIGTERM survived");
    }

    #[tokio::test]
    async fn dropping_a_kill_on_drop_child_kills_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let script = format!("sleep 300 & echo $! > {}/pid; wait", dir.path().display());
        let opts = Options {
            kill_group_on_drop: true,
            die_with_parent: true,
        };
        let c = spawn_group(&mut sh(&script), opts).unwrap();
        let grandchild = grandchild_pid(dir.path()).await;
        drop(c);
        assert!(gone(grandchild).await, "sleep 300 survived the drop");
    }

    #[tokio::test]
    async fn a_group_kept_on_drop_keeps_the_job_its_leader_left_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let (go, done) = (dir.path().join("go"), dir.path().join("done"));
        // The job answers only after the drop (the test creates `go` then).
        let script = format!(
            "(while [ ! -e {go} ]; do sleep 0.01; done; touch {done}) &",
            go = go.display(),
            done = done.display()
        );
        let opts = Options {
            kill_group_on_drop: true,
            die_with_parent: false,
        };
        let mut c = spawn_group(&mut sh(&script), opts).unwrap();
        assert!(c.wait().await.unwrap().success());
        c.keep_group_on_drop();
        drop(c);
        std::fs::write(&go, "").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done.exists() {
            assert!(Instant::now() < deadline, "the background job was killed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn signalling_a_group_that_is_gone_is_not_an_error() {
        let mut c = spawn_group(&mut sh("exit 0"), Options::default()).unwrap();
        c.wait().await.unwrap();
        assert!(gone(c.pid()).await);
        c.signal_group(Signal::TERM).unwrap();
    }
}
