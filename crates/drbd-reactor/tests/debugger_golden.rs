//! The debugger's output for replayed corpus files matches reviewed golden files.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p drbd-reactor --test debugger_golden`.

mod common;
use common::*;

fn debugger_output(corpus: &str, format: &str) -> String {
    let setup = Setup::new();
    setup.write(
        "stream",
        &std::fs::read_to_string(format!("tests/fixtures/{corpus}")).unwrap(),
    );
    setup.write("exit-after-stream", "");
    let config = setup.config(&format!("[[debugger]]\nformat = \"{format}\"\n"));
    let mut daemon = setup.start(&config);
    // The core logs the child's end after applying every line before it; stopping then
    // lets the debugger drain its queue before it exits.
    daemon.wait_log("ended after", 1);
    assert!(daemon.stop().success());
    let records: Vec<String> = daemon
        .records()
        .into_iter()
        .filter(|r| r.starts_with("DEBUG [drbd_reactor::plugin::debugger]"))
        .collect();
    records.join("\n") + "\n"
}

fn check(corpus: &str, format: &str) {
    let actual = debugger_output(corpus, format);
    let golden = format!(
        "tests/golden/debugger-{}-{format}.txt",
        corpus.trim_end_matches(".txt")
    );
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(actual, expected, "debugger output differs from {golden}");
}

#[test]
fn debugger_verbose_output_for_create_destroy_matches_the_golden_file() {
    check("events2-all-create-destroy.txt", "verbose");
}

#[test]
fn debugger_verbose_output_for_a_sync_with_helpers_matches_the_golden_file() {
    check("events2-all-create-helper.txt", "verbose");
}

#[test]
fn debugger_compact_output_for_a_resync_matches_the_golden_file() {
    check("events2-sync.txt", "compact");
}
