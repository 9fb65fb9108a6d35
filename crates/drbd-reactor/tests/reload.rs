//! SIGHUP reload and SIGUSR1 config dump: unchanged instances keep running, changed ones
//! restart with the state replayed, an invalid configuration changes nothing.

mod common;
use common::*;

const DUMP: &str = "exists resource name:r0 role:Secondary suspended:no force-io-failures:no write-ordering:flush may_promote:no promotion_score:10102
exists -
";

fn start(setup: &Setup, snippet: &str) -> Daemon {
    setup.write("stream", DUMP);
    setup.write("snippets/a.toml", snippet);
    let globals = format!("snippets = \"{}\"\n", setup.path("snippets").display());
    let config = setup.config_with(&globals, "[[debugger]]\n");
    let daemon = setup.start(&config);
    daemon.wait_log("initial state: 1 resources", 1);
    daemon
}

fn reload(daemon: &Daemon, nth: usize, needle: &str) {
    daemon.signal(libc::SIGHUP);
    daemon.wait_log(needle, nth);
}

#[test]
fn a_valid_change_restarts_only_the_changed_plugin_with_the_state_replayed() {
    let setup = Setup::new();
    let mut daemon = start(&setup, "[[debugger]]\nformat = \"compact\"\n");
    let snippet = setup.path("snippets/a.toml");
    let main = setup.path("reactor.toml");
    daemon.wait_log(
        "Resource Exists r0 promotion-score:0->10102 role:Unknown->Secondary",
        1,
    );

    setup.write(
        "snippets/a.toml",
        "# changed\n[[debugger]]\nformat = \"compact\"\nid = \"new\"\n",
    );
    reload(
        &daemon,
        1,
        "configuration reloaded: 1 plugins kept, 1 stopped, 1 started",
    );
    let log = daemon.log();
    assert_eq!(
        log.matches(&format!(
            "starting plugin [[debugger]] ({}:6)",
            main.display()
        ))
        .count(),
        1,
        "the unchanged one kept running"
    );
    assert_eq!(
        log.matches(&format!(
            "stopping plugin [[debugger]] ({}:1)",
            snippet.display()
        ))
        .count(),
        1
    );
    assert_eq!(
        log.matches(&format!(
            "starting plugin [[debugger]] ({}:2)",
            snippet.display()
        ))
        .count(),
        1
    );
    // The deprecation is reported where it is written, when the file is read.
    assert!(log.contains(&format!(
        "{}:4: key 'id': [[debugger]]: 'id' is deprecated and ignored",
        snippet.display()
    )));
    // the new instance got the current state as Exists
    daemon.wait_log(
        "Resource Exists r0 promotion-score:0->10102 role:Unknown->Secondary",
        2,
    );

    // comments and whitespace only: nothing restarts
    setup.write(
        "snippets/a.toml",
        "\n\n[[debugger]]\nid = \"new\"  # same\nformat = \"compact\"\n",
    );
    reload(
        &daemon,
        1,
        "configuration reloaded: 2 plugins kept, 0 stopped, 0 started",
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_broken_snippet_logs_file_and_line_and_changes_nothing() {
    let setup = Setup::new();
    let mut daemon = start(&setup, "[[debugger]]\nformat = \"compact\"\n");
    setup.write("snippets/a.toml", "[[debugger]]\nformat = 3\n");
    let expected = format!(
        "ERROR [drbd_reactor] reload failed, keeping the running configuration: {}:2:1: key 'format'",
        setup.path("snippets/a.toml").display()
    );
    reload(&daemon, 1, &expected);
    assert_eq!(daemon.count("starting plugin"), 2);
    assert_eq!(daemon.count("stopping plugin"), 0);

    setup.write("snippets/a.toml", "[[debugger\n");
    reload(
        &daemon,
        2,
        "reload failed, keeping the running configuration",
    );
    assert!(daemon
        .log()
        .contains(&format!("{}:1", setup.path("snippets/a.toml").display())));

    // the old configuration is still the running one
    daemon.signal(libc::SIGUSR1);
    daemon.wait_log("main: plugin config:", 2);
    let log = daemon.log();
    assert!(
        log.contains(
            "INFO [drbd_reactor] main: plugin config:\n[[debugger]]\nformat = \"verbose\"\n"
        ),
        "{log}"
    );
    assert!(
        log.contains(
            "INFO [drbd_reactor] main: plugin config:\n[[debugger]]\nformat = \"compact\"\n"
        ),
        "{log}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn duplicate_sections_on_reload_are_rejected_without_killing_the_daemon() {
    let setup = Setup::new();
    let mut daemon = start(&setup, "[[debugger]]\nformat = \"compact\"\n");
    setup.write("snippets/a.toml", "[[debugger]]\nformat = \"verbose\"\n");
    let expected = format!(
        "reload failed, keeping the running configuration: {}:1:1: duplicate plugin instance: this [[debugger]] is identical (after defaults) to the one at {}:6",
        setup.path("snippets/a.toml").display(),
        setup.path("reactor.toml").display()
    );
    reload(&daemon, 1, &expected);
    assert_eq!(daemon.count("stopping plugin"), 0);
    // still alive and reloadable
    setup.write("snippets/a.toml", "");
    reload(
        &daemon,
        1,
        "configuration reloaded: 1 plugins kept, 1 stopped, 0 started",
    );
    assert!(daemon.stop().success());
}

#[test]
fn one_resource_in_two_promoters_on_reload_is_rejected_keeping_the_running_config() {
    let setup = Setup::new();
    let mut daemon = start(&setup, "");
    setup.write(
        "snippets/a.toml",
        "[[debugger]]\nformat = \"compact\"\n\n[[promoter]]\n[promoter.resources.r0]\nstart = [\"a.service\"]\n\n[[promoter]]\n[promoter.resources.r0]\nstart = [\"b.service\"]\n",
    );
    reload(
        &daemon,
        1,
        &format!(
            "{}:9:21: key 'resources.r0': [[promoter]]: resource 'r0' is already managed",
            setup.path("snippets/a.toml").display()
        ),
    );
    assert_eq!(daemon.count("starting plugin"), 1);
    assert!(daemon.stop().success());
}

#[test]
fn a_changed_statistics_poll_interval_is_reported_as_needing_a_restart() {
    let setup = Setup::new();
    let mut daemon = start(&setup, "");
    let globals = format!(
        "snippets = \"{}\"\nstatistics-poll-interval = 5\n",
        setup.path("snippets").display()
    );
    setup.config_with(&globals, "[[debugger]]\n");
    reload(
        &daemon,
        1,
        "statistics-poll-interval is 5 but drbdsetup runs with 60: takes effect when the daemon restarts",
    );
    daemon.wait_log(
        "configuration reloaded: 1 plugins kept, 0 stopped, 0 started",
        1,
    );
    assert!(daemon.stop().success());
}

#[test]
fn the_generation_file_says_which_pass_is_in_effect_and_why_one_failed() {
    let setup = Setup::new();
    let mut daemon = start(&setup, "");
    let file = setup.path("run/config-generation");
    let pid = daemon.child.id();
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .starts_with(&format!("pid={pid}\ngeneration=1\n")));
    setup.write("snippets/a.toml", "[[debugger]]\nformat = 3\n");
    daemon.signal(libc::SIGHUP);
    let mut text = String::new();
    wait_for("generation 2 in the file", || {
        text = std::fs::read_to_string(&file).unwrap_or_default();
        text.contains("generation=2\n")
    });
    assert!(text.contains("result=failed\n"), "{text}");
    assert!(text.contains("a.toml:2:1: key 'format'"), "{text}");
    setup.write("snippets/a.toml", "[[debugger]]\nformat = \"compact\"\n");
    daemon.signal(libc::SIGHUP);
    wait_for("generation 3 in the file", || {
        text = std::fs::read_to_string(&file).unwrap_or_default();
        text.contains("generation=3\n")
    });
    assert!(text.contains("result=ok\nerror=\n"), "{text}");
    let health = std::fs::read_to_string(setup.path("run/health")).unwrap();
    assert!(
        health.contains("events2-running=yes\ninitial-dump-complete=yes\n"),
        "{health}"
    );
    assert!(daemon.stop().success());
}
