//! A plugin that panics is restarted alone (with the state replayed) while the others keep
//! running. Needs `--features fault-injection` (the debugger's `panic-on-change-of` key).

mod common;
use common::*;

const DUMP: &str = "exists resource name:r0 role:Secondary suspended:no force-io-failures:no write-ordering:flush may_promote:no promotion_score:10102
exists resource name:r1 role:Secondary suspended:no force-io-failures:no write-ordering:flush may_promote:no promotion_score:10102
exists -
";

#[test]
fn a_panicking_plugin_is_restarted_alone_while_the_debugger_keeps_printing() {
    let setup = Setup::new();
    setup.write("stream", DUMP);
    let config = setup.config(
        "[[debugger]]\nformat = \"compact\"\n\n[[debugger]]\nformat = \"compact\"\npanic-on-change-of = \"r1\"\n",
    );
    let mut daemon = setup.start(&config);
    daemon.wait_log("initial state: 2 resources", 1);
    let faulty = format!("[[debugger]] ({}:8)", config.display());
    let healthy = format!("[[debugger]] ({}:5)", config.display());

    setup.more("change resource name:r1 role:Primary\n");
    daemon.wait_log(&format!("plugin {faulty} panicked: fault injection: change of resource r1; restarting it alone in 100ms"), 1);
    daemon.wait_log(&format!("starting plugin {faulty}"), 2);

    setup.more("change resource name:r0 role:Primary\n");
    // both print the change of r0: the healthy one and the restarted one
    daemon.wait_log("Resource Change r0 role:Secondary->Primary", 2);
    let log = daemon.log();
    assert_eq!(
        log.matches(&format!("starting plugin {healthy}")).count(),
        1
    );
    assert_eq!(
        log.matches("Resource Change r1 role:Secondary->Primary")
            .count(),
        1,
        "only the healthy one saw it live"
    );
    // the restarted run got the current state replayed: r1 is Primary now
    assert!(
        log.contains("Resource Exists r1 promotion-score:0->10102 role:Unknown->Primary"),
        "{log}"
    );
    assert!(daemon.stop().success());
}
