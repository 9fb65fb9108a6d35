//! A plugin whose stop takes 30 s never holds the core: during a reload that replaces it, lines
//! are applied, change plugins print them and state readers see them; SIGTERM during the slow
//! stop ends the daemon at that plugin's deadline. Needs the `fault-injection` feature (a
//! debugger that stops slowly).

mod common;
use common::*;
use std::io::{Read, Write};
use std::time::Instant;

fn scrape(port: u16) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

// 8 s: what the test checks between the reload and the old instance's deadline (a scrape,
// two log lines) has that long, also on a loaded machine.
const SLOW: &str =
    "[[debugger]]\nformat = \"compact\"\nslow-stop-ms = 30000\nstop-deadline-ms = 8000\n";
const DEADLINE_PASSED: &str = "did not stop within its deadline of 8s; cancelled";

#[test]
fn a_reload_replacing_a_slow_plugin_keeps_lines_flowing_and_sigterm_ends_at_its_deadline() {
    let setup = Setup::new();
    setup.write(
        "stream",
        "exists resource name:r0 role:Secondary suspended:no force-io-failures:no may_promote:no promotion_score:1\nexists -\n",
    );
    let port = free_port();
    setup.write("snippets/slow.toml", SLOW);
    let config = setup.config_with(
        &format!("snippets = \"{}\"\n", setup.path("snippets").display()),
        &format!("[[debugger]]\n[[prometheus]]\naddress = \"127.0.0.1:{port}\"\nenums = true\n"),
    );
    let mut daemon = setup.start(&config);
    daemon.wait_log(
        "Resource Exists r0 promotion-score:0->1 role:Unknown->Secondary",
        1,
    );
    wait_for("the first scrape", || {
        scrape(port).contains("drbd_resource_resources 1")
    });

    // Replace the slow instance (another value is another instance) and reload.
    setup.write("snippets/slow.toml", &SLOW.replace("30000", "30001"));
    daemon.signal(libc::SIGHUP);
    daemon.wait_log(
        "configuration reloaded: 2 plugins kept, 1 stopped, 1 started",
        1,
    );
    daemon.wait_log("fault injection: stopping slowly (30000 ms)", 1);

    // While the old instance takes its time to stop, a new line is applied, printed by the
    // debuggers and seen by the state reader.
    setup.more("change resource name:r0 role:Primary\n");
    let mut body = String::new();
    wait_for("the new state in a scrape", || {
        body = scrape(port);
        body.contains("drbd_resource_role{name=\"r0\",drbd_resource_role=\"Primary\"} 1")
    });
    daemon.wait_log("Resource Change r0 role:Secondary->Primary", 1);
    assert_eq!(
        daemon.count(DEADLINE_PASSED),
        0,
        "all of this happened while the old instance was still stopping"
    );
    // The stopping instance no longer gets updates: only its replacement printed the change.
    assert_eq!(
        daemon.count("Resource Change r0 role:Secondary->Primary"),
        1
    );

    // SIGTERM now: every instance stops in parallel; the old slow one and its (equally slow)
    // replacement are each cut off at their own deadline, the others stop at once.
    let sigterm = Instant::now();
    daemon.signal(libc::SIGTERM);
    assert!(daemon.wait_exit().success());
    let took = sigterm.elapsed();
    let log = daemon.log();
    assert_eq!(log.matches(DEADLINE_PASSED).count(), 2, "{log}");
    assert!(log.contains("all plugins stopped"), "{log}");
    // Cut off, not waited for: the slow stop wanted 30 s, the deadline is 8 s (not a speed
    // check: the margin is 22 s).
    assert!(took.as_secs() < 30, "{took:?}");
}
