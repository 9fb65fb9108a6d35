//! Cluster contexts against real OpenSSH: three sshd on loopback ports with host and client
//! keys generated for the test, each node reading r0 from the simulator (beta Primary).
//! `status` shows all three nodes grouped; a stopped sshd is that node's failure while the
//! others are shown.
mod common;
use common::*;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SSHD: &str = "/usr/sbin/sshd";

struct Sshd {
    child: Child,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (package openssh-client)")
        .success();
    assert!(ok);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn banner(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-2.0")
}

fn start_sshd(root: &Path, name: &str) -> Sshd {
    assert!(
        Path::new(SSHD).exists(),
        "{SSHD} missing: install openssh-server"
    );
    std::fs::create_dir_all("/run/sshd").unwrap();
    let port = free_port();
    let config = root.join(format!("sshd_{name}.conf"));
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {r}/host_key\nPidFile {r}/sshd_{name}.pid\n\
             AuthorizedKeysFile {r}/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nPubkeyAuthentication yes\nLogLevel ERROR\n",
            r = root.display()
        ),
    )
    .unwrap();
    let child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sshd = Sshd { child, port };
    assert!(
        wait_for(Duration::from_secs(20), || banner(port)),
        "sshd {name} did not come up"
    );
    sshd
}

struct Cluster {
    bench: Bench,
    sshd: Vec<(String, Sshd)>,
    _sim: Sim,
}

/// The simulator (drbd-sim, built from this workspace next to this binary) serving the
/// example cluster (alpha, beta, gamma; r0), with beta Primary.
fn start_sim(root: &Path) -> Sim {
    let dirs: Vec<PathBuf> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|n| root.join(n).join("sim-bin"))
        .collect();
    let server = serve_example_cluster(
        root,
        &[("alpha", &dirs[0]), ("beta", &dirs[1]), ("gamma", &dirs[2])],
    );
    let beta = root.join("beta/sim-bin/drbdsetup");
    assert!(
        wait_for(Duration::from_secs(20), || Command::new(&beta)
            .args(["primary", "r0"])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()),
        "beta cannot become Primary"
    );
    server
}

/// Three nodes (alpha, beta, gamma), each with its own main config and a prometheus snippet
/// on its own port, reachable over its own sshd.
fn cluster() -> Cluster {
    let bench = Bench::new();
    let root = bench.root().to_path_buf();
    keygen(&root.join("host_key"));
    keygen(&root.join("client_key"));
    std::fs::copy(root.join("client_key.pub"), root.join("authorized_keys")).unwrap();
    let host_pub = std::fs::read_to_string(root.join("host_key.pub")).unwrap();
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let mut known = String::new();
    let mut context = format!(
        "ssh-options = [\"-F\", \"/dev/null\", \"-i\", \"{r}/client_key\", \"-o\", \"UserKnownHostsFile={r}/known_hosts\", \"-o\", \"StrictHostKeyChecking=yes\", \"-o\", \"ConnectTimeout=10\"]\ntimeout = 60\n",
        r = root.display()
    );
    let sim = start_sim(&root);
    let mut sshd = Vec::new();
    for (i, name) in ["alpha", "beta", "gamma"].iter().enumerate() {
        let node_dir = root.join(name);
        std::fs::create_dir_all(node_dir.join("snippets")).unwrap();
        std::fs::write(
            node_dir.join("main.toml"),
            format!("snippets = \"{}\"\n", node_dir.join("snippets").display()),
        )
        .unwrap();
        std::fs::write(
            node_dir.join("snippets/prom.toml"),
            format!("[[prometheus]]\naddress = \"127.0.0.1:{}\"\n", 9100 + i),
        )
        .unwrap();
        std::fs::write(
            node_dir.join("snippets/r0.toml"),
            "[[promoter]]\n[promoter.resources.r0]\nstart = [\"app.service\"]\n",
        )
        .unwrap();
        let server = start_sshd(&root, name);
        known.push_str(&format!("[127.0.0.1]:{} {}", server.port, host_pub));
        context.push_str(&format!(
            "[nodes.{name}]\nhostname = \"127.0.0.1\"\nport = {}\nuser = \"{user}\"\ncommand = \"env PATH={shims}:{bin}:/usr/bin:/bin BENCH={r} DRBD_REACTORCTL_INIT=systemd {BIN} -c {main}\"\n",
            server.port,
            bin = root.join("bin").display(),
            shims = node_dir.join("sim-bin").display(),
            r = root.display(),
            main = node_dir.join("main.toml").display(),
        ));
        sshd.push((name.to_string(), server));
    }
    std::fs::write(root.join("known_hosts"), known).unwrap();
    std::fs::create_dir_all(root.join("xdg/drbd-reactorctl")).unwrap();
    std::fs::write(root.join("xdg/drbd-reactorctl/test.toml"), context).unwrap();
    Cluster {
        bench,
        sshd,
        _sim: sim,
    }
}

