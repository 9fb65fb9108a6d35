//! Running one command: the [`CommandRunner`] trait (tests record command lines through it)
//! and the real one, which spawns the process in its own process group with stdin from
//! /dev/null when asked, and kills the whole group at the timeout.
//!
//! Must never: wait without a timeout, or leave a timed-out command's children running.

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

async fn run_process(cmd: CommandLine) -> CommandOutput {
    let mut c = tokio::process::Command::new(&cmd.program);
    c.args(&cmd.args)
        .stdin(if cmd.stdin_null {
            Stdio::null()
        } else {
            Stdio::inherit()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = match c.spawn() {
        Ok(child) => child,
        Err(e) => {
            return CommandOutput {
                exit: Exit::SpawnFailed(e.to_string()),
                stdout: String::new(),
                stderr: String::new(),
            }
        }
    };
    let pid = child.id();
    match tokio::time::timeout(cmd.timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => CommandOutput {
            exit: match out.status.code() {
                Some(c) => Exit::Code(c),
                None => Exit::Signal,
            },
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Ok(Err(e)) => CommandOutput {
            exit: Exit::SpawnFailed(e.to_string()),
            stdout: String::new(),
            stderr: String::new(),
        },
        Err(_) => {
            if let Some(pid) = pid {
                // The whole group: `sh -c` children and systemctl's helpers too.
                // SAFETY: kill(2) with a negative pid signals the group we created.
                unsafe {
                    libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
                }
            }
            CommandOutput {
                exit: Exit::TimedOut,
                stdout: String::new(),
                stderr: String::new(),
            }
        }
    }
}
