//! Arbitrary text as a main configuration file plus up to three snippets (split at `%`
//! bytes; a first line naming the snippets directory is put before the main file's text): loading, typing every
//! plugin section as the daemon does, and rendering every error and warning never panic, and
//! every error about a place in a file names a line inside that file.
//!
//! Run from `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz run config_load -O -s none corpus/config_load`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// One directory for the whole run, on tmpfs (`/dev/shm`) where there is one: a fresh
/// directory per input, or files on a disk filesystem, cost most of the time.
fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        };
        let dir = dir.unwrap();
        std::fs::create_dir(dir.path().join("snippets")).unwrap();
        dir
    })
}

/// How many snippets the previous input wrote (only those are removed, not the directory).
static WRITTEN: AtomicUsize = AtomicUsize::new(0);

fuzz_target!(|data: &[u8]| {
    let dir = dir();
    let snippets = dir.path().join("snippets");
    for i in 0..WRITTEN.swap(0, Ordering::Relaxed) {
        std::fs::remove_file(snippets.join(format!("{i}.toml"))).unwrap();
    }
    let mut parts = data.split(|&b| b == b'%').filter(|p| !p.is_empty());
    let main_text = parts.next().unwrap_or_default();
    let mut main = format!("snippets = \"{}\"\n", snippets.display()).into_bytes();
    main.extend_from_slice(main_text);
    let main_path = dir.path().join("reactor.toml");
    std::fs::write(&main_path, &main).unwrap();
    let mut files = vec![(main_path.clone(), lines(&main))];
    for (i, part) in parts.take(3).enumerate() {
        let path = snippets.join(format!("{i}.toml"));
        std::fs::write(&path, part).unwrap();
        WRITTEN.store(i + 1, Ordering::Relaxed);
        files.push((path, lines(part)));
    }
    match drbd_reactor_config::load(&main_path) {
        Err(err) => check(&err, &files),
        Ok(config) => {
            for w in &config.warnings {
                let _ = w.to_string();
            }
            match drbd_reactor::plugin::from_config(&config) {
                Err(err) => check(&err, &files),
                Ok((plugins, warnings)) => {
                    for w in &warnings {
                        let _ = w.to_string();
                    }
                    for p in &plugins {
                        let _ = p.config.to_toml();
                    }
                }
            }
        }
    }
});

fn lines(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b == b'\n').count() + 1
}

/// The error renders, and a line it names is a line of a file that was written.
fn check(err: &drbd_reactor_config::ConfigError, files: &[(std::path::PathBuf, usize)]) {
    let text = err.to_string();
    assert!(!text.is_empty());
    if let Some(origin) = &err.origin {
        let Some((_, n)) = files.iter().find(|(path, _)| *path == origin.file) else {
            panic!("{text}: names a file that was not written");
        };
        assert!(
            (1..=*n).contains(&origin.line),
            "{text}: line {} of a file of {n} lines",
            origin.line
        );
    }
}
