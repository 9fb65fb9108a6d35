//! sd_notify: READY after the initial dump, RELOADING then READY around a reload,
//! STOPPING at the end, on an abstract socket (`@name`).

mod common;
use common::*;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

fn next(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .expect("a notification before the deadline");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The next message that is not only a STATUS update.
/// Starts the daemon with NOTIFY_SOCKET set to a fresh abstract socket (named after `tag`).
fn start_notified(setup: &Setup, config: &std::path::Path, tag: &str) -> (UnixDatagram, Daemon) {
    let name = format!("drbd-reactor-test-{tag}-{}", std::process::id());
    let socket =
        UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut cmd = setup.command(config);
    cmd.env("NOTIFY_SOCKET", format!("@{name}"));
    (socket, setup.start_with(cmd))
}

fn next_state(socket: &UnixDatagram) -> String {
    loop {
        let msg = next(socket);
        if !msg.lines().all(|l| l.starts_with("STATUS=")) {
            return msg;
        }
    }
}

#[test]
fn notifications_arrive_in_order_ready_reloading_ready_stopping() {
    let setup = Setup::new();
    setup.write(
        "stream",
        "exists resource name:r0 role:Secondary\nexists -\n",
    );
    let config = setup.config("[[debugger]]\n");
    let (socket, mut daemon) = start_notified(&setup, &config, "ok");

    let ready = next_state(&socket);
    assert!(
        ready.starts_with("READY=1\nSTATUS=Running: 1 resources, 1 plugins"),
        "{ready}"
    );
    assert!(
        daemon.log().contains("initial state: 1 resources"),
        "READY only after the dump"
    );

    daemon.signal(libc::SIGHUP);
    let reloading = next_state(&socket);
    let mut lines = reloading.lines();
    assert_eq!(lines.next(), Some("RELOADING=1"));
    assert!(lines.next().unwrap().starts_with("MONOTONIC_USEC="));
    assert!(next_state(&socket).starts_with("READY=1\n"));

    daemon.signal(libc::SIGTERM);
    assert!(next_state(&socket).starts_with("STOPPING=1\n"));
    assert!(daemon.wait_exit().success());
    // The daemon has exited: whatever it sent is queued. After STOPPING=1 only status text
    // and the extension of systemd's stop timeout to the plugins' stop deadlines (the
    // debugger's 10 s, plus 10 s), so that systemd's default 90 s never cuts a promoter's stop.
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    let mut extended = Vec::new();
    while let Ok(n) = socket.recv(&mut buf) {
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        for l in msg.lines() {
            match l.strip_prefix("EXTEND_TIMEOUT_USEC=") {
                Some(usec) => extended.push(usec.parse::<u64>().unwrap()),
                None => assert!(l.starts_with("STATUS="), "after STOPPING=1: {msg:?}"),
            }
        }
    }
    assert_eq!(extended.len(), 1, "{extended:?}");
    assert!(
        (19_000_000..=20_000_000).contains(&extended[0]),
        "{extended:?}"
    );
}

#[test]
fn the_daemon_does_not_pass_notify_socket_to_drbdsetup() {
    let setup = Setup::new();
    setup.drbdsetup("#!/bin/sh\necho \"${NOTIFY_SOCKET:-unset}\" > \"$(dirname \"$0\")/../env\"\necho 'exists -'\nwhile read -r l; do :; done\n");
    let config = setup.config("");
    let mut cmd = setup.command(&config);
    cmd.env("NOTIFY_SOCKET", "@drbd-reactor-test-nobody-listens");
    let mut daemon = setup.start_with(cmd);
    wait_for("the stand-in to record its environment", || {
        setup.path("env").exists()
    });
    daemon.wait_log("initial state", 1);
    assert_eq!(
        std::fs::read_to_string(setup.path("env")).unwrap(),
        "unset\n"
    );
    assert!(
        daemon.stop().success(),
        "a notify socket nobody listens on is not fatal"
    );
}

#[test]
fn a_start_without_a_working_drbdsetup_is_ready_with_a_status_saying_so() {
    let setup = Setup::new();
    setup.write("fail", "");
    let config = setup.config("[[debugger]]\n");
    let (socket, mut daemon) = start_notified(&setup, &config, "fail");
    let ready = next_state(&socket);
    assert!(
        ready.starts_with("READY=1\nSTATUS=drbdsetup events2 not running: drbdsetup events2 (pid "),
        "{ready}"
    );
    assert!(ready.contains("exit status: 20"), "{ready}");
    assert!(daemon.stop().success());
}

/// A drbdsetup that runs but prints nothing (stuck in the kernel): READY=1 came only with
/// the dump, so systemd killed the unit at its start timeout, up to the start limit.
#[test]
fn a_drbdsetup_that_prints_nothing_still_lets_the_daemon_get_ready_saying_why() {
    let setup = Setup::new();
    setup.drbdsetup("#!/bin/sh\nexec sleep 1000\n");
    let config = setup.config("[[debugger]]\n");
    let (socket, mut daemon) = start_notified(&setup, &config, "silent");
    let ready = next_state(&socket);
    assert!(
        ready.starts_with("READY=1\nSTATUS=waiting for the initial dump of drbdsetup events2"),
        "{ready}"
    );
    assert!(daemon.stop().success());
}

/// A reload while drbdsetup is down said `STATUS=Running: 0 resources, ...`, hiding in
/// `systemctl status` why the daemon has no state.
#[test]
fn a_reload_while_drbdsetup_is_down_keeps_the_status_saying_why() {
    let setup = Setup::new();
    setup.write("fail", "");
    let config = setup.config("[[debugger]]\n");
    let (socket, mut daemon) = start_notified(&setup, &config, "reload-down");
    let ready = next_state(&socket);
    assert!(
        ready.starts_with("READY=1\nSTATUS=drbdsetup events2 not running: "),
        "{ready}"
    );
    daemon.signal(libc::SIGHUP);
    assert!(next_state(&socket).starts_with("RELOADING=1\n"));
    let after = next_state(&socket);
    assert!(
        after.starts_with("READY=1\nSTATUS=drbdsetup events2 not running: drbdsetup events2 (pid "),
        "{after}"
    );
    assert!(after.contains("exit status: 20"), "{after}");
    assert!(daemon.stop().success());
}

/// A reload before the initial dump sent `READY=1` at once (systemd took the start as done
/// before the dump) and a second one with the dump.
#[test]
fn a_reload_before_the_initial_dump_leaves_ready_to_the_dump_and_sends_it_once() {
    let setup = Setup::new();
    // The dump comes only when the test says so.
    setup.drbdsetup(
        "#!/bin/sh\nd=\"$(dirname \"$0\")/..\"\nwhile [ ! -e \"$d/go\" ]; do sleep 0.01; done\n\
         echo 'exists resource name:r0 role:Secondary'\necho 'exists -'\nwhile read -r l; do :; done\n",
    );
    let config = setup.config("[[debugger]]\n");
    let (socket, mut daemon) = start_notified(&setup, &config, "reload-early");
    daemon.wait_log("signal-handler: set up done", 1);
    daemon.signal(libc::SIGHUP);
    daemon.wait_log("configuration reloaded", 1);
    let status = loop {
        let msg = next(&socket);
        if msg != "STATUS=Starting plugins\n" {
            break msg;
        }
    };
    assert_eq!(
        status, "STATUS=waiting for the initial dump of drbdsetup events2\n",
        "the reload says what the start waits for, no RELOADING=1 or READY=1"
    );
    setup.write("go", "");
    let ready = next_state(&socket);
    assert!(
        ready.starts_with("READY=1\nSTATUS=Running: 1 resources, 1 plugins"),
        "{ready}"
    );
    daemon.signal(libc::SIGTERM);
    let last = next_state(&socket);
    assert!(last.starts_with("STOPPING=1\n"), "one READY=1 only: {last}");
    assert!(daemon.wait_exit().success());
}

/// The warning about an unusable NOTIFY_SOCKET was logged before logging was set up, and so
/// went nowhere.
#[test]
fn an_unusable_notify_socket_is_warned_about_in_the_log() {
    let setup = Setup::new();
    let config = setup.config("");
    let value = format!("/{}", "x".repeat(200));
    let mut cmd = setup.command(&config);
    cmd.env("NOTIFY_SOCKET", &value);
    let mut daemon = setup.start_with(cmd);
    daemon.wait_log(&format!("sd_notify: cannot use NOTIFY_SOCKET={value}: "), 1);
    assert!(daemon.stop().success());
}
