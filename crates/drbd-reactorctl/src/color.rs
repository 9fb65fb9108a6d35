//! Whether stdout gets colours (only on a terminal; NO_COLOR, CLICOLOR, CLICOLOR_FORCE
//! honoured) and the few styles ctl uses. Must never colour anything that is not a terminal
//! unless forced.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// Text styles of spec ctl.md §4.1 and §5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    BoldGreen,
    BoldRed,
    BoldYellow,
    Bold,
    Blue,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::BoldGreen => "1;32",
            Style::BoldRed => "1;31",
            Style::BoldYellow => "1;33",
            Style::Bold => "1",
            Style::Blue => "34",
        }
    }
}

/// The decision from the environment and whether stdout is a terminal.
pub fn decide(get: impl Fn(&str) -> Option<String>, is_terminal: bool) -> bool {
    let set = |name: &str| get(name).filter(|v| !v.is_empty());
    if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
        return true;
    }
    if set("NO_COLOR").is_some() || get("CLICOLOR").as_deref() == Some("0") {
        return false;
    }
    is_terminal
}

/// Whether this process colours its stdout.
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| decide(|n| std::env::var(n).ok(), std::io::stdout().is_terminal()))
}

/// `text` in `style` if `color`, else plain.
pub fn paint(text: &str, style: Style, color: bool) -> String {
    if color {
        format!("\x1b[{}m{text}\x1b[0m", style.code())
    } else {
        text.to_string()
    }
}

/// `WARN: <text>` on stdout (WARN bold red when coloured).
pub fn warn(text: &str) {
    outln!("{} {text}", paint("WARN:", Style::BoldRed, enabled()));
}

/// `INFO: <text>` on stdout (INFO bold yellow when coloured).
pub fn info(text: &str) {
    outln!("{} {text}", paint("INFO:", Style::BoldYellow, enabled()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn colours_only_on_a_terminal_unless_forced_or_disabled() {
        assert!(decide(env(&[]), true));
        assert!(!decide(env(&[]), false));
        assert!(decide(env(&[("CLICOLOR_FORCE", "1")]), false));
        assert!(!decide(env(&[("NO_COLOR", "1")]), true));
        assert!(!decide(env(&[("CLICOLOR", "0")]), true));
        assert!(decide(env(&[("NO_COLOR", "")]), true));
    }
}
