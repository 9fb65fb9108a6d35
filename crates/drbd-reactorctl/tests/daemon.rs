//! The real daemon picks up what ctl changes: `drbd-reactor` (built from this workspace,
//! next to this binary) runs against a stand-in drbdsetup; the stand-in systemctl's
//! `reload` sends SIGHUP to it as the unit's ExecReload does.
mod common;
use common::*;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn wait_log(&self, needle: &str, times: usize) {
        let ok = wait_for(Duration::from_secs(30), || {
            std::fs::read_to_string(&self.log)
                .unwrap_or_default()
                .matches(needle)
                .count()
                >= times
        });
        assert!(
            ok,
            "daemon log never had {times}x {needle:?}:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

fn daemon_binary() -> PathBuf {
    let path = PathBuf::from(BIN).with_file_name("drbd-reactor");
    assert!(
        path.exists(),
        "{} missing: run `cargo build -p drbd-reactor --bin drbd-reactor` first",
        path.display()
    );
    path
}

fn start_daemon(bench: &Bench) -> Daemon {
    let bin = bench.root().join("daemon-bin");
    std::fs::create_dir_all(&bin).unwrap();
    write_exec(
        &bin.join("drbdsetup"),
        "#!/bin/sh\necho 'exists -'\nwhile read -r l; do :; done\n",
    );
    let log = bench.root().join("daemon.log");
    let config = bench.root().join("daemon.toml");
    std::fs::write(
        &config,
        format!(
            "snippets = \"{}\"\n[[log]]\nlevel = \"debug\"\nfile = \"{}\"\n",
            bench.dir().display(),
            log.display()
        ),
    )
    .unwrap();
    let child = Command::new(daemon_binary())
        .arg("-c")
        .arg(&config)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env_remove("NOTIFY_SOCKET")
        .env("DRBD_REACTOR_RUN_DIR", bench.root().join("run"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Daemon { child, log };
    daemon.wait_log("initial state", 1);
    std::fs::write(
        bench.root().join("on-reload"),
        format!("kill -HUP {}\n", daemon.child.id()),
    )
    .unwrap();
    daemon
}

fn metrics_answer(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.starts_with("HTTP/1.") && body.contains(" 200 ")
}

#[test]
fn the_real_daemon_runs_what_enable_edit_and_disable_change() {
    let bench = Bench::new();
    let daemon = start_daemon(&bench);
    let dbg = bench.snippet("dbg.toml.disabled", "[[debugger]]\n");

    let out = bench.ctl(&["enable", "dbg"]);
    assert!(out.status.success(), "{}", stderr(&out));
    daemon.wait_log(
        "configuration reloaded: 0 plugins kept, 0 stopped, 1 started",
        1,
    );
    daemon.wait_log(
        &format!(
            "starting plugin [[debugger]] ({}:1)",
            dbg.with_extension("").display()
        ),
        1,
    );

    // a prometheus snippet written by edit serves metrics once the daemon has reloaded
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let editor = bench.root().join("ed.sh");
    write_exec(
        &editor,
        &format!(
            "#!/bin/sh\nprintf '[[prometheus]]\\naddress = \"127.0.0.1:{port}\"\\n' > \"$1\"\n"
        ),
    );
    let out = bench
        .cmd()
        .env("EDITOR", &editor)
        .arg("-c")
        .arg(bench.main())
        .args(["edit", "-t", "prometheus", "prom"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    daemon.wait_log(
        "configuration reloaded: 1 plugins kept, 0 stopped, 1 started",
        1,
    );
    assert!(
        wait_for(Duration::from_secs(30), || metrics_answer(port)),
        "prometheus endpoint never answered"
    );
    let status = stdout(&bench.ctl(&["status", "--verbose", "prom"]));
    assert!(
        status.contains(&format!("TCP Connect (127.0.0.1:{port}): success")),
        "{status}"
    );

    let out = bench.ctl(&["disable", "dbg", "prom"]);
    assert!(out.status.success(), "{}", stderr(&out));
    daemon.wait_log(
        "configuration reloaded: 0 plugins kept, 2 stopped, 0 started",
        1,
    );
    assert!(
        wait_for(Duration::from_secs(30), || !metrics_answer(port)),
        "prometheus endpoint still answers"
    );
}

/// Without systemd ctl signals only a process that is drbd-reactor: the real daemon is one.
#[test]
fn without_systemd_ctl_recognises_and_signals_the_real_daemon() {
    let bench = Bench::new();
    let daemon = start_daemon(&bench);
    bench.snippet("dbg.toml.disabled", "[[debugger]]\n");
    let out = bench
        .cmd()
        .env("DRBD_REACTORCTL_INIT", "none")
        .arg("-c")
        .arg(bench.main())
        .args(["enable", "dbg"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // no waiting here: ctl returned after the pass
    let generation = std::fs::read_to_string(bench.root().join("run/config-generation")).unwrap();
    assert!(
        generation.contains("generation=2\n") && generation.contains("result=ok\n"),
        "{generation}"
    );
    daemon.wait_log(
        "configuration reloaded: 0 plugins kept, 0 stopped, 1 started",
        1,
    );
    assert!(
        bench.systemctl_log().is_empty(),
        "no systemctl without systemd"
    );
}
