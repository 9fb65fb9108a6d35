//! `drbd-reactor --check -c FILE`: validates a main config file and its snippets the way the
//! daemon would read them, without starting anything, and lists EVERY problem it finds (the
//! daemon itself stops at the first). Each file is parsed on its own, so a broken snippet does
//! not hide the problems of the next one; every plugin section is typed by its plugin.
//! Must never start a plugin, create or write a log file, or touch anything but reading the
//! files.

use crate::plugin::REGISTRY;
use drbd_reactor_config::{Config, ConfigError, LogConfig};
use std::path::{Path, PathBuf};

/// What a check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Errors: the daemon would refuse this configuration (at start: exit 1).
    pub problems: Vec<String>,
    /// Accepted, but worth a look (unknown keys, deprecated `id`).
    pub warnings: Vec<String>,
    /// The files read: the main file and every snippet.
    pub files: Vec<PathBuf>,
    /// Plugin sections that were typed without error.
    pub instances: usize,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The closing line: what was checked and the verdict.
    pub fn summary(&self, main: &Path) -> String {
        if self.ok() {
            format!(
                "{}: configuration OK ({} files, {} plugin instances, {} warnings)",
                main.display(),
                self.files.len(),
                self.instances,
                self.warnings.len()
            )
        } else {
            format!(
                "{}: {} problem{} found, the daemon would not start with this configuration",
                main.display(),
                self.problems.len(),
                if self.problems.len() == 1 { "" } else { "s" }
            )
        }
    }
}

fn read(path: &Path, what: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|err| ConfigError::io(path, format!("cannot read {what}"), err))
}

/// Checks `main` and its snippets.
pub fn check(main: &Path) -> Report {
    let mut report = Report::default();
    report.files.push(main.to_path_buf());
    let main_config = match read(main, "config file")
        .and_then(|text| drbd_reactor_config::parse_one(main, &text, false))
    {
        Ok(c) => c,
        Err(err) => {
            // without a readable main file the snippets directory is unknown
            report.problems.push(err.to_string());
            return report;
        }
    };
    let snippets = match &main_config.snippets {
        None => Vec::new(),
        Some(dir) => drbd_reactor_config::discover_snippets(dir).unwrap_or_else(|err| {
            report.problems.push(err.to_string());
            Vec::new()
        }),
    };
    check_plugins(&main_config, &mut report);
    for path in snippets {
        report.files.push(path.clone());
        match read(&path, "config snippet")
            .and_then(|text| drbd_reactor_config::parse_one(&path, &text, true))
        {
            Ok(config) => check_plugins(&config, &mut report),
            Err(err) => report.problems.push(err.to_string()),
        }
    }
    if report.ok() {
        // What only shows in the merged whole: identical instances in two files, and the
        // snippets directory's entries that are skipped (dangling links, FIFOs, ...).
        match crate::daemon::read_config(main) {
            Ok((config, _, warnings)) => {
                for w in warnings.iter().map(|w| w.to_string()) {
                    if !report.warnings.contains(&w) {
                        report.warnings.push(w);
                    }
                }
                for entry in &config.log {
                    if let Err(err) = log_file_openable(entry) {
                        report.problems.push(err.to_string());
                    }
                }
            }
            Err(err) => report.problems.push(err.to_string()),
        }
    }
    report
}

/// Whether the daemon could open `entry`'s file for appending at start (it exits 1 if not),
/// found without creating it: an existing file is opened for appending (not written), a new
/// one needs a directory this process may write to.
fn log_file_openable(entry: &LogConfig) -> Result<(), ConfigError> {
    let Some(path) = &entry.file else {
        return Ok(());
    };
    // Followed through links: a dangling one is created where it points, as the daemon does.
    let result = if path.as_os_str().is_empty() {
        Err(std::io::Error::from(std::io::ErrorKind::InvalidInput))
    } else {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map(drop),
            Ok(meta) if meta.is_dir() => Err(rustix::io::Errno::ISDIR.into()),
            // A FIFO, a device: opening one could block (a FIFO without a reader); whether
            // this process may write it is what access(2) tells.
            Ok(_) => writable(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match dangling_target(path) {
                Some(target) => parent_writable(&target),
                None => parent_writable(path),
            },
            // A link loop (ELOOP), a directory on the way that may not be searched: the
            // daemon's open fails the same way.
            Err(e) => Err(e),
        }
    };
    result.map_err(|err| {
        let message = format!("cannot open log file {}", path.display());
        match &entry.site {
            Some(site) => site.error(message, Some(err)),
            None => ConfigError::io(path, "cannot open log file", err),
        }
    })
}

