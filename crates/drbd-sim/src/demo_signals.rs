//! The demo's exit on SIGTERM and SIGINT: the daemons it started are stopped (SIGTERM, then
//! reaped) and its temporary directory removed, instead of the three daemons being left
//! running. Each daemon also gets PR_SET_PDEATHSIG, so even a SIGKILLed demo stops them.
//! Must never: kill a process the demo did not start (only registered pids are signalled).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The pids of the running daemons, for the signal thread.
static DAEMONS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Makes `cmd`'s process receive SIGTERM when the demo's thread that spawned it ends, with
/// SIGTERM and SIGINT unblocked again (a signal mask survives exec: blocked, the daemon would
/// never see its stop signal).
pub fn stop_with_parent(cmd: &mut Command) {
    let set = sigset();
    // SAFETY: prctl and pthread_sigmask are async-signal-safe; nothing else runs between fork
    // and exec here.
    unsafe {
        cmd.pre_exec(move || {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

pub fn started(pid: u32) {
    DAEMONS.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
}

pub fn stopped(pid: u32) {
    DAEMONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|p| *p != pid);
}

fn sigset() -> libc::sigset_t {
    // SAFETY: plain initialisation of a local sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Blocks SIGTERM and SIGINT in this thread and every thread started after it, and starts the
/// thread that waits for them. Call before any other thread exists. `dir`: removed on a signal.
pub fn install(dir: Option<PathBuf>) {
    let set = sigset();
    // SAFETY: changes this thread's mask only; threads spawned later inherit it.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    std::thread::spawn(move || {
        let mut sig: libc::c_int = 0;
        // SAFETY: waits for one of the blocked signals.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            return;
        }
        let pids = DAEMONS.lock().unwrap_or_else(|e| e.into_inner()).clone();
        eprintln!(
            "\ndrbd-sim demo: signal {sig}: stopping {} daemons",
            pids.len()
        );
        for pid in &pids {
            // SAFETY: a pid of our own, not yet reaped child.
            unsafe { libc::kill(*pid as libc::pid_t, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut left = pids;
        while !left.is_empty() && Instant::now() < deadline {
            // SAFETY: reaps our own children without blocking.
            left.retain(|pid| unsafe {
                libc::waitpid(*pid as libc::pid_t, std::ptr::null_mut(), libc::WNOHANG) == 0
            });
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in &left {
            // SAFETY: as above; the daemon did not stop in time.
            unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
        }
        if let Some(dir) = dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        std::process::exit(128 + sig);
    });
}
