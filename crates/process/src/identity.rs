//! Which process a pid names: its start time, so that a pid recorded earlier can be told from
//! the same number reused by another process after the first one ended.
//!
//! Must never: take a pid alone for the process it once named.

/// Field 22 of /proc/PID/stat (clock ticks after boot when the process started); None if
/// there is no such process.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields 3.. follow the last
    // ')'.
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_start_time_that_stays_and_no_process_has_none() {
        let me = std::process::id();
        let start = start_time(me);
        assert!(start.is_some());
        assert_eq!(start_time(me), start);
        assert_eq!(start_time(u32::MAX), None);
    }
}
