//! Where a program is found in a given `PATH`, looked up by us rather than by the C library.
//!
//! Why: std starts a child with `posix_spawn` (glibc: `clone(CLONE_VM|CLONE_VFORK)`, no copy of
//! the daemon's page tables) only when it may; a command whose environment sets `PATH` and
//! whose program is a bare name (umh: `sh` with the fixed `PATH`) makes it fall back to
//! `fork` + `exec`, which copies the page tables of a daemon holding 10k resources and costs
//! the parent copy-on-write faults afterwards. With the program given as an absolute path and
//! `argv[0]` kept as the bare name, the child sees exactly what it saw before.
//!
//! Must never: pick a different program than `execvp` with that `PATH` would (first directory
//! holding an executable regular file, empty entries meaning the current directory), or
//! change what the child gets as `argv[0]`.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The first `dir/program` of `path` that is an executable regular file; `None` when `program`
/// contains a slash (it is not looked up) or no directory has it.
pub fn find_in_path(program: &str, path: &str) -> Option<PathBuf> {
    if program.is_empty() || program.contains('/') {
        return None;
    }
    path.split(':').find_map(|dir| {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(program);
        is_executable_file(&candidate).then_some(candidate)
    })
}

fn is_executable_file(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A command for `program` as a child with `PATH=path` would find it: the resolved absolute
/// path with `argv[0]` set to `program`, so std may use `posix_spawn`. Falls back to the bare
/// name (std's own lookup and its error) when nothing is found.
pub fn command_in_path(program: &str, path: &str) -> tokio::process::Command {
    match find_in_path(program, path) {
        Some(found) => {
            let mut cmd = tokio::process::Command::new(found);
            cmd.arg0(OsStr::new(program));
            cmd
        }
        None => tokio::process::Command::new(program),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn executable(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn the_first_directory_with_an_executable_file_wins() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let c = tempfile::tempdir().unwrap();
        executable(a.path(), "tool", 0o644); // not executable: skipped, as execvp does
        fs::create_dir(b.path().join("tool")).unwrap(); // a directory: skipped
        let want = executable(c.path(), "tool", 0o755);
        let path = format!(
            "{}:{}:{}",
            a.path().display(),
            b.path().display(),
            c.path().display()
        );
        assert_eq!(find_in_path("tool", &path), Some(want));
    }

    #[test]
    fn names_with_a_slash_and_missing_programs_are_not_looked_up() {
        assert_eq!(find_in_path("./sh", "/bin:/usr/bin"), None);
        assert_eq!(find_in_path("/bin/sh", "/bin:/usr/bin"), None);
        assert_eq!(find_in_path("", "/bin"), None);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            find_in_path("sh", &empty.path().display().to_string()),
            None
        );
    }

    #[test]
    fn sh_is_found_in_the_umh_path() {
        let found = find_in_path("sh", "/sbin:/usr/sbin:/bin:/usr/bin").expect("sh exists");
        assert!(found.is_absolute() && found.ends_with("sh"), "{found:?}");
    }

    #[tokio::test]
    async fn the_resolved_command_still_sees_its_bare_name_as_argv0() {
        let out = command_in_path("sh", "/sbin:/usr/sbin:/bin:/usr/bin")
            .arg("-c")
            .arg("echo \"$0\"")
            .env_clear()
            .env("PATH", "/sbin:/usr/sbin:/bin:/usr/bin")
            .output()
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "sh\n");
    }

    #[tokio::test]
    async fn an_unknown_program_fails_to_spawn_as_before() {
        let empty = tempfile::tempdir().unwrap();
        let path = empty.path().display().to_string();
        let err = command_in_path("no-such-program-here", &path)
            .env_clear()
            .env("PATH", &path)
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
