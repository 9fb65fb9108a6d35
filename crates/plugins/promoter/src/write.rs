//! Writing drop-ins under the runtime unit directory: atomically (temp file + rename), only
//! when the content changed, with a manifest per resource so files no longer generated, and
//! the files of resources no longer configured, are deleted (the original never deletes, §12.1).
//!
//! Must never: touch a file it did not write (only paths listed in a manifest are deleted),
//! or leave a half-written drop-in behind.

use crate::dropins::DropIn;
use crate::units::escape_unit;
use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where drop-ins and the manifests of what was written live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitDir {
    /// The runtime unit directory (`/run/systemd/system`).
    pub root: PathBuf,
    /// One manifest per resource (`/run/drbd-reactor/promoter`).
    pub manifests: PathBuf,
}

impl Default for UnitDir {
    fn default() -> Self {
        UnitDir {
            root: PathBuf::from("/run/systemd/system"),
            manifests: PathBuf::from("/run/drbd-reactor/promoter"),
        }
    }
}

/// What a sync did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub written: Vec<PathBuf>,
    pub deleted: Vec<PathBuf>,
}

impl SyncReport {
    /// systemd must reload its units.
    pub fn changed(&self) -> bool {
        !self.written.is_empty() || !self.deleted.is_empty()
    }
}

/// The path of drbd-utils' shim on this host: the original's `/usr/lib/...` where it exists
/// (merged /usr, every current distribution), else Debian's `/lib/...` where only that one
/// exists (errata A4), else the original's (a unit naming a missing shim fails visibly).
pub fn installed_shim() -> &'static str {
    shim_among(|p| Path::new(p).exists())
}

fn shim_among(exists: impl Fn(&str) -> bool) -> &'static str {
    use crate::dropins::{SHIM, SHIM_WITHOUT_MERGED_USR};
    if !exists(SHIM) && exists(SHIM_WITHOUT_MERGED_USR) {
        SHIM_WITHOUT_MERGED_USR
    } else {
        SHIM
    }
}

/// Writes `content` to `path` atomically: a temp file beside it, flushed to disk, then a rename
/// over it.
pub fn write_atomic(path: &Path, content: &str) -> io::Result<()> {
    replace(path, content, true)
}

/// Like [`write_atomic`] without the flush, for files in the run directory that readers must
/// never see half written but that a reboot clears anyway (the status files): the flush cost
/// a disk write per status change where the run directory is not tmpfs.
pub fn replace_run_file(path: &Path, content: &str) -> io::Result<()> {
    replace(path, content, false)
}

/// Creates `path` (and its directories when missing) with `content`, or truncates and rewrites
/// it, in one create: for a marker whose existence is what counts (the shell runner's start
/// record, written right before the start's first command). No temporary file and rename, and
/// no directory creation when the directory exists: each was a metadata operation the first
/// command waited for. A marker cut short by a crash still exists, which is all it must do.
pub fn mark_run_file(path: &Path, content: &str) -> io::Result<()> {
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    };
    let mut f = match create() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(path.parent().expect("run files have a directory"))?;
            create()?
        }
        other => other?,
    };
    f.write_all(content.as_bytes())
}

fn replace(path: &Path, content: &str, flush: bool) -> io::Result<()> {
    let dir = path.parent().expect("written files have a directory");
    fs::create_dir_all(dir)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(content.as_bytes())?;
        if flush {
            f.sync_all()?;
        }
    }
    fs::rename(&tmp, path)
}

impl UnitDir {
    /// The shell runner's record that this node ran a resource's start list and no stop list
    /// completed since: in the run directory, so it outlives the daemon, not a reboot (a
    /// directory beside the manifests, so `manifested` does not list it).
    pub fn shell_started(&self, res: &str) -> PathBuf {
        self.manifests.join("shell-started").join(escape_unit(res))
    }

    fn manifest(&self, res: &str) -> PathBuf {
        self.manifests.join(manifest_file(&escape_unit(res)))
    }

    fn read_manifest(&self, res: &str) -> BTreeSet<PathBuf> {
        fs::read_to_string(self.manifest(res))
            .map(|t| t.lines().map(PathBuf::from).collect())
            .unwrap_or_default()
    }

