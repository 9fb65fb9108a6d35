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
    let listing = std::fs::read_dir(dir)
        .map_err(|err| ConfigError::io(dir, "cannot list snippets directory", err))?;
    let mut snippets = Vec::new();
    for entry in listing {
        let entry =
            entry.map_err(|err| ConfigError::io(dir, "cannot list snippets directory", err))?;
        let path = entry.path();
        if !path.as_os_str().as_encoded_bytes().ends_with(b".toml") {
            continue;
        }
        // metadata() follows symlinks; a dangling link or a directory named x.toml is skipped
        if std::fs::metadata(&path)
            .map(|m| m.is_file())
            .unwrap_or(false)
        {
            snippets.push(path);
        }
    }
    snippets.sort_by(|a, b| {
        let name = |p: &PathBuf| p.file_name().map(|n| n.as_encoded_bytes().to_vec());
        name(a).cmp(&name(b))
    });
    Ok(snippets)
}

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
    snippets
        .into_iter()
        .filter(|path| {
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .map(|mtime| changed(mtime, since, now))
                .unwrap_or(false)
        })
        .collect()
}
