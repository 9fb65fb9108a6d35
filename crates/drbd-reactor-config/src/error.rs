//! Where a configuration problem is (file, line, column, key) and what it is, with the
//! source line and a caret under the column. Every message the user sees about the
//! configuration goes through these types, so that none of them can lose the file or line.
//! Must never do I/O.

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

/// A configuration that cannot be used. Names the file, line, column and key where known,
/// and shows the source line with a caret under the column:
///
/// ```text
/// /etc/drbd-reactor.toml:12:1: key 'log[0].file': cannot open log file /x/y.log: No such file or directory (os error 2)
///    |
/// 12 | file = "/x/y.log"
///    | ^
/// ```
#[derive(Debug)]
pub struct ConfigError {
    /// The file (and line) the problem is in, when it is about a file's content.
    pub origin: Option<Origin>,
    /// The column and the source line at the origin (boxed: errors travel in `Result`s).
    pub place: Option<Box<Place>>,
    /// A path the problem is about when there is no line (missing file, unreadable directory).
    pub path: Option<PathBuf>,
    pub key: Option<String>,
    pub message: String,
    source: Option<std::io::Error>,
}

/// Where on the origin's line a problem is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// 1-based column (in characters), when known.
    pub column: Option<usize>,
    /// The source line, shown under the message with a caret under the column.
    pub excerpt: Option<String>,
}

/// Where a key was written, kept with a value whose use can fail later (a [[log]] file is
/// opened after loading): everything a located [`ConfigError`] needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub origin: Origin,
    /// The key path (`log[0].file`).
    pub key: String,
    pub column: Option<usize>,
    pub excerpt: Option<String>,
}

impl Site {
    /// The site of `key` at `origin` in `text` (the content of `origin.file`).
    pub fn new(origin: Origin, key: &str, text: &str) -> Site {
        let excerpt = source_line(text, origin.line);
        let column = excerpt.as_deref().map(|line| key_column(line, key));
        Site {
            origin,
            key: key.to_string(),
            column,
            excerpt,
        }
    }

    /// An error at this site, with an I/O cause if there is one.
    pub fn error(&self, message: impl Into<String>, source: Option<std::io::Error>) -> ConfigError {
        ConfigError {
            origin: Some(self.origin.clone()),
            place: Some(Box::new(Place {
                column: self.column,
                excerpt: self.excerpt.clone(),
            })),
            path: None,
            key: Some(self.key.clone()),
            message: message.into(),
            source,
        }
    }
}

/// Line `line` (1-based) of `text`, without its line break.
pub(crate) fn source_line(text: &str, line: usize) -> Option<String> {
    text.lines()
        .nth(line.checked_sub(1)?)
        .map(|l| l.trim_end_matches('\r').to_string())
}

/// The column (1-based, in characters) of key path `key` on `line`: where its last part is
/// written (`file` of `log[0].file`), else the first non-blank character.
pub(crate) fn key_column(line: &str, key: &str) -> usize {
    let last = key
        .rsplit('.')
        .next()
        .unwrap_or(key)
        .split('[')
        .next()
        .unwrap_or("");
    let at = (!last.is_empty())
        .then(|| line.find(last))
        .flatten()
        .or_else(|| line.find(|c: char| !c.is_whitespace()))
        .unwrap_or(0);
    line[..at].chars().count() + 1
}

impl ConfigError {
    /// A problem at a place in a file.
    pub fn at(origin: Origin, key: Option<String>, message: impl Into<String>) -> Self {
        ConfigError {
            origin: Some(origin),
            place: None,
            path: None,
            key,
            message: message.into(),
            source: None,
        }
    }

    /// Adds the excerpt (and the column, if unknown) from `text`, the content of the
    /// origin's file; nothing for an error without a line.
    pub fn with_source_text(mut self, text: &str) -> Self {
        if let Some(origin) = &self.origin {
            let place = self.place.get_or_insert_with(Box::default);
            if place.excerpt.is_none() {
                place.excerpt = source_line(text, origin.line);
            }
            if place.column.is_none() {
                if let Some(line) = &place.excerpt {
                    place.column = Some(key_column(line, self.key.as_deref().unwrap_or("")));
                }
            }
        }
        self
    }

    /// The 1-based column of the problem on its line, when known.
    pub fn column(&self) -> Option<usize> {
        self.place.as_ref().and_then(|p| p.column)
    }

    /// Sets the column of the problem on its line.
    pub fn set_column(&mut self, column: usize) {
        self.place.get_or_insert_with(Box::default).column = Some(column);
    }

    /// A problem with a file or directory as a whole (it cannot be read, listed, opened).
    pub fn io(path: &Path, message: impl Into<String>, source: std::io::Error) -> Self {
        ConfigError {
            origin: None,
            place: None,
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
            place: None,
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
            match self.column() {
                Some(column) => write!(f, "{origin}:{column}: ")?,
                None => write!(f, "{origin}: ")?,
            }
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
        let excerpt = self.place.as_ref().and_then(|p| p.excerpt.as_ref());
        if let (Some(origin), Some(excerpt)) = (&self.origin, excerpt) {
            let number = origin.line.to_string();
            let gutter = " ".repeat(number.len());
            write!(f, "\n{gutter} |\n{number} | {excerpt}")?;
            if let Some(column) = self.column() {
                // The caret sits under the column; tabs before it stay tabs so it lines up.
                let pad: String = excerpt
                    .chars()
                    .take(column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                write!(f, "\n{gutter} | {pad}^")?;
            }
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
