//! The plugins with their own crates, run by the real daemon against a stand-in drbdsetup.

mod common;
use common::*;
use std::io::{Read, Write};

/// One scrape, bounded: a server that does not answer within 30 s fails the test instead of
/// hanging it.
fn scrape(port: u16) -> Option<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let limit = std::time::Duration::from_secs(30);
    let mut s = std::net::TcpStream::connect_timeout(&addr, limit).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    s.set_write_timeout(Some(limit)).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

#[test]
fn prometheus_serves_the_state_with_the_originals_families_byte_for_byte() {
    let setup = Setup::new();
    setup.write(
        "stream",
        include_str!("fixtures/monitoring-example.events2"),
    );
    setup.drbdadm_version(include_str!("fixtures/monitoring-example.drbdadm-version"));
    let port = free_port();
    let config = setup.config(&format!(
        "[[prometheus]]\naddress = \"127.0.0.1:{port}\"\nenums = true\n"
    ));
    let mut daemon = setup.start(&config);
    let mut body = String::new();
    wait_for("a scrape with the fixture state and versions", || {
        body = scrape(port).unwrap_or_default();
        body.contains("drbd_resource_resources 1\n") && body.contains("kmod=\"9.2.8\"")
    });
    let original = &body[..body
        .find("# TYPE drbd_peerdevice_sent_bytes_total")
        .unwrap()];
    assert_eq!(
        original,
        include_str!("fixtures/prometheus-example-enums.txt")
    );
    assert!(
        body.contains("drbdreactor_events_processed_total "),
        "{body}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_umh_rule_fires_on_a_live_change_but_not_for_the_replay_after_a_reload() {
    let setup = Setup::new();
    setup.write(
        "stream",
        "exists resource name:r0 role:Primary suspended:no force-io-failures:no may_promote:no promotion_score:10101\n\
         exists device name:r0 volume:0 minor:1000 backing_dev:/dev/vg/r0 disk:UpToDate client:no open:yes quorum:yes\n\
         exists -\n",
    );
    let fired = setup.path("fired");
    let rule = |name: &str, filters: &str| {
        format!(
            "[[umh.device]]\nname = \"{name}\"\n{filters}\ncommand = 'echo \"$DRBD_RES_NAME $DRBD_OLD_QUORUM $DRBD_NEW_QUORUM {name}\" >> {}'\n",
            fired.display()
        )
    };
    let lost = rule("quorum lost", "old.quorum = true\nnew.quorum = false");
    let config = setup.config(&format!("[[umh]]\n{lost}"));
    let mut daemon = setup.start(&config);
    setup.more("change device name:r0 volume:0 minor:1000 backing_dev:/dev/vg/r0 disk:UpToDate client:no open:yes quorum:no\n");
    wait_for("the quorum-lost rule to run", || {
        std::fs::read_to_string(&fired).unwrap_or_default() == "r0 true false quorum lost\n"
    });
    // A changed [[umh]] starts again with the state replayed; a rule that would match the
    // replayed device (new.quorum = false) must not fire for it.
    let without = rule("without quorum", "new.quorum = false");
    setup.config(&format!("[[umh]]\n{lost}\n{without}"));
    daemon.signal(libc::SIGHUP);
    daemon.wait_log("configuration reloaded", 1);
    setup.more("change device name:r0 volume:0 minor:1000 backing_dev:/dev/vg/r0 disk:UpToDate client:no open:yes quorum:yes\n");
    setup.more("change device name:r0 volume:0 minor:1000 backing_dev:/dev/vg/r0 disk:UpToDate client:no open:yes quorum:no\n");
    wait_for("both rules to run for the second loss", || {
        std::fs::read_to_string(&fired)
            .unwrap_or_default()
            .lines()
            .count()
            == 3
    });
    // Commands of different rules run concurrently, in no fixed order.
    let mut lines: Vec<String> = std::fs::read_to_string(&fired)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "r0 true false quorum lost",
            "r0 true false quorum lost",
            "r0 true false without quorum"
        ]
    );
    assert!(daemon.stop().success());
}

