//! Finding the snippet files of a snippets directory (spec §2.3) and telling which
//! changed after a (re)load (spec §9). Only lists directories and reads mtimes;
//! must never parse or read file contents.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::ConfigError;
use crate::Config;

/// Snippets younger than this are left alone by the monitor ("give tools some time").
pub const SETTLE_TIME: Duration = Duration::from_secs(20);

/// The snippet files of `dir`: regular files (symlinks followed) whose name ends in
/// `.toml`, dot-files included, non-recursive, sorted byte-wise by file name.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    discover_reporting(dir).map(|(snippets, _)| snippets)
}

/// A `*.toml` entry of the snippets directory that is not used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// Like [`discover`], also listing the `*.toml` entries that are skipped: dangling symbolic
/// links, symbolic link loops, directories, FIFOs, sockets and devices. None of them is
/// opened (a FIFO would block the reader until someone writes to it).
pub fn discover_reporting(dir: &Path) -> Result<(Vec<PathBuf>, Vec<Skipped>), ConfigError> {
    let listing = std::fs::read_dir(dir)
        .map_err(|err| ConfigError::io(dir, "cannot list snippets directory", err))?;
    let mut snippets = Vec::new();
    let mut skipped = Vec::new();
    for entry in listing {
        let entry =
            entry.map_err(|err| ConfigError::io(dir, "cannot list snippets directory", err))?;
        let path = entry.path();
        if !path.as_os_str().as_encoded_bytes().ends_with(b".toml") {
            continue;
        }
        match why_not_a_snippet(&path) {
            None => snippets.push(path),
            Some(reason) => skipped.push(Skipped { path, reason }),
        }
    }
    let name = |p: &PathBuf| p.file_name().map(|n| n.as_encoded_bytes().to_vec());
    snippets.sort_by_key(name);
    skipped.sort_by_key(|s| name(&s.path));
    Ok((snippets, skipped))
}

/// Why `path` is not read as a snippet, or None for a regular file (symlinks followed).
/// Only looks at metadata: never opens the entry.
fn why_not_a_snippet(path: &Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let followed = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) => {
            let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            let target = std::fs::read_link(path)
                .map(|t| format!(" to {}", t.display()))
                .unwrap_or_default();
            return Some(match err.raw_os_error() {
                Some(code) if is_link && code == ELOOP => {
                    format!("it is a symbolic link loop{target}")
                }
                _ if is_link && err.kind() == std::io::ErrorKind::NotFound => {
                    format!("it is a dangling symbolic link{target}")
                }
                _ if is_link => format!("its symbolic link{target} cannot be followed: {err}"),
                _ => format!("it cannot be inspected: {err}"),
            });
        }
    };
    let kind = followed.file_type();
    if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("it is a directory".to_string())
    } else if kind.is_fifo() {
        Some("it is a named pipe (FIFO), which is never read".to_string())
    } else if kind.is_socket() {
        Some("it is a socket".to_string())
    } else if kind.is_block_device() || kind.is_char_device() {
        Some("it is a device".to_string())
    } else {
        Some("it is not a regular file".to_string())
    }
}

/// `ELOOP` on Linux ("too many levels of symbolic links").
const ELOOP: i32 = 40;

/// Whether a file with modification time `mtime` counts as changed since `since` at `now`:
/// newer than `since` and at least [`SETTLE_TIME`] old.
pub fn changed(mtime: SystemTime, since: SystemTime, now: SystemTime) -> bool {
    let settled = match now.duration_since(mtime) {
        Ok(age) => age >= SETTLE_TIME,
        Err(_) => false, // in the future
    };
    settled && mtime > since
}

/// Snippets whose mtime is newer than `since` and older than 20 s (spec §9), for the
/// monitor. Nothing when `snippets` is unset or the directory cannot be listed.
pub fn snippets_changed_since(config: &Config, since: SystemTime, now: SystemTime) -> Vec<PathBuf> {
    let Some(dir) = &config.snippets else {
        return Vec::new();
    };
    let Ok(snippets) = discover(dir) else {
        return Vec::new();
    };
    files_changed_since(snippets, since, now)
}

/// Of the generated `units` (path, the content its plugin writes), those changed since the
/// (re)load by someone else: newer than `since` and older than 20 s (spec §9 step 2), with
/// content that is not the plugin's (the plugins write them after the (re)load themselves).
pub fn units_rewritten_since(
    units: &[(PathBuf, String)],
    since: SystemTime,
    now: SystemTime,
) -> Vec<PathBuf> {
    let paths = units.iter().map(|(path, _)| path.clone());
    files_changed_since(paths, since, now)
        .into_iter()
        .filter(|path| {
            let ours = units.iter().find(|(p, _)| p == path).map(|(_, c)| c);
            std::fs::read_to_string(path).ok().as_ref() != ours
        })
        .collect()
}

/// Of `paths`, those whose mtime is newer than `since` and older than 20 s; unreadable ones
/// are skipped (spec §9: the snippets, and the promoters' target drop-ins).
pub fn files_changed_since(
    paths: impl IntoIterator<Item = PathBuf>,
    since: SystemTime,
    now: SystemTime,
) -> Vec<PathBuf> {
    paths
        .into_iter()
        .filter(|path| {
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|mtime| changed(mtime, since, now))
        })
        .collect()
}
