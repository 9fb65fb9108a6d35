//! Running one command: the [`CommandRunner`] trait (tests record command lines through it)
//! and the real one, which spawns the process in its own process group with stdin from
//! /dev/null when asked, and kills the whole group at the timeout.
//!
//! Must never: wait without a timeout, or leave a timed-out command's children running.

use drbd_reactor_process::{command_in_path, spawn_group, Waited};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::time::Duration;

/// A command line and how to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub program: String,
    pub args: Vec<String>,
    /// stdin from /dev/null (systemctl, drbdadm, drbdsetup show, journalctl); else inherited.
    pub stdin_null: bool,
    pub timeout: Duration,
}

impl CommandLine {
    pub fn new(program: &str, args: &[&str], timeout: Duration) -> CommandLine {
        CommandLine {
            program: program.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            stdin_null: true,
            timeout,
        }
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    /// Killed by a signal (not by us).
    Signal,
    /// Killed by us at its timeout.
    TimedOut,
    /// Could not be started.
    SpawnFailed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    pub exit: Exit,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    pub fn ok(&self) -> bool {
        self.exit == Exit::Code(0)
    }
    pub fn code(code: i32, stdout: &str) -> CommandOutput {
        CommandOutput {
            exit: Exit::Code(code),
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }
    /// The original's wording for a failed command (errata B), with what we know more.
    pub fn error(&self) -> String {
        match &self.exit {
            Exit::Code(0) => "success".into(),
            Exit::Code(c) => format!("Return code not status success (exit code {c})"),
            Exit::Signal => "Return code not status success (killed by a signal)".into(),
            Exit::TimedOut => "Return code not status success (timed out, killed)".into(),
            Exit::SpawnFailed(e) => format!("Could not execute: {e}"),
        }
    }
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Runs commands. Implementations must not block the calling thread.
pub trait CommandRunner: Send + Sync + 'static {
    fn run(&self, cmd: CommandLine) -> BoxFuture<CommandOutput>;
}

/// Spawns real processes.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessRunner;

impl CommandRunner for ProcessRunner {
    fn run(&self, cmd: CommandLine) -> BoxFuture<CommandOutput> {
        Box::pin(run_process(cmd))
    }
}

/// What is kept of a command's stdout or stderr (`drbdsetup show --json` of a large resource is
/// a few KiB; anything beyond this is not an answer we can use).
const OUTPUT_CAP: u64 = 1 << 20;

async fn read_capped(stream: Option<impl tokio::io::AsyncRead + Unpin>) -> String {
    use tokio::io::AsyncReadExt;
    let Some(mut stream) = stream else {
        return String::new();
    };
    let mut kept = Vec::new();
    let _ = (&mut stream).take(OUTPUT_CAP).read_to_end(&mut kept).await;
    // Read the rest to its end so the command never dies of SIGPIPE.
    let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&kept).into_owned()
}

/// `systemctl` and `journalctl` start with SIGTERM ignored. They only ask PID 1 (or journald)
/// to do something, and `systemctl stop drbd-reactor` sends SIGTERM to every process in the
/// daemon's cgroup (the default `KillMode=control-group`) at the moment the daemon begins its
/// exit actions: `stop-services-on-exit`'s `daemon-reload` died of it, the target's stop then
/// waited for the daemon's own stop job (the before drop-in was still loaded) and systemd
/// killed the daemon 90 s later with the services still running. The timeout still kills them
/// (SIGKILL). Never for `sh -c` (the shell runner's services must keep default signals).
fn survives_sigterm(program: &str) -> bool {
    let name = program.rsplit('/').next().unwrap_or(program);
    matches!(name, "systemctl" | "journalctl")
}

async fn run_process(cmd: CommandLine) -> CommandOutput {
    // A bare name is looked up in our PATH here rather than by posix_spawnp's execvp in the
    // child (which tries every earlier PATH directory first), as the umh runner does.
    let mut c = match std::env::var("PATH") {
        Ok(path) => command_in_path(&cmd.program, &path),
        Err(_) => tokio::process::Command::new(&cmd.program),
    };
    c.args(&cmd.args)
        .stdin(if cmd.stdin_null {
            Stdio::null()
        } else {
            Stdio::inherit()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if survives_sigterm(&cmd.program) {
        // SAFETY: signal(2) is async-signal-safe; this runs in the child between fork and exec.
        unsafe {
            c.pre_exec(|| {
                if libc::signal(libc::SIGTERM, libc::SIG_IGN) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    // A command whose caller gave up on it (a shell start cancelled by a stop, an instance
    // ending) takes its whole group along: `sh -c` must not run on after it. A command that
    // ended by itself leaves its background jobs running (`start = ["my-daemon &"]`).
    let options = drbd_reactor_process::group::Options {
        kill_group_on_drop: true,
        ..Default::default()
    };
    let mut child = match spawn_group(&mut c, options) {
        Ok(child) => child,
        Err(e) => {
            return CommandOutput {
                exit: Exit::SpawnFailed(e.to_string()),
                stdout: String::new(),
                stderr: String::new(),
            }
        }
    };
    let stdout = tokio::spawn(read_capped(child.take_stdout()));
    let stderr = tokio::spawn(read_capped(child.take_stderr()));
    // On timeout the whole group goes: `sh -c` children and systemctl's helpers too.
    let exit = match child.wait_timeout(Some(cmd.timeout)).await {
        Ok(Waited::Exited(status)) => {
            child.keep_group_on_drop();
            match status.code() {
                Some(c) => Exit::Code(c),
                None => Exit::Signal,
            }
        }
        Ok(Waited::TimedOut) => Exit::TimedOut,
        Err(e) => Exit::SpawnFailed(e.to_string()),
    };
    // A killed group's pipes close; a grandchild that left the group could keep them open.
    let grace = std::time::Duration::from_secs(1);
    let stdout = tokio::time::timeout(grace, stdout)
        .await
        .ok()
        .and_then(Result::ok);
    let stderr = tokio::time::timeout(grace, stderr)
        .await
        .ok()
        .and_then(Result::ok);
    CommandOutput {
        exit,
        stdout: stdout.unwrap_or_default(),
        stderr: stderr.unwrap_or_default(),
    }
}
