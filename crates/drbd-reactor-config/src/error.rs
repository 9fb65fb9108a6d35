//! Where a configuration problem is (file, line, key) and what it is.
//! Every message the user sees about the configuration goes through these types,
//! so that none of them can lose the file or line. Must never do I/O.

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in a configuration file; displays as `file:line`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
}

impl Origin {
    pub fn new(file: impl Into<PathBuf>, line: usize) -> Self {
        Origin {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A located message (a warning such as an unknown key); displays as
/// `file:line: key 'k': message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub origin: Origin,
    /// Dotted key path (`resources.foo.start[0]`), if the message is about a key.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.origin)?;
        if let Some(key) = &self.key {
            write!(f, "key '{key}': ")?;
        }
        f.write_str(&self.message)
    }
}

/// A configuration that cannot be used. Names the file, line and key where known.
#[derive(Debug)]
pub struct ConfigError {
    /// The file (and line) the problem is in, when it is about a file's content.
    pub origin: Option<Origin>,
    /// A path the problem is about when there is no line (missing file, unreadable directory).
    pub path: Option<PathBuf>,
    pub key: Option<String>,
    pub message: String,
    source: Option<std::io::Error>,
}

impl ConfigError {
    /// A problem at a place in a file.
    pub fn at(origin: Origin, key: Option<String>, message: impl Into<String>) -> Self {
        ConfigError {
            origin: Some(origin),
            path: None,
            key,
            message: message.into(),
            source: None,
        }
    }

    /// A problem with a file or directory as a whole (it cannot be read, listed, opened).
    pub fn io(path: &Path, message: impl Into<String>, source: std::io::Error) -> Self {
        ConfigError {
            origin: None,
            path: Some(path.to_path_buf()),
            key: None,
            message: message.into(),
            source: Some(source),
        }
    }

    /// A problem that is about no file.
    pub(crate) fn at_nothing(message: impl Into<String>) -> Self {
        ConfigError {
            origin: None,
            path: None,
            key: None,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn from_located(located: Located) -> Self {
        ConfigError::at(located.origin, located.key, located.message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(origin) = &self.origin {
            write!(f, "{origin}: ")?;
        } else if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        if let Some(key) = &self.key {
            write!(f, "key '{key}': ")?;
        }
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
