//! The shipped `units/ocf.rs@.service` keeps the original's contract (promoter.md §7.1): the
//! same command lines, notify type, restart policy and OCF variables; the misspelt interval
//! line is gone.

const UNIT: &str = include_str!("../../../units/ocf.rs@.service");

fn directives() -> Vec<&'static str> {
    UNIT.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn the_unit_keeps_the_original_command_lines_and_environment() {
    let d = directives();
    for line in [
        "Description=Wrapper for OCF Resource Agent Instance: %I",
        "Type=notify",
        "Restart=always",
        "Environment=OCF_ROOT=/usr/lib/ocf",
        "Environment=OCF_RESOURCE_INSTANCE=%i",
        "ExecStart=/usr/libexec/drbd-reactor/ocf-rs-wrapper start-and-monitor %n",
        "ExecStopPost=/usr/libexec/drbd-reactor/ocf-rs-wrapper stop %n",
    ] {
        assert!(d.contains(&line), "missing {line:?}");
    }
    assert!(
        !d.iter().any(|l| l.starts_with("ExecStop=")),
        "stop must come from SIGTERM in the main process, not ExecStop="
    );
}

#[test]
fn the_unit_sets_no_monitor_interval_so_either_spelling_in_a_drop_in_counts() {
    let d = directives();
    assert!(
        !d.iter()
            .any(|l| l.contains("monitor_inverval") || l.contains("monitor_interval")),
        "{d:?}"
    );
}

#[test]
fn only_the_wrapper_gets_sigterm() {
    assert!(directives().contains(&"KillMode=mixed"));
}
