//! Which snippet files a command's names mean (spec ctl.md §2): suffix rules, the
//! "inside the snippets directory" check and the both-states warning.
//! Must never let a path leave the snippets directory (`..`, other directories) and never
//! modify files.

use std::path::{Component, Path, PathBuf};

pub const ENABLED: &str = ".toml";
pub const DISABLED: &str = ".toml.disabled";

/// The state a command wants its names resolved for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    Enabled,
    Disabled,
}

impl Wanted {
    fn suffix(self) -> &'static str {
        match self {
            Wanted::Enabled => ENABLED,
            Wanted::Disabled => DISABLED,
        }
    }
}

fn ends_with(path: &Path, suffix: &str) -> bool {
    path.as_os_str()
        .as_encoded_bytes()
        .ends_with(suffix.as_bytes())
}

/// The state a path's suffix says (`.toml.disabled` checked first).
pub fn state_of(path: &Path) -> Option<Wanted> {
    if ends_with(path, DISABLED) {
        Some(Wanted::Disabled)
    } else if ends_with(path, ENABLED) {
        Some(Wanted::Enabled)
    } else {
        None
    }
}

/// `X.toml` <-> `X.toml.disabled`, byte for byte (a name need not be UTF-8); None for a
/// path with neither suffix.
pub fn counterpart(path: &Path) -> Option<PathBuf> {
    use std::ffi::{OsStr, OsString};
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    match state_of(path)? {
        Wanted::Disabled => Some(PathBuf::from(OsStr::from_bytes(
            &bytes[..bytes.len() - ".disabled".len()],
        ))),
        Wanted::Enabled => {
            let mut name = OsString::from(path.as_os_str());
            name.push(".disabled");
            Some(PathBuf::from(name))
        }
    }
}

/// The candidate path for one name (§2.2): absolute as is, an explicit suffix kept, else
/// the wanted suffix appended; relative names joined onto `dir`.
pub fn candidate(dir: &Path, name: &str, wanted: Wanted) -> PathBuf {
    let path = Path::new(name);
    let named = if path.is_absolute() || state_of(path).is_some() {
        path.to_path_buf()
    } else {
        PathBuf::from(format!("{name}{}", wanted.suffix()))
    };
    dir.join(named)
}

/// Why a candidate is dropped (§2.3), as the operator reads it.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    Extension(PathBuf),
    Outside(PathBuf, PathBuf),
    Missing(PathBuf),
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::Extension(p) => write!(
                f,
                "File '{}' does not have a recognized extension (.toml or .toml.disabled), ignoring",
                p.display()
            ),
            Rejected::Outside(p, dir) => write!(
                f,
                "File '{}' is not directly within snippets path '{}', ignoring",
                p.display(),
                dir.display()
            ),
            Rejected::Missing(p) => write!(
                f,
                "File '{}' does not exist or is not a regular file, ignoring",
                p.display()
            ),
        }
    }
}

/// Lexical check that `path` is a file directly in `dir`: no `..` components, and its
/// parent is `dir` itself (the daemon reads no subdirectories). Fixes `rm ../x`. A `.`
/// component means nothing (`Path::components` keeps only a leading one: a `snippets`
/// directory written `./x`, or `.`, and every path made from it).
pub fn directly_in(dir: &Path, path: &Path) -> bool {
    if path.components().any(|c| c == Component::ParentDir) {
        return false;
    }
    let normal = |p: &Path| -> PathBuf {
        p.components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect()
    };
    let (dir, path) = (normal(dir), normal(path));
    path.parent() == Some(dir.as_path()) && path.file_name().is_some()
}

fn is_regular_file(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file())
        .unwrap_or(false)
}

/// Checks one candidate (§2.3, in order).
pub fn check(dir: &Path, path: &Path, must_exist: bool) -> Result<(), Rejected> {
    if state_of(path).is_none() {
        return Err(Rejected::Extension(path.to_path_buf()));
    }
    if !directly_in(dir, path) {
        return Err(Rejected::Outside(path.to_path_buf(), dir.to_path_buf()));
    }
    if must_exist && !is_regular_file(path) {
        return Err(Rejected::Missing(path.to_path_buf()));
    }
    Ok(())
}

/// Every regular file directly in `dir` with the wanted state, sorted byte-wise.
pub fn scan(dir: &Path, wanted: Wanted) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if state_of(&path) == Some(wanted) && is_regular_file(&path) {
            found.push(path);
        }
    }
    found.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    Ok(found)
}

/// What resolution found, and what it has to say about it.
#[derive(Debug, Default)]
pub struct Resolved {
    pub paths: Vec<PathBuf>,
    /// For stderr (§2.3 messages, listing errors).
    pub rejected: Vec<String>,
    /// For stdout: `WARN: both ... exist`.
    pub both: Vec<String>,
}

impl Resolved {
    pub fn print_messages(&self) {
        for message in &self.rejected {
            errln!("{message}");
        }
        for warning in &self.both {
            crate::color::warn(warning);
        }
    }
}