#[test]
fn an_idle_client_and_200_scrapers_delay_neither_scrapes_nor_event_processing() {
    let setup = Setup::new();
    setup.write(
        "stream",
        include_str!("fixtures/monitoring-example.events2"),
    );
    let port = free_port();
    let config = setup.config(&format!(
        "[[prometheus]]\naddress = \"127.0.0.1:{port}\"\n[[debugger]]\n"
    ));
    let mut daemon = setup.start(&config);
    wait_for("the endpoint", || {
        scrape(port).is_some_and(|b| b.contains("drbd_resource_resources 1\n"))
    });
    let _idle = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut half = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    let scrapers: Vec<_> = (0..200)
        .map(|_| std::thread::spawn(move || scrape(port)))
        .collect();
    // Events keep flowing while the scrapers and the idle clients are there.
    setup.more("exists resource name:r9 role:Secondary suspended:no force-io-failures:no may_promote:no promotion_score:0\n");
    wait_for("the new resource in a scrape", || {
        scrape(port).is_some_and(|b| b.contains("drbd_resource_resources 2\n"))
    });
    daemon.wait_log("r9", 1);
    for s in scrapers {
        assert!(s
            .join()
            .unwrap()
            .is_some_and(|b| b.contains("drbdreactor_up 1")));
    }
    assert!(daemon.stop().success());
}

#[test]
fn an_address_in_use_is_an_error_for_that_plugin_while_the_others_keep_running() {
    let setup = Setup::new();
    setup.write(
        "stream",
        include_str!("fixtures/monitoring-example.events2"),
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = setup.config(&format!(
        "[[prometheus]]\naddress = \"127.0.0.1:{port}\"\n\n[[debugger]]\nformat = \"compact\"\n"
    ));
    let mut daemon = setup.start(&config);
    daemon.wait_log(&format!("[[prometheus]] address \"127.0.0.1:{port}\""), 1);
    assert!(
        daemon.log().contains("Address already in use"),
        "{}",
        daemon.log()
    );
    setup.more("exists resource name:r9 role:Secondary suspended:no force-io-failures:no may_promote:no promotion_score:0\n");
    daemon.wait_log("r9", 1);
    assert!(daemon.stop().success());
}

#[test]
fn a_thousand_rapid_changes_under_max_concurrent_4_run_at_most_4_scripts_and_lose_none() {
    let setup = Setup::new();
    let mut stream = String::from("exists resource name:r0 role:Secondary suspended:no force-io-failures:no may_promote:no promotion_score:1\nexists -\n");
    for i in 0..1000 {
        let role = if i % 2 == 0 { "Primary" } else { "Secondary" };
        stream += &format!("change resource name:r0 role:{role} suspended:no force-io-failures:no may_promote:no promotion_score:1\n");
    }
    setup.write("stream", &stream);
    let d = setup.path("runs");
    std::fs::create_dir(&d).unwrap();
    let d = d.display();
    let script = format!(
        "n=0; while ! mkdir {d}/slot-$n 2>/dev/null; do n=$((n+1)); done; echo $n >> {d}/slots; sleep 0.01; touch {d}/done-$$; rmdir {d}/slot-$n"
    );
    let config = setup.config(&format!("[[umh]]\nmax-concurrent = 4\n[[umh.resource]]\nname = \"flip\"\nevent-type = \"Change\"\ncommand = '{script}'\n"));
    let mut daemon = setup.start(&config);
    let done = || {
        std::fs::read_dir(setup.path("runs"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("done-")
            })
            .count()
    };
    wait_for("1000 scripts to finish", || done() == 1000);
    let most = std::fs::read_to_string(setup.path("runs/slots"))
        .unwrap()
        .lines()
        .map(|l| l.parse::<u32>().unwrap())
        .max()
        .unwrap();
    assert!(most < 4, "{} scripts ran at once", most + 1);
    assert!(daemon.stop().success());
}

#[test]
fn at_stop_a_running_umh_command_gets_its_timeout_then_its_group_is_killed_and_logged() {
    let setup = Setup::new();
    setup.write(
        "stream",
        "exists resource name:r0 role:Secondary suspended:no force-io-failures:no may_promote:no promotion_score:1\nexists -\n",
    );
    let pidfile = setup.path("sleeper");
    let config = setup.config(&format!(
        "[[umh]]\n[[umh.resource]]\nname = \"long\"\nevent-type = \"Change\"\ntimeout = 3\ncommand = 'sleep 100031 & echo $! > {}; wait'\n",
        pidfile.display()
    ));
    let mut daemon = setup.start(&config);
    daemon.wait_log("initial state", 1);
    setup.more("change resource name:r0 role:Primary\n");
    wait_for("the command to start", || {
        std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))
    });
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(daemon.stop().success());
    let log = daemon.log();
    assert!(
        log.contains("stopping: waiting for 1 commands to end"),
        "{log}"
    );
    assert!(
        log.contains("rule 'long': killed after its timeout of 3 s"),
        "{log}"
    );
    wait_for("the sleep to be gone", || process_gone(pid));
}