fn writable_dir(dir: &Path) -> std::io::Result<()> {
    if !std::fs::metadata(dir)?.is_dir() {
        return Err(std::io::Error::from(std::io::ErrorKind::NotADirectory));
    }
    use rustix::fs::Access;
    rustix::fs::access(dir, Access::WRITE_OK | Access::EXEC_OK).map_err(std::io::Error::from)
}

fn writable(path: &Path) -> std::io::Result<()> {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).map_err(std::io::Error::from)
}

fn parent_writable(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => writable_dir(dir),
        _ => writable_dir(Path::new(".")),
    }
}

/// Where a chain of links that ends nowhere points at last (what the daemon's open creates).
fn dangling_target(path: &Path) -> Option<PathBuf> {
    let mut at = path.to_path_buf();
    let mut followed = false;
    // Linux gives up after 40 links (ELOOP); so does this.
    for _ in 0..40 {
        match std::fs::read_link(&at) {
            Ok(target) => {
                at = match at.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
                followed = true;
            }
            Err(_) => return followed.then_some(at),
        }
    }
    None
}

/// Types every plugin section of one file, each on its own.
fn check_plugins(config: &Config, report: &mut Report) {
    report
        .warnings
        .extend(config.warnings.iter().map(|w| w.to_string()));
    for section in &config.plugins {
        let Some(registration) = REGISTRY.iter().find(|r| r.kind == section.kind) else {
            report.problems.push(
                ConfigError::at(
                    section.origin.clone(),
                    None,
                    format!("plugin type '{}' is not implemented yet", section.kind),
                )
                .to_string(),
            );
            continue;
        };
        match (registration.parse)(section) {
            Ok((_, warnings)) => {
                report.instances += 1;
                report
                    .warnings
                    .extend(warnings.iter().map(|w| w.to_string()));
            }
            Err(err) => report.problems.push(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(tempfile::TempDir);

    impl Dir {
        fn new(main: &str) -> Dir {
            let dir = Dir(tempfile::tempdir().unwrap());
            std::fs::create_dir(dir.0.path().join("d")).unwrap();
            let main = main.replace("SNIPPETS", &dir.0.path().join("d").display().to_string());
            std::fs::write(dir.main(), main).unwrap();
            dir
        }
        fn main(&self) -> PathBuf {
            self.0.path().join("main.toml")
        }
        fn snippet(&self, name: &str, text: &str) {
            std::fs::write(self.0.path().join("d").join(name), text).unwrap();
        }
    }

    /// Checks a main file whose only section is a `[[log]]` sink writing to `log`.
    fn check_with_log(dir: &Dir, log: &Path) -> Report {
        std::fs::write(
            dir.main(),
            format!("[[log]]\nfile = \"{}\"\n", log.display()),
        )
        .unwrap();
        check(&dir.main())
    }

    #[test]
    fn a_valid_configuration_is_ok_and_counts_files_and_instances() {
        let dir = Dir::new("snippets = \"SNIPPETS\"\n[[debugger]]\n");
        dir.snippet("p.toml", "[[prometheus]]\naddress = \"127.0.0.1:0\"\n");
        let report = check(&dir.main());
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.files.len(), 2);
        assert_eq!(report.instances, 2);
        assert!(report.summary(&dir.main()).contains("configuration OK"));
    }

    #[test]
    fn every_broken_snippet_is_listed_not_only_the_first() {
        let dir = Dir::new("snippets = \"SNIPPETS\"\n");
        dir.snippet("a.toml", "[[debugger]]\nformat = 3\n");
        dir.snippet("b.toml", "[[prometheu]]\n");
        dir.snippet("c.toml", "this is not toml\n");
        dir.snippet(
            "d.toml",
            "[[umh]]\n[[umh.resource]]\ncommand = \"true\"\nbogus = 1\n",
        );
        let report = check(&dir.main());
        assert_eq!(report.problems.len(), 4, "{:#?}", report.problems);
        for (problem, file) in report
            .problems
            .iter()
            .zip(["a.toml", "b.toml", "c.toml", "d.toml"])
        {
            assert!(problem.contains(file), "{problem} should name {file}");
        }
        assert!(report.summary(&dir.main()).contains("4 problems"));
    }

    #[test]
    fn several_bad_sections_in_one_file_are_each_listed() {
        let dir = Dir::new("[[debugger]]\nformat = 3\n[[agentx]]\nagent-timeout = 300\n");
        let report = check(&dir.main());
        assert_eq!(report.problems.len(), 2, "{:#?}", report.problems);
        assert!(report.problems[0].contains(":2:"), "{}", report.problems[0]);
        assert!(report.problems[1].contains(":4:"), "{}", report.problems[1]);
    }

    #[test]
    fn identical_instances_in_two_files_are_found_by_the_merged_read() {
        let dir = Dir::new("snippets = \"SNIPPETS\"\n[[debugger]]\n");
        dir.snippet("a.toml", "[[debugger]]\n");
        let report = check(&dir.main());
        assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
        assert!(
            report.problems[0].contains("duplicate"),
            "{}",
            report.problems[0]
        );
    }

    /// The daemon logs these at start (compat C13); `--check` listed none of them.
    #[test]
    fn a_dangling_snippet_link_is_a_warning() {
        let dir = Dir::new("snippets = \"SNIPPETS\"\n[[debugger]]\n");
        std::os::unix::fs::symlink("/nonexistent/x", dir.0.path().join("d/x.toml")).unwrap();
        let report = check(&dir.main());
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.warnings.len(), 1, "{:#?}", report.warnings);
        assert!(
            report.warnings[0].contains("skipping snippet"),
            "{}",
            report.warnings[0]
        );
        assert!(report.warnings[0].contains("x.toml"));
    }

    /// The daemon exits 1 when a `[[log]]` file cannot be opened; `--check` said OK.
    #[test]
    fn a_log_file_in_a_missing_directory_is_a_problem_naming_the_line() {
        let dir = Dir::new("[[debugger]]\n[[log]]\nfile = \"/nonexistent/dir/x.log\"\n");
        let report = check(&dir.main());
        assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
        assert!(
            report.problems[0].contains("cannot open log file"),
            "{}",
            report.problems[0]
        );
        assert!(report.problems[0].contains(":3:"), "{}", report.problems[0]);
    }

    #[test]
    fn a_new_log_file_in_a_writable_directory_is_ok_and_not_created() {
        let dir = Dir::new("");
        let log = dir.0.path().join("new.log");
        let report = check_with_log(&dir, &log);
        assert!(report.ok(), "{:?}", report.problems);
        assert!(!log.exists(), "--check creates no file");
    }

    /// Opening a FIFO without a reader blocks: --check must not hang on one.
    #[test]
    fn a_log_file_that_is_a_fifo_does_not_hang_the_check() {
        let dir = Dir::new("");
        let fifo = dir.0.path().join("fifo.log");
        let c = std::ffi::CString::new(fifo.display().to_string()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(check_with_log(&dir, &fifo).ok());
    }

    /// The daemon's open creates a dangling link's target: no problem, nothing created.
    #[test]
    fn a_log_file_that_is_a_dangling_link_into_a_writable_directory_is_ok() {
        let dir = Dir::new("");
        let link = dir.0.path().join("link.log");
        let target = dir.0.path().join("real.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let report = check_with_log(&dir, &link);
        assert!(report.ok(), "{:?}", report.problems);
        assert!(!target.exists());
    }

    /// The daemon's open fails on a directory (fixture 106): a problem, as it was.
    #[test]
    fn a_log_file_that_is_a_directory_is_a_problem() {
        let dir = Dir::new("");
        let log = dir.0.path().join("d");
        let report = check_with_log(&dir, &log);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(report.problems[0].contains("cannot open log file"));
    }

    /// A link to itself is no dangling link: the daemon's open fails (ELOOP).
    #[test]
    fn a_log_file_that_is_a_link_loop_is_a_problem() {
        let dir = Dir::new("");
        let link = dir.0.path().join("loop.log");
        std::os::unix::fs::symlink(&link, &link).unwrap();
        assert!(!check_with_log(&dir, &link).ok());
    }

    /// A chain of links ending in a missing directory: the last hop's directory decides.
    #[test]
    fn a_chain_of_links_into_a_missing_directory_is_a_problem() {
        let dir = Dir::new("");
        let a = dir.0.path().join("a.log");
        let b = dir.0.path().join("b.log");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink("/nonexistent/dir/c.log", &b).unwrap();
        assert!(!check_with_log(&dir, &a).ok());
    }

    #[test]
    fn a_missing_snippets_directory_and_a_missing_main_file_are_problems() {
        let dir = Dir::new("snippets = \"/nonexistent/drbd-reactor.d\"\n");
        let report = check(&dir.main());
        assert_eq!(report.problems.len(), 1);
        assert!(report.problems[0].contains("/nonexistent/drbd-reactor.d"));
        let report = check(Path::new("/nonexistent/main.toml"));
        assert_eq!(report.problems.len(), 1);
        assert!(report.problems[0].contains("/nonexistent/main.toml"));
    }

    #[test]
    fn unknown_keys_are_warnings_not_problems() {
        let dir = Dir::new("[[prometheus]]\naddress = \"127.0.0.1:0\"\nbogus = 1\n");
        let report = check(&dir.main());
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.warnings.len(), 1);
        assert!(report.warnings[0].contains("bogus"));
    }
}
