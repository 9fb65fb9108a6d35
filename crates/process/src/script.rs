//! Writing an executable file that a child runs right after, without "Text file busy".
//!
//! Why: `execve` fails with `ETXTBSY` while any process holds the file open for writing. A
//! multi-threaded process (a test binary running tests in parallel, a daemon with workers)
//! that writes a script itself holds that descriptor for a moment; a child forked by another
//! thread in that moment keeps a copy of it until its own `exec`, so even a spawn after the
//! write was closed can fail. Here the file is written by a child (`sh` + `cat`) fed through a
//! pipe: no descriptor on the file ever exists in the caller, so none can be inherited, and
//! the writer has exited (and closed it) before this returns.
//!
//! Must never: return before the file is complete and executable, or leave the writer running.

use std::io::{self, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Writes `text` to `path` with mode 0755, through a child process: into `path.tmp`, then
/// renamed over `path` (a shell still running the old script keeps reading the old file).
pub fn write_script(path: &Path, text: &str) -> io::Result<()> {
    let mut writer = Command::new("/bin/sh")
        .args([
            "-c",
            "cat > \"$1.tmp\" && chmod 0755 \"$1.tmp\" && mv -f \"$1.tmp\" \"$1\"",
            "sh",
        ])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()?;
    let fed = writer
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes());
    // the pipe is closed here (the handle was moved out and dropped), so `cat` sees its end
    let status = writer.wait()?;
    // A writer that failed (a missing directory) may have exited before we wrote: its exit
    // status names the path, the broken pipe would not.
    if !status.success() {
        return Err(io::Error::other(format!(
            "writing {} failed: the writer {status}",
            path.display()
        )));
    }
    fed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_written_script_has_its_text_and_mode_and_runs_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello");
        write_script(&path, "#!/bin/sh\necho hello \"$1\"\n").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        let out = Command::new(&path).arg("there").output().unwrap();
        assert_eq!(out.stdout, b"hello there\n");
        // replacing it keeps the mode and the new text
        write_script(&path, "#!/bin/sh\necho again\n").unwrap();
        let out = Command::new(&path).output().unwrap();
        assert_eq!(out.stdout, b"again\n");
    }

    #[test]
    fn a_script_in_a_missing_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing/hello");
        let err = write_script(&path, "#!/bin/sh\n").unwrap_err();
        assert!(err.to_string().contains("missing/hello"), "{err}");
    }

    #[test]
    fn scripts_written_while_other_threads_spawn_children_always_run() {
        // the race this module exists for: a write of our own failed within these rounds
        // every time (std::fs::write + set_permissions, three runs of three)
        let dir = tempfile::tempdir().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spawners: Vec<_> = (0..2)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        Command::new("/bin/true").status().unwrap();
                    }
                })
            })
            .collect();
        for i in 0..200 {
            let path = dir.path().join(format!("s{i}"));
            write_script(&path, "#!/bin/sh\nexit 0\n").unwrap();
            let status = Command::new(&path).status().unwrap();
            assert!(status.success());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for s in spawners {
            s.join().unwrap();
        }
    }
}