    /// Resources that have a manifest (unescaped names are not recoverable, so the escaped
    /// name is returned; compare with `escape_unit`).
    pub fn manifested(&self) -> Vec<String> {
        let Ok(dir) = fs::read_dir(&self.manifests) else {
            return Vec::new();
        };
        let mut out: Vec<String> = dir
            .filter_map(|e| e.ok())
            // Manifests are files; `status/` beside them holds the status files.
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.ends_with(".tmp"))
            .map(|n| escaped_of_manifest(&n))
            .collect();
        out.sort();
        out
    }

    /// Makes the resource's drop-ins exactly `files`: writes those that differ, deletes those
    /// written before and no longer generated. A file another resource wrote is an error.
    pub fn sync(&self, res: &str, files: &[DropIn]) -> io::Result<SyncReport> {
        self.sync_keeping(res, files, &BTreeSet::new())
    }

    /// The files written for `res` before that `files` no longer has.
    pub fn stale(&self, res: &str, files: &[DropIn]) -> Vec<PathBuf> {
        let new: BTreeSet<&Path> = files.iter().map(|f| f.path.as_path()).collect();
        self.read_manifest(res)
            .into_iter()
            .filter(|p| !new.contains(p.as_path()))
            .collect()
    }

    /// [`UnitDir::sync`], but the stale files in `keep` stay, listed in the manifest, until a
    /// later sync no longer keeps them.
    pub fn sync_keeping(
        &self,
        res: &str,
        files: &[DropIn],
        keep: &BTreeSet<PathBuf>,
    ) -> io::Result<SyncReport> {
        let mine = escape_unit(res);
        for other in self.manifested().into_iter().filter(|o| *o != mine) {
            let theirs =
                fs::read_to_string(self.manifests.join(manifest_file(&other))).unwrap_or_default();
            for f in files {
                if theirs.lines().any(|l| Path::new(l) == f.path) {
                    return Err(io::Error::other(format!(
                        "'{}' is already written for another resource ('{other}')",
                        f.path.display()
                    )));
                }
            }
        }
        let old = self.read_manifest(res);
        let mut report = SyncReport::default();
        for f in files {
            let path = self.root.join(&f.path);
            if fs::read_to_string(&path).ok().as_deref() != Some(f.content.as_str()) {
                write_atomic(&path, &f.content)?;
                report.written.push(f.path.clone());
            }
        }
        let mut new: BTreeSet<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
        for gone in old.difference(&new) {
            if keep.contains(gone) {
                continue;
            }
            remove_file_and_empty_dir(&self.root.join(gone))?;
            report.deleted.push(gone.clone());
        }
        new.extend(old.intersection(keep).cloned());
        let listing: String = new.iter().map(|p| format!("{}\n", p.display())).collect();
        write_atomic(&self.manifest(res), &listing)?;
        Ok(report)
    }

    /// Deletes every drop-in written for `res` and its manifest.
    pub fn remove(&self, res: &str) -> io::Result<SyncReport> {
        self.remove_escaped(&escape_unit(res))
    }

    fn remove_escaped(&self, escaped: &str) -> io::Result<SyncReport> {
        let manifest = self.manifests.join(manifest_file(escaped));
        let listed = fs::read_to_string(&manifest).unwrap_or_default();
        let mut report = SyncReport::default();
        for line in listed.lines() {
            remove_file_and_empty_dir(&self.root.join(line))?;
            report.deleted.push(PathBuf::from(line));
        }
        match fs::remove_file(&manifest) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        Ok(report)
    }

    /// Deletes the drop-ins of every resource not in `configured` (all instances' resources).
    pub fn remove_unconfigured<'a>(
        &self,
        configured: impl IntoIterator<Item = &'a str>,
    ) -> io::Result<SyncReport> {
        self.remove_escaped_all(&self.unconfigured(configured))
    }

    /// The resources with a manifest that are not in `configured`, as escaped names.
    pub fn unconfigured<'a>(&self, configured: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let keep: BTreeSet<String> = configured.into_iter().map(escape_unit).collect();
        self.manifested()
            .into_iter()
            .filter(|escaped| !keep.contains(escaped))
            .collect()
    }

    /// Deletes the drop-ins and manifests of the resources with these escaped names.
    pub fn remove_escaped_all(&self, escaped: &[String]) -> io::Result<SyncReport> {
        let mut report = SyncReport::default();
        for e in escaped {
            let r = self.remove_escaped(e)?;
            report.deleted.extend(r.deleted);
        }
        Ok(report)
    }

    /// Deletes the before drop-in (exit with `stop-services-on-exit`); a missing file is fine
    /// (the shell runner never has one, §12.12).
    pub fn remove_before(&self, res: &str) -> io::Result<bool> {
        match fs::remove_file(self.root.join(crate::dropins::before_path(res))) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The directories beside the manifests: no manifest may take their names.
const RESERVED: [&str; 2] = ["status", "shell-started"];

/// The manifest's file name for a resource's escaped name: the name itself, except that a
/// name equal to one of the [`RESERVED`] directories (a resource called `status`) has its
/// first byte written `\xNN`, which the unit escaping never does for a letter, so no other
/// resource's manifest has that name.
fn manifest_file(escaped: &str) -> String {
    match escaped.as_bytes().first() {
        Some(first) if RESERVED.contains(&escaped) => format!("\\x{first:02x}{}", &escaped[1..]),
        _ => escaped.to_string(),
    }
}

/// The escaped resource name of a manifest file name (the inverse of [`manifest_file`]).
fn escaped_of_manifest(name: &str) -> String {
    let reserved = name
        .strip_prefix("\\x")
        .filter(|rest| rest.len() > 2 && rest.is_char_boundary(2))
        .and_then(|rest| {
            let first = u8::from_str_radix(&rest[..2], 16).ok()?;
            let plain = format!("{}{}", char::from(first), &rest[2..]);
            RESERVED.contains(&plain.as_str()).then_some(plain)
        });
    reserved.unwrap_or_else(|| name.to_string())
}

fn remove_file_and_empty_dir(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    if let Some(dir) = path.parent() {
        // Only succeeds when empty: a user's own drop-in beside ours stays, with its directory.
        let _ = fs::remove_dir(dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shim_is_the_originals_path_unless_only_debians_exists() {
        use crate::dropins::{SHIM, SHIM_WITHOUT_MERGED_USR};
        assert_eq!(shim_among(|_| true), SHIM, "merged /usr: both paths exist");
        assert_eq!(shim_among(|p| p == SHIM), SHIM);
        assert_eq!(
            shim_among(|p| p == SHIM_WITHOUT_MERGED_USR),
            SHIM_WITHOUT_MERGED_USR,
            "Debian without merged /usr"
        );
        assert_eq!(shim_among(|_| false), SHIM, "no drbd-utils: the original's");
    }

    /// The names of the files in `file`'s directory.
    fn names_beside(file: &Path) -> Vec<std::ffi::OsString> {
        fs::read_dir(file.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    }

    #[test]
    fn manifest_names_avoid_the_directories_beside_them_and_map_back() {
        assert_eq!(manifest_file("status"), "\\x73tatus");
        assert_eq!(manifest_file("shell-started"), "\\x73hell-started");
        assert_eq!(manifest_file("r0"), "r0");
        assert_eq!(manifest_file("status1"), "status1");
        for escaped in [
            "status",
            "shell-started",
            "r0",
            "\\x2estatus",
            "\\x73x",
            "\\x",
        ] {
            assert_eq!(escaped_of_manifest(&manifest_file(escaped)), escaped);
        }
    }

    #[test]
    fn a_resource_named_status_writes_lists_and_removes_its_drop_ins() {
        use crate::dropins::DropIn;
        let tmp = tempfile::tempdir().unwrap();
        let dir = UnitDir {
            root: tmp.path().join("system"),
            manifests: tmp.path().join("promoter"),
        };
        // The status files' directory exists before the first write (an earlier run).
        fs::create_dir_all(dir.manifests.join("status")).unwrap();
        let files = [DropIn {
            path: PathBuf::from("drbd-services@status.target.d/reactor.conf"),
            content: "[Unit]\n".into(),
        }];
        dir.sync("status", &files).unwrap();
        assert!(dir.root.join(&files[0].path).exists());
        assert_eq!(dir.manifested(), ["status"]);
        assert_eq!(dir.unconfigured(["status"]), Vec::<String>::new());
        assert_eq!(dir.unconfigured(std::iter::empty()), ["status"]);
        dir.remove_unconfigured(std::iter::empty()).unwrap();
        assert!(!dir.root.join(&files[0].path).exists());
        assert!(
            dir.manifests.join("status").is_dir(),
            "the status directory stays"
        );
        assert_eq!(dir.manifested(), Vec::<String>::new());
    }

    #[test]
    fn a_run_file_is_replaced_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("promoter/status/r0.json");
        replace_run_file(&file, "{\"a\": 1}\n").unwrap();
        replace_run_file(&file, "{\"a\": 2}\n").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "{\"a\": 2}\n");
        let names = names_beside(&file);
        assert_eq!(names, ["r0.json"]);
    }

    #[test]
    fn a_marker_is_created_with_its_missing_directories_and_rewritten_whole_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("promoter/shell-started/r0");
        mark_run_file(&record, "started and more\n").unwrap();
        assert_eq!(fs::read_to_string(&record).unwrap(), "started and more\n");
        mark_run_file(&record, "started\n").unwrap();
        assert_eq!(fs::read_to_string(&record).unwrap(), "started\n");
        let names = names_beside(&record);
        assert_eq!(names, ["r0"], "no temporary file beside it");
    }
}