fn both_warnings(paths: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for path in paths {
        let Some(other) = counterpart(path) else {
            continue;
        };
        if !is_regular_file(&other) {
            continue;
        }
        let (enabled, disabled) = match state_of(path) {
            Some(Wanted::Enabled) => (path.clone(), other),
            _ => (other, path.clone()),
        };
        if seen.contains(&enabled) {
            continue;
        }
        out.push(format!(
            "both '{}' and '{}' exist",
            enabled.display(),
            disabled.display()
        ));
        seen.push(enabled);
    }
    out
}

/// Resolution for commands of §2.5 (all but `ls`/`status`).
pub fn resolve(dir: &Path, names: &[String], wanted: Wanted, must_exist: bool) -> Resolved {
    let mut resolved = Resolved::default();
    let candidates = if names.is_empty() {
        match scan(dir, wanted) {
            Ok(found) => found,
            Err(err) => {
                resolved
                    .rejected
                    .push(format!("Error reading files in '{}': {err}", dir.display()));
                Vec::new()
            }
        }
    } else {
        names
            .iter()
            .map(|name| candidate(dir, name, wanted))
            .collect()
    };
    for path in candidates {
        match check(dir, &path, must_exist) {
            Ok(()) => {
                if !resolved.paths.contains(&path) {
                    resolved.paths.push(path)
                }
            }
            Err(rejected) => resolved.rejected.push(rejected.to_string()),
        }
    }
    resolved.both = both_warnings(&resolved.paths);
    resolved
}

/// Resolution for `ls` and `status` (§2.4): enabled files first, then disabled ones,
/// silently dropping what does not exist. A name with an explicit suffix is found once,
/// in the pass of its own state (the original listed it twice).
pub fn resolve_both(dir: &Path, names: &[String]) -> Resolved {
    let mut resolved = Resolved::default();
    for wanted in [Wanted::Enabled, Wanted::Disabled] {
        if names.is_empty() {
            match scan(dir, wanted) {
                Ok(found) => resolved.paths.extend(found),
                Err(err) if wanted == Wanted::Enabled => resolved
                    .rejected
                    .push(format!("Error reading files in '{}': {err}", dir.display())),
                Err(_) => {}
            }
            continue;
        }
        for name in names {
            let path = candidate(dir, name, wanted);
            if state_of(&path) != Some(wanted) || resolved.paths.contains(&path) {
                continue;
            }
            if check(dir, &path, true).is_ok() {
                resolved.paths.push(path);
            }
        }
    }
    resolved.both = both_warnings(&resolved.paths);
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_get_the_wanted_suffix_and_explicit_suffixes_win() {
        let dir = Path::new("/etc/drbd-reactor.d");
        assert_eq!(candidate(dir, "foo", Wanted::Enabled), dir.join("foo.toml"));
        assert_eq!(
            candidate(dir, "foo", Wanted::Disabled),
            dir.join("foo.toml.disabled")
        );
        assert_eq!(
            candidate(dir, "foo.txt", Wanted::Enabled),
            dir.join("foo.txt.toml")
        );
        assert_eq!(
            candidate(dir, "my.service.toml", Wanted::Disabled),
            dir.join("my.service.toml")
        );
        assert_eq!(
            candidate(dir, "/abs/x.toml", Wanted::Enabled),
            PathBuf::from("/abs/x.toml")
        );
    }

    #[test]
    fn parent_components_and_subdirectories_are_outside_the_snippets_directory() {
        let dir = Path::new("/etc/drbd-reactor.d");
        assert!(directly_in(dir, Path::new("/etc/drbd-reactor.d/a.toml")));
        assert!(!directly_in(
            dir,
            Path::new("/etc/drbd-reactor.d/../a.toml")
        ));
        assert!(!directly_in(
            dir,
            Path::new("/etc/drbd-reactor.d/sub/a.toml")
        ));
        assert!(!directly_in(dir, Path::new("/etc/a.toml")));
        assert!(directly_in(Path::new("./d"), Path::new("d/a.toml")));
        assert!(directly_in(Path::new("./d"), Path::new("./d/a.toml")));
        assert!(directly_in(Path::new("."), Path::new("./a.toml")));
        assert!(!directly_in(Path::new("./d"), Path::new("./d/../a.toml")));
        assert!(!directly_in(Path::new("./d"), Path::new("./a.toml")));
    }

    #[test]
    fn counterparts_swap_the_state() {
        assert_eq!(
            counterpart(Path::new("/d/a.b.toml")),
            Some(PathBuf::from("/d/a.b.toml.disabled"))
        );
        assert_eq!(
            counterpart(Path::new("/d/a.toml.disabled")),
            Some(PathBuf::from("/d/a.toml"))
        );
        assert_eq!(counterpart(Path::new("/d/a.txt")), None);
        use std::os::unix::ffi::OsStrExt;
        let odd = Path::new(std::ffi::OsStr::from_bytes(b"/d/\xff.toml"));
        let disabled = counterpart(odd).unwrap();
        assert_eq!(disabled.as_os_str().as_bytes(), b"/d/\xff.toml.disabled");
        assert_eq!(counterpart(&disabled).unwrap(), odd);
    }
}