fn node_dir(c: &Cluster, name: &str) -> PathBuf {
    c.bench.root().join(name)
}

fn run(c: &Cluster, args: &[&str]) -> std::process::Output {
    // no -c: in cluster mode the local process does not need a config
    c.bench
        .cmd()
        .args(["--context", "test"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn status_over_ssh_shows_all_three_nodes_and_one_stopped_sshd_as_that_nodes_failure() {
    let mut c = cluster();
    let out = run(&c, &["status"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    for (i, name) in ["alpha", "beta", "gamma"].iter().enumerate() {
        let on = if *name == "beta" {
            "this node".to_string()
        } else {
            "node 'beta'".to_string()
        };
        let d = node_dir(&c, name).display().to_string();
        let block = format!(
            "➞ {name} (127.0.0.1):\n{d}/snippets/r0.toml:\nPromoter: Resource r0 currently active on {on}\n\
             ○ drbd-services@r0.target\n○ ├─ drbd-promote@r0.service\n○ └─ app.service\n\n\
             {d}/snippets/prom.toml:\nPrometheus: listening on 127.0.0.1:{}\n\n",
            9100 + i
        );
        assert!(text.contains(&block), "missing {name}: {text}");
    }
    // grouped in node order
    let pos = |n: &str| text.find(&format!("➞ {n} ")).unwrap();
    assert!(pos("alpha") < pos("beta") && pos("beta") < pos("gamma"));

    // stop gamma's sshd
    let (_, gamma) = c.sshd.pop().unwrap();
    drop(gamma);
    let out = run(&c, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("Prometheus: listening on 127.0.0.1:9100"),
        "{text}"
    );
    assert!(
        text.contains("Prometheus: listening on 127.0.0.1:9101"),
        "{text}"
    );
    let gamma_part = &text[text.find("➞ gamma").expect("gamma is reported")..];
    assert!(gamma_part.contains("ERROR: node 'gamma'"), "{text}");
    assert!(
        stderr(&out).contains("Connection refused"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn status_json_over_ssh_is_one_object_per_node_with_the_failure_in_place() {
    let mut c = cluster();
    let (_, beta) = c.sshd.remove(1);
    drop(beta);
    let out = run(&c, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["alpha"]["prometheus"][0]["address"], "127.0.0.1:9100");
    assert_eq!(json["alpha"]["promoter"][0]["primary_on"], "beta");
    assert_eq!(json["gamma"]["prometheus"][0]["address"], "127.0.0.1:9102");
    assert!(
        json["beta"]["error"].as_str().unwrap().contains("failed"),
        "{json}"
    );
}

#[test]
fn nodes_option_limits_the_fan_out_and_disable_runs_on_each_selected_node() {
    let c = cluster();
    let out = run(&c, &["--nodes", "alpha,gamma", "disable", "prom", "r0"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(node_dir(&c, "alpha")
        .join("snippets/prom.toml.disabled")
        .exists());
    assert!(
        node_dir(&c, "beta").join("snippets/prom.toml").exists(),
        "beta was not selected"
    );
    assert!(node_dir(&c, "gamma")
        .join("snippets/prom.toml.disabled")
        .exists());
    assert!(!stdout(&out).contains("➞ beta"));
    // each node ran its own reload step
    assert_eq!(
        c.bench
            .systemctl_log()
            .iter()
            .filter(|l| l.starts_with("reload"))
            .count(),
        2
    );
}

#[test]
fn local_context_and_edit_never_fan_out() {
    let c = cluster();
    let node = node_dir(&c, "alpha");
    let out = c
        .bench
        .cmd()
        .args(["--context", "local", "-c"])
        .arg(node.join("main.toml"))
        .arg("ls")
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        format!(
            "{d}/snippets/prom.toml:\n- Prometheus: 127.0.0.1:9100\n{d}/snippets/r0.toml:\n- Promoter: r0; start = [\"app.service\"]\n",
            d = node.display()
        )
    );
    let editor = c.bench.root().join("ed.sh");
    write_exec(&editor, "#!/bin/sh\nprintf '[[debugger]]\\n' > \"$1\"\n");
    let out = c
        .bench
        .cmd()
        .env("EDITOR", &editor)
        .arg("-c")
        .arg(node.join("main.toml"))
        .args(["--context", "test", "edit", "-t", "debugger", "d"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains('➞'));
    assert!(node.join("snippets/d.toml").exists());
}

#[test]
fn an_unknown_context_is_an_error_naming_its_file() {
    let bench = Bench::new();
    let out = bench.ctl(&["--context", "nope", "ls"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("drbd-reactorctl/nope.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_local_node_runs_without_ssh() {
    let bench = Bench::new();
    bench.snippet("d.toml", "[[debugger]]\n");
    let me = String::from_utf8(Command::new("uname").arg("-n").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    // an ssh port nobody listens on: only a local run can succeed
    let closed = free_port();
    std::fs::create_dir_all(bench.root().join("xdg/drbd-reactorctl")).unwrap();
    std::fs::write(
        bench.root().join("xdg/drbd-reactorctl/default.toml"),
        format!("[nodes.\"{me}\"]\nhostname = \"127.0.0.1\"\nport = {closed}\n"),
    )
    .unwrap();
    let out = bench.ctl(&["ls"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "➞ {me} (127.0.0.1):\n{}/d.toml:\n- Debugger\n",
            bench.dir().display()
        )),
        "{}",
        stdout(&out)
    );
}

/// A node's timeout on this very node: its drbd-reactorctl was SIGKILLed between the renames of
/// a restart (a `systemctl stop` longer than the timeout), and the snippet stayed disabled.
#[test]
fn a_local_restart_that_outlives_the_context_timeout_still_enables_its_snippet_again() {
    let bench = Bench::new();
    bench.snippet(
        "p.toml",
        "[[promoter]]\n[promoter.resources.r1]\nstart = [\"a.service\"]\n",
    );
    std::fs::write(bench.root().join("on-stop"), "sleep 3\n").unwrap();
    let me = String::from_utf8(Command::new("uname").arg("-n").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    std::fs::create_dir_all(bench.root().join("xdg/drbd-reactorctl")).unwrap();
    std::fs::write(
        bench.root().join("xdg/drbd-reactorctl/default.toml"),
        format!("timeout = 1\n[nodes.\"{me}\"]\nhostname = \"127.0.0.1\"\n"),
    )
    .unwrap();
    let out = bench.ctl(&["restart", "--with-targets", "p"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("no answer within 1 s"),
        "{}",
        stdout(&out)
    );
    let enabled = bench.dir().join("p.toml");
    assert!(
        wait_for(Duration::from_secs(30), || enabled.is_file()),
        "the snippet stayed disabled: {:?}",
        std::fs::read_dir(bench.dir()).unwrap().collect::<Vec<_>>()
    );
}
