//! Shared helpers: a temporary config directory with a main file and snippets.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
}

impl Setup {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn snippets_dir(&self) -> PathBuf {
        self.path("snippets.d")
    }

    /// Writes the main file; `{snippets}` is replaced by the snippets directory.
    pub fn main(&self, content: &str) -> PathBuf {
        let content = content.replace("{snippets}", &self.snippets_dir().display().to_string());
        let path = self.path("drbd-reactor.toml");
        std::fs::write(&path, content).expect("write main");
        path
    }

    /// Writes a snippet (creating the snippets directory).
    pub fn snippet(&self, name: &str, content: &str) -> PathBuf {
        std::fs::create_dir_all(self.snippets_dir()).expect("mkdir");
        let path = self.snippets_dir().join(name);
        std::fs::write(&path, content).expect("write snippet");
        path
    }
}

pub fn main_with_snippets(setup: &Setup) -> PathBuf {
    std::fs::create_dir_all(setup.snippets_dir()).expect("mkdir");
    setup.main("snippets = \"{snippets}\"\n")
}

pub fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}
